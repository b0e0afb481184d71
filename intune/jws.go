package intune

import (
	"encoding/base64"
	"fmt"
	"strings"
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

// token is a compact JWS split and its header decoded; nothing in it is
// verified yet.
type token struct {
	signingInput string // header.payload, what the signature covers
	payload64    string
	sig64        string
	alg, kid     string
	ignored      []string // header members that name keys or URLs (jku, x5u, jwk, x5c): never used
}

// parseToken splits a compact JWS and decodes its header. Every failure is
// invalid_token (check "format").
func parseToken(raw string) (*token, *AppError) {
	if len(raw) > MaxTokenBytes {
		return nil, ErrInvalidToken.because("token is %d bytes, over the %d-byte bound", len(raw), MaxTokenBytes)
	}
	if raw == "" {
		return nil, ErrInvalidToken.because("token is empty")
	}
	// Go's base64 decoders skip \r and \n even in strict mode, which would
	// make "token\n" verify as "token": allow only the JWS alphabet.
	for i := 0; i < len(raw); i++ {
		if !jwsByte[raw[i]] {
			return nil, ErrInvalidToken.because("token has a byte 0x%02x at offset %d outside base64url and '.' (whitespace, padding, a Bearer prefix or quotes are not part of a token)", raw[i], i)
		}
	}
	if n := strings.Count(raw, ".") + 1; n != 3 {
		return nil, ErrInvalidToken.because("token has %d dot-separated parts, a compact JWS has 3 (a JWE has 5; check that the app sends the access token, not an ID token or a bearer header)", n)
	}
	h64, rest, _ := strings.Cut(raw, ".")
	p64, s64, _ := strings.Cut(rest, ".")
	if h64 == "" || p64 == "" || s64 == "" {
		return nil, ErrInvalidToken.because("token has an empty part (an unsigned token has no signature)")
	}
	hdr, err := b64.DecodeString(h64)
	if err != nil {
		return nil, ErrInvalidToken.because("header is not base64url: %v", err)
	}
	t := &token{signingInput: raw[:len(h64)+1+len(p64)], payload64: p64, sig64: s64}
	var crit bool
	err = eachMember(hdr, func(name string, v []byte) error {
		var err error
		switch name {
		case "alg":
			t.alg, err = unquote(v)
		case "kid":
			t.kid, err = unquote(v)
		case "crit":
			crit = true
		case "jku", "x5u", "jwk", "x5c":
			t.ignored = append(t.ignored, name)
		}
		if err != nil {
			return fmt.Errorf("header %q is not a string", name)
		}
		return nil
	})
	if err != nil {
		return nil, ErrInvalidToken.because("header: %v", err)
	}
	if crit {
		// RFC 7515 4.1.11: a recipient that does not understand a critical
		// extension must reject the token. This package understands none.
		return nil, ErrInvalidToken.because("header has crit: critical extensions are not supported")
	}
	return t, nil
}

// checkAlg pins the algorithm (check "algorithm").
func (t *token) checkAlg() *AppError {
	if t.alg != "RS256" {
		return ErrInvalidToken.because("alg is %q, only RS256 is accepted", t.alg)
	}
	return nil
}

// checkKID bounds the kid before it is looked up, so that an absurd kid never
// reaches the key cache (check "key").
func (t *token) checkKID() *AppError {
	if t.kid == "" {
		return ErrInvalidToken.because("header has no kid")
	}
	if len(t.kid) > 256 {
		return ErrInvalidToken.because("kid is %d bytes long; Entra kids are about 27", len(t.kid))
	}
	for i := 0; i < len(t.kid); i++ {
		if c := t.kid[i]; c < 0x21 || c > 0x7e {
			return ErrInvalidToken.because("kid has a byte 0x%02x outside printable ASCII", c)
		}
	}
	return nil
}
