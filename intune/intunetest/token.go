package intunetest

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"time"
)

// User is the person a forged token is about.
type User struct {
	OID        string // oid, a lower-case GUID
	Email      string // email and preferred_username
	Name       string // name
	GivenName  string // given_name
	FamilyName string // family_name
}

// DefaultUser is who Token signs in by default.
var DefaultUser = User{OID: UserOID, Email: "alice@contoso.onmicrosoft.com", Name: "Alice Wonderland", GivenName: "Alice", FamilyName: "Wonderland"}

// TokenOption changes one thing of a forged token.
type TokenOption func(*forge)

type forge struct {
	header map[string]any
	claims map[string]any
	key    *Key
}

// WithClaim sets claim name to value (any JSON value: a string, a number, an array).
func WithClaim(name string, value any) TokenOption {
	return func(f *forge) { f.claims[name] = value }
}

// WithoutClaim removes claim name.
func WithoutClaim(name string) TokenOption { return func(f *forge) { delete(f.claims, name) } }

// WithHeader sets header member name (alg, kid, jku, crit, ...).
func WithHeader(name string, value any) TokenOption {
	return func(f *forge) { f.header[name] = value }
}

// WithoutHeader removes header member name.
func WithoutHeader(name string) TokenOption { return func(f *forge) { delete(f.header, name) } }

// WithKey signs with k (and names its kid) instead of the tenant's signer.
// k need not be published: that forges a token with an unknown or rogue key.
func WithKey(k *Key) TokenOption {
	return func(f *forge) { f.key = k; f.header["kid"] = k.ID }
}

// WithExpiry sets exp.
func WithExpiry(t time.Time) TokenOption { return WithClaim("exp", t.Unix()) }

// WithUser makes the token about u.
func WithUser(u User) TokenOption {
	return func(f *forge) {
		f.claims["oid"], f.claims["email"], f.claims["name"] = u.OID, u.Email, u.Name
		f.claims["preferred_username"], f.claims["given_name"], f.claims["family_name"] = u.Email, u.GivenName, u.FamilyName
	}
}

// Claims returns the claims Token would carry without options: a delegated
// v2 access token of the shipping app for DefaultUser, dated by t.Now, valid
// for 75 minutes, shaped as Entra issues them.
func (t *Tenant) Claims() map[string]any {
	now := t.Now()
	u := DefaultUser
	return map[string]any{
		"aud":                t.ClientID,
		"iss":                t.Issuer(),
		"iat":                now.Add(-5 * time.Minute).Unix(),
		"nbf":                now.Add(-5 * time.Minute).Unix(),
		"exp":                now.Add(70 * time.Minute).Unix(),
		"aio":                "AWQAm/8YAAAAmBx8x4gqt0T0Bx9ZkJnsQ7R2GDoYpUfh+Zzn5hgIrVBMy0rFs7nHmPZaW3d1xAu/7oE8D3gxC9aODvUOvL2Aam+fMEg==",
		"azp":                t.MobileClientID,
		"azpacr":             "0",
		"email":              u.Email,
		"family_name":        u.FamilyName,
		"given_name":         u.GivenName,
		"name":               u.Name,
		"oid":                u.OID,
		"preferred_username": u.Email,
		"rh":                 "1.AXkAv4j5cvGGr0GRqy180BHbRy5cH2p9m02Pjz8hDEt6nj0VAHR5AA.",
		"scp":                "login.mattermost",
		"sid":                "001e6c3a-6b5d-4f2a-9c1b-7d8e9f0a1b2c",
		"sub":                "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ",
		"tid":                t.TenantID,
		"uti":                "AbCdEfGhIjKlMnOpQrStUv",
		"ver":                "2.0",
	}
}

// Token forges a signed access token: Claims, then opts applied in order.
func (t *Tenant) Token(opts ...TokenOption) string {
	k := t.SigningKey()
	f := &forge{header: map[string]any{"typ": "JWT", "alg": "RS256", "kid": k.ID}, claims: t.Claims(), key: k}
	for _, o := range opts {
		o(f)
	}
	h, err := json.Marshal(f.header)
	if err != nil {
		panic(err)
	}
	c, err := json.Marshal(f.claims)
	if err != nil {
		panic(err)
	}
	return SignRaw(h, c, f.key.Private)
}

// SignRaw signs the exact header and payload bytes given with RS256, for
// tokens no map can express (duplicate members, odd spacing, nesting).
func SignRaw(header, payload []byte, k *rsa.PrivateKey) string {
	in := base64.RawURLEncoding.EncodeToString(header) + "." + base64.RawURLEncoding.EncodeToString(payload)
	sum := sha256.Sum256([]byte(in))
	sig, err := rsa.SignPKCS1v15(nil, k, crypto.SHA256, sum[:])
	if err != nil {
		panic(err)
	}
	return in + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// WithSignatureFrom signs with k's private key but keeps the kid the token
// would have named: a forgery under a known kid.
func WithSignatureFrom(k *Key) TokenOption { return func(f *forge) { f.key = k } }
