package jwkscache

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/MicahParks/jwkset"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// Bounds on what a key set may hold. Entra serves well under ten keys.
const (
	MaxKeys    = 100
	MaxKIDLen  = 256
	MinRSABits = 2048
	MaxRSABits = 8192 // bounds the cost of one verify
)

// Key is one usable signing key of the tenant's key set.
type Key struct {
	ID     string
	Public *rsa.PublicKey
	// Issuer is Entra's non-standard "issuer" member, possibly with the
	// placeholder {tenantid}; "" when the key has none.
	Issuer string
	// Cloud is Entra's "cloud_instance_name" member; "" when absent.
	Cloud string

	jwk jwkset.JWK // what keyfunc reads; its Key() is Public
}

// Rejected is a key of the document that is not used, and why.
type Rejected struct {
	KID    string // clipped; "" when the key had none
	Reason string
}

// Set is an immutable parsed key set. It is a read-only jwkset.Storage, so
// that keyfunc can resolve kids over it (Diagnose's one-shot source is a Set).
type Set struct {
	byKID    map[string]*Key
	order    []*Key     // document order
	Rejected []Rejected // keys of the document that are not used
}

var _ jwkset.Storage = (*Set)(nil)

// Key returns the key with kid, or nil.
func (s *Set) Key(kid string) *Key {
	if s == nil {
		return nil
	}
	return s.byKID[kid]
}

// Len is the number of usable keys.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.byKID)
}

// KIDs lists the usable key IDs in document order.
func (s *Set) KIDs() []string {
	if s == nil {
		return nil
	}
	out := make([]string, len(s.order))
	for i, k := range s.order {
		out[i] = k.ID
	}
	return out
}

// Parse reads a JWKS document as strictly as a token: one JSON object with
// exactly one "keys" array, member names exactly as RFC 7517 spells them, no
// member twice. A key is used only when it is an RSA key for signatures (use
// "sig" or absent; key_ops, if present, including "verify"; alg RS256 or
// absent) of 2048 to 8192 bits with an odd exponent, with a kid, and, where
// it carries x5c, whose first certificate holds the same public key and whose
// x5t (beside x5c) is that certificate's thumbprint (jwkset checks both). Other
// keys are listed in Set.Rejected. Past MaxKeys usable keys the rest are
// rejected too. A document that is not a key set, or holds no usable key, is
// an error. prev, when not nil, is the set held now: a key that is unchanged
// is carried over as the same *Key, so that a refresh never invalidates a key
// a validation in flight has resolved.
func Parse(body []byte, prev *Set) (*Set, error) {
	keys, err := keysOf(body)
	if err != nil {
		return nil, fmt.Errorf("not a JWKS document: %w", err)
	}
	s := &Set{byKID: map[string]*Key{}}
	for i, v := range keys {
		k, err := parseKey(v)
		switch {
		case err != nil:
			s.Rejected = append(s.Rejected, Rejected{KID: k.ID, Reason: fmt.Sprintf("key %d: %v", i, err)})
		case s.byKID[k.ID] != nil:
			s.Rejected = append(s.Rejected, Rejected{KID: k.ID, Reason: fmt.Sprintf("key %d: kid repeats an earlier key; the first is used", i)})
		case len(s.order) == MaxKeys:
			s.Rejected = append(s.Rejected, Rejected{KID: k.ID, Reason: fmt.Sprintf("key %d: the set already holds %d usable keys, the most kept", i, MaxKeys)})
		default:
			if old := prev.Key(k.ID); old != nil && old.same(k) {
				k = old
			}
			s.byKID[k.ID] = k
			s.order = append(s.order, k)
		}
	}
	if len(s.order) == 0 {
		return s, fmt.Errorf("key set has no usable RSA signing key (%d keys, all rejected)", len(keys))
	}
	return s, nil
}

