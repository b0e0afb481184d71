package intune

import (
	"encoding/base64"
	"fmt"
	"strings"
	"sync"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/golang-jwt/jwt/v5"
)

// MaxTokenBytes bounds the access token. Real Entra access tokens are 1.5 to
// 4 KB; a user in very many groups gets an overage claim, not a longer token.
const MaxTokenBytes = 16 << 10

// b64 is the only encoding JWS allows: base64url, no padding, and (Strict)
// no stray bits in the last character.
var b64 = base64.RawURLEncoding.Strict()

// jwsByte marks the bytes a compact JWS may contain.
var jwsByte = func() (t [256]bool) {
	for _, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_." {
		t[c] = true
	}
	return t
}()

// token is a compact JWS split and its header decoded; nothing in
// it is verified yet. The embedded jwt.Token is what keyfunc resolves a key
// for: its Header holds only alg and kid, so that no header-supplied key or
// URL (jku, x5u, jwk, x5c) can ever reach key resolution.
type token struct {
	jwt.Token
	signingInput string // header.payload, what the signature covers
	payload64    string
	sig64        string
	alg, kid     string
	ignored      []string // header members that name keys or URLs: never used
	crit         bool     // the header has crit
}

// tokenHeader is a token being filled from its header (readInto).
type tokenHeader token

func (h *tokenHeader) UnmarshalJSONFrom(d *jsontext.Decoder) error {
	return walkObject(d, headerMembers, h.member)
}

// member reads one header member of headerMembers.
func (h *tokenHeader) member(d *jsontext.Decoder, name string) error {
	switch name {
	case "alg":
		return requireString(d, name, &h.alg)
	case "kid":
		return requireString(d, name, &h.kid)
	case "crit":
		h.crit = true
	default: // a header member that names a key or a URL
		h.ignored = append(h.ignored, name)
	}
	return d.SkipValue()
}

// headerMembers are the header members parse reads.
var headerMembers = []string{"alg", "kid", "crit", "jku", "x5u", "jwk", "x5c"}

// parse splits a compact JWS into t and decodes its header (check
// "format"). Every failure is invalid_token. t lives inside the validation's
// one allocation (attempt), not in one of its own.
func (t *token) parse(raw string) *AppError {
	if len(raw) > MaxTokenBytes {
		return errInvalidToken.because("token is %d bytes, over the %d-byte bound", len(raw), MaxTokenBytes)
	}
	if raw == "" {
		return errInvalidToken.because("token is empty")
	}
	// Go's base64 decoders skip \r and \n even in strict mode, which would
	// make "token\n" verify as "token". Every other byte outside base64url
	// and '.' fails the decoding of its part (see badByte).
	if i := lineBreak(raw); i >= 0 {
		return errInvalidToken.because("%v", badByte{raw, i, nil})
	}
	h64, rest, _ := strings.Cut(raw, ".")
	p64, s64, _ := strings.Cut(rest, ".")
	if n := strings.Count(raw, ".") + 1; n != 3 {
		return errInvalidToken.because("token has %d dot-separated parts, a compact JWS has 3 (a JWE has 5; check that the app sends the access token, not an ID token or a bearer header)", n)
	}
	if h64 == "" || p64 == "" || s64 == "" {
		return errInvalidToken.because("token has an empty part (an unsigned token has no signature)")
	}
	hdr, err := b64.DecodeString(h64)
	if err != nil {
		return errInvalidToken.because("header: %v", decodeFault(raw, 0, err))
	}
	t.signingInput, t.payload64, t.sig64 = raw[:len(h64)+1+len(p64)], p64, s64
	t.Raw, t.Method = raw, jwt.SigningMethodRS256
	err = readInto(hdr, (*tokenHeader)(t))
	if err != nil {
		return errInvalidToken.because("header: %v", err)
	}
	if t.crit {
		// RFC 7515 4.1.11: a recipient that does not understand a critical
		// extension must reject the token. This package understands none.
		return errInvalidToken.because("header has crit: critical extensions are not supported")
	}
	return nil
}

// lineBreak is the offset of the first \n or \r in raw, or -1. Two
// IndexByte scans: IndexAny walks a long token byte by byte.
func lineBreak(raw string) int {
	i, j := strings.IndexByte(raw, '\n'), strings.IndexByte(raw, '\r')
	if i < 0 || (j >= 0 && j < i) {
		return j
	}
	return i
}

// badByte explains why a part of raw did not decode: the byte at offset
// at, when it is outside the JWS alphabet, with what it usually means, or
// else the decoder's error (err; nil for a line break).
type badByte struct {
	raw string
	at  int
	err error
}

// decodeFault is the badByte of the part of raw at offset part that failed
// to decode with err: the decoder names the offset of the fault, so no
// byte of a 16 KB token is scanned again.
func decodeFault(raw string, part int, err error) badByte {
	at := -1
	if off, ok := err.(base64.CorruptInputError); ok && part+int(off) < len(raw) {
		at = part + int(off)
	}
	return badByte{raw, at, err}
}

func (b badByte) String() string {
	if b.at >= 0 && !jwsByte[b.raw[b.at]] {
		return fmt.Sprintf("token has a byte 0x%02x at offset %d outside base64url and '.'%s", b.raw[b.at], b.at, formatHint(b.raw))
	}
	return fmt.Sprintf("not base64url: %v", b.err)
}

// formatHint says what a byte outside the JWS alphabet usually means.
func formatHint(raw string) string {
	switch {
	case len(raw) > 7 && strings.EqualFold(raw[:7], "bearer "):
		return ` (the token starts with "Bearer ": the app posts the bare access token in access_token; remove the prefix)`
	case raw[0] == '"':
		return " (the token is quoted: post the bare token)"
	case strings.TrimSpace(raw) != raw:
		return " (whitespace around the token: post the bare token)"
	}
	return " (whitespace, padding, a Bearer prefix or quotes are not part of a token)"
}

// algRS256 is "RS256" boxed once: the header map handed to keyfunc is built
// per token, and boxing a constant costs nothing, a variable an allocation.
var algRS256 any = "RS256"

// keyHeaders recycles the headers handed to keyfunc: it reads them during
// the call only, and a map is the largest allocation of a key lookup.
var keyHeaders = sync.Pool{New: func() any { return make(map[string]any, 2) }}

// resolveKey hands keyfunc a jwt.Header of alg (pinned to RS256 by the
// algorithm step before this runs) and kid only, and returns its answer.
func (t *token) resolveKey(kf jwt.Keyfunc) (any, error) {
	hdr := keyHeaders.Get().(map[string]any)
	hdr["alg"], hdr["kid"] = algRS256, t.kid
	t.Header = hdr
	key, err := kf(&t.Token)
	t.Header = nil
	clear(hdr)
	keyHeaders.Put(hdr)
	return key, err
}
