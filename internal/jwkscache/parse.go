package jwkscache

import (
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/MicahParks/jwkset"
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
}

// Rejected is a key of the set that is not used, and why.
type Rejected struct {
	KID    string
	Reason string
}

// Set is an immutable parsed key set.
type Set struct {
	byKID    map[string]*Key
	Rejected []Rejected
}

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

// KIDs lists the usable key IDs (for diagnostics; order not defined).
func (s *Set) KIDs() []string {
	if s == nil {
		return nil
	}
	out := make([]string, 0, len(s.byKID))
	for k := range s.byKID {
		out = append(out, k)
	}
	return out
}

// entraMember are the members read before handing a key to jwkset: the
// filters and Entra's own additions, which jwkset does not model.
type entraMember struct {
	Kty    string `json:"kty"`
	Use    string `json:"use"`
	Alg    string `json:"alg"`
	Kid    string `json:"kid"`
	Issuer string `json:"issuer"`
	Cloud  string `json:"cloud_instance_name"`
}

// Parse reads a JWKS document as Entra serves it. Keys that are not RSA
// signing keys of 2048 to 8192 bits, that lack a kid, whose x5c certificate
// or x5t thumbprint does not match n and e (checked by jwkset), or whose kid
// repeats, are skipped and listed in Set.Rejected. A document that is not a
// key set, or holds no usable key, is an error: the caller keeps its last
// good set.
func Parse(body []byte) (*Set, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("not a JWKS document: %w", err)
	}
	if doc.Keys == nil {
		return nil, errors.New(`not a JWKS document: no "keys" array`)
	}
	if len(doc.Keys) > MaxKeys {
		return nil, fmt.Errorf("key set has %d keys, more than the %d allowed", len(doc.Keys), MaxKeys)
	}
	s := &Set{byKID: make(map[string]*Key, len(doc.Keys))}
	for i, raw := range doc.Keys {
		k, err := parseKey(raw)
		if err != nil {
			kid := ""
			if k != nil {
				kid = k.ID
			}
			s.Rejected = append(s.Rejected, Rejected{KID: kid, Reason: fmt.Sprintf("key %d: %v", i, err)})
			continue
		}
		if _, dup := s.byKID[k.ID]; dup {
			s.Rejected = append(s.Rejected, Rejected{KID: k.ID, Reason: fmt.Sprintf("key %d: kid repeats an earlier key; the first is used", i)})
			continue
		}
		s.byKID[k.ID] = k
	}
	if len(s.byKID) == 0 {
		return s, fmt.Errorf("key set has no usable RSA signing key (%d rejected)", len(s.Rejected))
	}
	return s, nil
}

// parseKey returns the key, or an error with a partial key carrying the kid.
func parseKey(raw json.RawMessage) (*Key, error) {
	var m entraMember
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("not a JWK object: %w", err)
	}
	part := &Key{ID: m.Kid}
	switch {
	case m.Kid == "":
		return part, errors.New("no kid")
	case len(m.Kid) > MaxKIDLen:
		part.ID = m.Kid[:32] + "..."
		return part, fmt.Errorf("kid longer than %d bytes", MaxKIDLen)
	case m.Kty != "RSA":
		return part, fmt.Errorf("kty %q is not RSA", m.Kty)
	case m.Use != "" && m.Use != "sig":
		return part, fmt.Errorf("use %q is not sig", m.Use)
	case m.Alg != "" && m.Alg != "RS256":
		return part, fmt.Errorf("alg %q is not RS256", m.Alg)
	}
	// jwkset decodes n and e and cross-checks x5c and x5t against them.
	jwk, err := jwkset.NewJWKFromRawJSON(raw, jwkset.JWKMarshalOptions{}, jwkset.JWKValidateOptions{SkipMetadata: true})
	if err != nil {
		return part, err
	}
	pub, ok := jwk.Key().(*rsa.PublicKey)
	if !ok {
		return part, fmt.Errorf("not an RSA public key (%T)", jwk.Key())
	}
	if bits := pub.N.BitLen(); bits < MinRSABits || bits > MaxRSABits {
		return part, fmt.Errorf("RSA modulus of %d bits is outside %d to %d", bits, MinRSABits, MaxRSABits)
	}
	part.Public, part.Issuer, part.Cloud = pub, m.Issuer, m.Cloud
	return part, nil
}