// keysOf returns the elements of the document's "keys" array. The
// document is one JSON object, no member name twice, valid UTF-8, nothing
// after it; inside a key, a repeated name is left to parseKey, so that it
// rejects that key alone (a bad key is skipped, not the whole set).
func keysOf(body []byte) ([]jsontext.Value, error) {
	d := jsontext.NewDecoder(bytes.NewReader(body), jsontext.AllowDuplicateNames(true))
	if tok, err := d.ReadToken(); err != nil || tok.Kind() != '{' {
		return nil, errors.New("not a JSON object")
	}
	var keys []jsontext.Value
	seen := map[string]bool{}
	for d.PeekKind() != '}' {
		tok, err := d.ReadToken()
		if err != nil {
			return nil, err
		}
		name := tok.String()
		if seen[name] {
			return nil, fmt.Errorf("member %q appears twice", clipKID(name))
		}
		seen[name] = true
		if name != "keys" {
			if err := d.SkipValue(); err != nil {
				return nil, err
			}
			continue
		}
		if d.PeekKind() != '[' {
			return nil, errors.New(`"keys" is not an array`)
		}
		keys = []jsontext.Value{}
		if _, err := d.ReadToken(); err != nil {
			return nil, err
		}
		for d.PeekKind() != ']' {
			v, err := d.ReadValue()
			if err != nil {
				return nil, err
			}
			keys = append(keys, v.Clone())
		}
		if _, err := d.ReadToken(); err != nil {
			return nil, err
		}
	}
	if _, err := d.ReadToken(); err != nil {
		return nil, err
	}
	if _, err := d.ReadToken(); err != io.EOF {
		return nil, errors.New("data after the object")
	}
	if keys == nil {
		return nil, errors.New(`no "keys" array`)
	}
	return keys, nil
}

func (k *Key) same(o *Key) bool {
	return k.ID == o.ID && k.Issuer == o.Issuer && k.Cloud == o.Cloud && k.Public.Equal(o.Public)
}

// member is what one JWK says, read with exact names.
type member struct {
	Kty     string    `json:"kty"`
	Use     string    `json:"use"`
	Alg     string    `json:"alg"`
	Kid     string    `json:"kid"`
	N       string    `json:"n"`
	E       string    `json:"e"`
	X5t     string    `json:"x5t"`
	X5tS256 string    `json:"x5t#S256"`
	Issuer  string    `json:"issuer"`
	Cloud   string    `json:"cloud_instance_name"`
	KeyOps  *[]string `json:"key_ops"` // nil when absent
	X5c     []string  `json:"x5c"`
	// Members this package does not read are ignored (x5u is never followed).
}

// parseKey returns the usable key, or an error and a partial key carrying
// what kid could be read.
func parseKey(v jsontext.Value) (*Key, error) {
	part := &Key{}
	if v.Kind() != '{' {
		return part, errors.New("is not a JWK object")
	}
	var m member
	err := jsonv2.Unmarshal(v, &m)
	part.ID = clipKID(m.Kid)
	if err != nil {
		return part, err
	}
	var keyOps []string
	if m.KeyOps != nil {
		keyOps = *m.KeyOps
	}
	switch {
	case m.Kid == "":
		return part, errors.New("no kid")
	case len(m.Kid) > MaxKIDLen:
		return part, fmt.Errorf("kid longer than %d bytes", MaxKIDLen)
	case m.Kty != "RSA":
		return part, fmt.Errorf("kty %q is not RSA", m.Kty)
	case m.Use != "" && m.Use != "sig":
		return part, fmt.Errorf("use %q is not sig", m.Use)
	case m.KeyOps != nil && !slices.Contains(keyOps, "verify"):
		return part, fmt.Errorf("key_ops %q does not include verify", keyOps)
	case m.Alg != "" && m.Alg != "RS256":
		return part, fmt.Errorf("alg %q is not RS256", m.Alg)
	}
	// jwkset decodes n and e and checks x5c and x5t against them. It is
	// handed only what was read above, never the raw JSON, so that its
	// case-insensitive decoding cannot read a member differently.
	jwk, err := jwkset.NewJWKFromMarshal(jwkset.JWKMarshal{
		KTY: jwkset.KtyRSA, USE: jwkset.USE(m.Use), ALG: jwkset.ALG(m.Alg), KID: m.Kid,
		N: m.N, E: m.E, X5C: m.X5c, X5T: m.X5t, X5TS256: m.X5tS256,
		KEYOPS: keyOpsOf(keyOps),
	}, jwkset.JWKMarshalOptions{}, jwkset.JWKValidateOptions{SkipMetadata: true, SkipKeyOps: true})
	if err != nil {
		return part, err
	}
	pub, ok := jwk.Key().(*rsa.PublicKey)
	if !ok {
		return part, fmt.Errorf("not an RSA public key (%T)", jwk.Key())
	}
	switch bits := pub.N.BitLen(); {
	case bits < MinRSABits || bits > MaxRSABits:
		return part, fmt.Errorf("RSA modulus of %d bits is outside %d to %d: it can never verify here", bits, MinRSABits, MaxRSABits)
	case pub.E < 3 || pub.E%2 == 0:
		return part, fmt.Errorf("RSA exponent %d is not an odd number of at least 3: it can never verify", pub.E)
	}
	return &Key{ID: m.Kid, Public: pub, Issuer: m.Issuer, Cloud: m.Cloud, jwk: jwk}, nil
}

func keyOpsOf(ops []string) []jwkset.KEYOPS {
	out := make([]jwkset.KEYOPS, len(ops))
	for i, o := range ops {
		out[i] = jwkset.KEYOPS(o)
	}
	return out
}

func clipKID(kid string) string {
	if len(kid) > 64 {
		return kid[:64] + "..."
	}
	return kid
}

// The read-only jwkset.Storage of a Set. Keys come from Entra only: writes
// are refused.

// ErrReadOnly is returned by the Storage methods that would change a key set.
var ErrReadOnly = errors.New("jwkscache: the key set is read-only: keys come only from the tenant's key set")

// KeyRead returns the key with kid, or an error wrapping jwkset.ErrKeyNotFound.
func (s *Set) KeyRead(_ context.Context, kid string) (jwkset.JWK, error) {
	if k := s.Key(kid); k != nil {
		return k.jwk, nil
	}
	return jwkset.JWK{}, &MissError{KID: kid, Keys: s.Len()}
}

// KeyReadAll returns the usable keys in document order.
func (s *Set) KeyReadAll(context.Context) ([]jwkset.JWK, error) {
	if s == nil {
		return nil, nil
	}
	out := make([]jwkset.JWK, len(s.order))
	for i, k := range s.order {
		out[i] = k.jwk
	}
	return out, nil
}

func (s *Set) KeyDelete(context.Context, string) (bool, error)   { return false, ErrReadOnly }
func (s *Set) KeyReplaceAll(context.Context, []jwkset.JWK) error { return ErrReadOnly }
func (s *Set) KeyWrite(context.Context, jwkset.JWK) error        { return ErrReadOnly }

// JSON is the usable keys as a JWKS document (public material only).
func (s *Set) JSON(ctx context.Context) (json.RawMessage, error) { return s.JSONPublic(ctx) }
func (s *Set) JSONPublic(ctx context.Context) (json.RawMessage, error) {
	return s.JSONWithOptions(ctx, jwkset.JWKMarshalOptions{}, jwkset.JWKValidateOptions{})
}
func (s *Set) JSONPrivate(ctx context.Context) (json.RawMessage, error) { return s.JSONPublic(ctx) }
func (s *Set) JSONWithOptions(ctx context.Context, mo jwkset.JWKMarshalOptions, vo jwkset.JWKValidateOptions) (json.RawMessage, error) {
	m, err := s.MarshalWithOptions(ctx, mo, vo)
	if err != nil {
		return nil, err
	}
	return json.Marshal(m)
}
func (s *Set) Marshal(ctx context.Context) (jwkset.JWKSMarshal, error) {
	return s.MarshalWithOptions(ctx, jwkset.JWKMarshalOptions{}, jwkset.JWKValidateOptions{})
}

// MarshalWithOptions never includes private material: a key set from Entra
// has none, and this storage will not be the place that leaks one.
func (s *Set) MarshalWithOptions(ctx context.Context, _ jwkset.JWKMarshalOptions, _ jwkset.JWKValidateOptions) (jwkset.JWKSMarshal, error) {
	jwks, _ := s.KeyReadAll(ctx)
	out := jwkset.JWKSMarshal{Keys: make([]jwkset.JWKMarshal, len(jwks))}
	for i, j := range jwks {
		out.Keys[i] = j.Marshal()
	}
	return out, nil
}

// MissError says that a kid is not in the key set, and what was done about
// it. It wraps jwkset.ErrKeyNotFound. Its text is made once, when first
// read.
type MissError struct {
	KID     string
	Keys    int           // usable keys held
	Refresh MissRefresh   // what the miss did to find the key
	Waited  time.Duration // RefreshLimited: the time since the last fetch
	Every   time.Duration // RefreshLimited: the least time between two fetches for unknown kids
	Err     error         // RefreshFailed, RefreshInterrupted: why the refresh did not help

	text string // Error's, made once: keyfunc's wrapping and the caller's reason both read it
}

// MissRefresh is what a miss did to find the key.
type MissRefresh uint8

const (
	RefreshNone        MissRefresh = iota // a key set fetched once (Static): nothing to refresh
	RefreshLimited                        // none: the last fetch was too recent (Waited, Every)
	RefreshInterrupted                    // the request stopped waiting for the refresh (Err: its context)
	RefreshFailed                         // the refresh it triggered or joined failed (Err)
	RefreshFresh                          // the key set was freshly fetched, and still lacks the kid
)

// Error says what the miss found and did. A MissError is made per lookup
// and read by that lookup's caller alone, so its text is kept once made.
func (e *MissError) Error() string {
	if e.text == "" {
		e.text = e.message()
	}
	return e.text
}

func (e *MissError) message() string {
	// One concatenation per case: each is one allocation.
	kid, keys := quotedKID(clipKID(e.KID)), strconv.Itoa(e.Keys)
	switch e.Refresh {
	case RefreshLimited:
		return `kid "` + kid + `" is not in the key set (` + keys + " keys); no refresh: the last was " +
			e.Waited.Round(time.Second).String() + " ago, refreshes for unknown kids are at most one per " + e.Every.String()
	case RefreshInterrupted:
		return `kid "` + kid + `" is not in the key set (` + keys + " keys); waiting for a key-set refresh: " + e.Err.Error()
	case RefreshFailed:
		return `kid "` + kid + `" is not in the key set (` + keys + " keys); the refresh it triggered failed: " + e.Err.Error()
	case RefreshFresh:
		return `kid "` + kid + `" is not in the key set (` + keys + " keys); the key set was freshly fetched"
	}
	return `kid "` + kid + `" is not in the key set (` + keys + " keys)"
}

// quotedKID is the inside of strconv.Quote(kid), without its rune-by-rune
// walk, and without an allocation, for the kid a validator hands over:
// printable ASCII (the validator checks that before the lookup) with no
// quote or backslash needs no escape. A flood of unknown kids formats one
// of these per token.
func quotedKID(kid string) string {
	for i := 0; i < len(kid); i++ {
		if c := kid[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			q := strconv.Quote(kid)
			return q[1 : len(q)-1]
		}
	}
	return kid
}

func (e *MissError) Unwrap() []error { return []error{jwkset.ErrKeyNotFound, e.Err} }
