// Package intunetest is a fake Microsoft Entra tenant for tests of code that
// uses package intune, in the manner of net/http/httptest: an httptest server
// that serves the tenant's v2 discovery document and key set (shaped as Entra
// serves them: kid = x5t, n, e, x5c, issuer, cloud_instance_name), key
// rotation, and a forger of realistic v2 access tokens with easy overrides.
//
//	tenant := intunetest.NewTenant()
//	defer tenant.Close()
//	v, _ := intune.NewValidator(ctx, tenant.Config())
//	claims, err := v.Validate(ctx, tenant.Token())
//
// A tenant can also be served by a server of yours (WithoutServer and
// Handler), with a key kept across runs (Key.PEM, ParseKeyPEM): a dev server
// that is its own fake authority, as examples/chatserver is.
//
// It never touches the network beyond loopback. Like net/http/httptest it
// panics on what can only be a broken test machine (no randomness for a
// key), so that tests read without error plumbing.
//
// Besides the tenant: Store, an in-memory intune.UserStore, Sessions, a
// recording intune.SessionIssuer, and the shipping app's side of the wire:
// AppLogin, its sign-in request, and DecodeAppError, for the app_error body
// of a failure.
package intunetest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mamlogin/mamlogin/intune"
)

// Identifiers of the default fake tenant. They are fixed so that logs and
// failures read the same from run to run.
const (
	TenantID       = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	ClientID       = "6a1f5c2e-9b7d-4d3e-8f21-0c4b7a9e3d15" // the server API app (aud)
	MobileClientID = "64e9952b-20eb-46dc-92ad-99089ed24903" // the mobile app (azp): the shipping app's Beta client ID
	UserOID        = "9f3b7c1e-2a4d-4e6f-8b0a-1c2d3e4f5a6b"
)

// Key is a signing key of the fake tenant.
type Key struct {
	ID      string          // kid, equal to x5t as at Entra
	Private *rsa.PrivateKey // signs the tokens
	// Issuer and Cloud are published with the key as Entra's "issuer" and
	// "cloud_instance_name"; "" leaves the member out.
	Issuer string // e.g. "https://login.microsoftonline.com/{tenantid}/v2.0"
	Cloud  string // e.g. "microsoftonline.com"
	// OmitIssuer publishes the key with no "issuer" member at all, as in
	// Entra's v1 key sets.
	OmitIssuer bool
	certDER    []byte
}

// NewKey makes a 2048-bit RSA key with a self-signed certificate, its kid
// the certificate's SHA-1 thumbprint, published with Entra's issuer template
// and the public cloud's instance name.
func NewKey() *Key {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return keyFrom(priv)
}

func keyFrom(priv *rsa.PrivateKey) *Key {
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "accounts.accesscontrol.windows.net"},
		NotBefore:    time.Now().Add(-24 * time.Hour),
		NotAfter:     time.Now().Add(5 * 365 * 24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		panic(err)
	}
	return keyWith(priv, der)
}

// keyWith is the key priv with its certificate der, named as Entra names
// its keys: kid = x5t = the certificate's SHA-1 thumbprint.
func keyWith(priv *rsa.PrivateKey, der []byte) *Key {
	sum := sha1.Sum(der)
	return &Key{ID: base64.RawURLEncoding.EncodeToString(sum[:]), Private: priv, Cloud: "microsoftonline.com", certDER: der}
}

// PEM is the key kept across runs: its private key (PKCS #8) and its
// certificate, two PEM blocks. ParseKeyPEM reads it back with the same kid.
// It is a test key's secret: keep it where a test or dev server keeps its
// data, never in a real server.
func (k *Key) PEM() []byte {
	p8, err := x509.MarshalPKCS8PrivateKey(k.Private)
	if err != nil {
		panic(err) // an RSA key always marshals
	}
	return append(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: k.certDER})...)
}

// ParseKeyPEM reads a key written by Key.PEM. It is published with Entra's
// issuer template and the public cloud's instance name, as NewKey's are.
func ParseKeyPEM(b []byte) (*Key, error) {
	var priv *rsa.PrivateKey
	var der []byte
	for {
		var block *pem.Block
		if block, b = pem.Decode(b); block == nil {
			break
		}
		switch block.Type {
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("intunetest: key: %w", err)
			}
			var ok bool
			if priv, ok = k.(*rsa.PrivateKey); !ok {
				return nil, fmt.Errorf("intunetest: key is a %T, not RSA", k)
			}
		case "CERTIFICATE":
			cert, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("intunetest: certificate: %w", err)
			}
			der = cert.Raw
		}
	}
	if priv == nil || der == nil {
		return nil, errors.New("intunetest: want a PRIVATE KEY and a CERTIFICATE PEM block (Key.PEM)")
	}
	return keyWith(priv, der), nil
}

// sharedKey is generated once per process: RSA key generation is the slow
// part of a fake tenant, and tests rarely need distinct default keys.
var sharedKey = sync.OnceValue(NewKey)

// JWK returns the key as Entra publishes it (the tenant adds Entra's issuer
// template when the key has no Issuer of its own).
func (k *Key) JWK() map[string]any {
	m := map[string]any{
		"kty": "RSA", "use": "sig", "kid": k.ID, "x5t": k.ID,
		"n":   base64.RawURLEncoding.EncodeToString(k.Private.N.Bytes()),
		"e":   base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.Private.E)).Bytes()),
		"x5c": []string{base64.StdEncoding.EncodeToString(k.certDER)},
	}
	if k.Issuer != "" {
		m["issuer"] = k.Issuer
	}
	if k.Cloud != "" {
		m["cloud_instance_name"] = k.Cloud
	}
	return m
}

// Tenant is a fake Entra tenant served on loopback.
type Tenant struct {
	TenantID       string // the directory (tenant) ID, tid
	ClientID       string // the server API app, aud
	MobileClientID string // the mobile app, azp
	// Now is the clock tokens are dated by (iat, nbf, exp). Default time.Now.
	Now func() time.Time

	server *httptest.Server // nil WithoutServer
	base   string           // the URL the tenant is served at

	mu        sync.Mutex
	published []*Key
	signer    *Key
	override  http.Handler // replaces the key-set endpoint when set

	discoveryHits, keysHits atomic.Int64
}

// TenantOption configures NewTenant.
type TenantOption func(*Tenant)

// WithIDs sets the tenant, server API app and mobile app IDs.
func WithIDs(tenantID, clientID, mobileClientID string) TenantOption {
	return func(t *Tenant) { t.TenantID, t.ClientID, t.MobileClientID = tenantID, clientID, mobileClientID }
}

// WithSigningKey makes k the tenant's first published and signing key
// (default: a key shared by all tenants of the process).
func WithSigningKey(k *Key) TenantOption { return func(t *Tenant) { t.signer = k } }

// WithNow sets the clock tokens are dated by.
func WithNow(now func() time.Time) TenantOption { return func(t *Tenant) { t.Now = now } }

// WithoutServer makes a tenant that starts no server of its own: serve its
// Handler on yours, reached at base (e.g. "http://127.0.0.1:8065"), which
// URL, Issuer, KeysURL and Config then name.
func WithoutServer(base string) TenantOption {
	return func(t *Tenant) { t.base = strings.TrimRight(base, "/") }
}

// NewTenant starts a fake tenant (on a loopback server of its own unless
// WithoutServer). Close it when done.
func NewTenant(opts ...TenantOption) *Tenant {
	t := &Tenant{TenantID: TenantID, ClientID: ClientID, MobileClientID: MobileClientID, Now: time.Now}
	for _, o := range opts {
		o(t)
	}
	if t.signer == nil {
		t.signer = sharedKey()
	}
	t.published = []*Key{t.signer}
	if t.base == "" {
		t.server = httptest.NewServer(t.Handler())
		t.base = t.server.URL
	}
	return t
}

// Handler serves the tenant's discovery document and key set, at Entra's
// paths (/{tenant}/v2.0/.well-known/openid-configuration and
// /{tenant}/discovery/v2.0/keys), with the URLs of the address each request
// was made at: a tenant behind several addresses (replicas, localhost and
// 127.0.0.1) answers each validator with its own Authority. Another tenant
// is answered as Entra answers it.
func (t *Tenant) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", t.serveDiscovery)
	mux.HandleFunc("GET /{tenant}/discovery/v2.0/keys", t.serveKeys)
	return mux
}

// Close shuts the tenant's own server down (nothing WithoutServer).
func (t *Tenant) Close() {
	if t.server != nil {
		t.server.Close()
	}
}

// URL is the fake authority (use it as Config.Authority).
func (t *Tenant) URL() string { return t.base }

// Issuer is the iss of the tenant's v2 tokens.
func (t *Tenant) Issuer() string { return t.issuerAt(t.base) }

func (t *Tenant) issuerAt(base string) string { return base + "/" + t.TenantID + "/v2.0" }

// KeysURL is the tenant's key-set URL (the discovery document's jwks_uri).
func (t *Tenant) KeysURL() string { return t.keysURLAt(t.base) }

func (t *Tenant) keysURLAt(base string) string {
	return base + "/" + t.TenantID + "/discovery/v2.0/keys"
}

// Config is an enabled OpenID Connect configuration for this tenant.
func (t *Tenant) Config() intune.Config {
	return intune.Config{Enable: true, AuthService: intune.AuthServiceOpenID,
		TenantID: t.TenantID, ClientID: t.ClientID, Authority: t.URL()}
}

// DiscoveryHits counts the discovery documents served.
func (t *Tenant) DiscoveryHits() int64 { return t.discoveryHits.Load() }

// KeysHits counts the key-set requests served (including failing ones).
func (t *Tenant) KeysHits() int64 { return t.keysHits.Load() }

// SigningKey returns the key tokens are signed with.
func (t *Tenant) SigningKey() *Key {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.signer
}

// Publish adds k to the key set without signing with it (Entra publishes new
// keys well before it uses them).
func (t *Tenant) Publish(k *Key) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.published = append(t.published, k)
}

// Rotate publishes a new key and signs with it from now on; the old keys stay
// published. It returns the new key.
func (t *Tenant) Rotate() *Key {
	k := NewKey()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.published = append(t.published, k)
	t.signer = k
	return k
}

// Unpublish removes the key with kid from the key set (tokens signed with it
// go on being forged; a validator must reject them once it has refreshed).
func (t *Tenant) Unpublish(kid string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.published = slices.DeleteFunc(t.published, func(k *Key) bool { return k.ID == kid })
}

// SetKeysHandler replaces the key-set endpoint (to serve errors, garbage,
// slowness); nil restores the real one. Requests are counted either way.
func (t *Tenant) SetKeysHandler(h http.Handler) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.override = h
}

// KeySetJSON is the key-set document the tenant serves now (at URL).
func (t *Tenant) KeySetJSON() []byte { return t.keySetJSON(t.base) }

// keySetJSON is the key set as served at base.
func (t *Tenant) keySetJSON(base string) []byte {
	t.mu.Lock()
	keys := make([]map[string]any, 0, len(t.published))
	for _, k := range t.published {
		j := k.JWK()
		if k.Issuer == "" && !k.OmitIssuer {
			j["issuer"] = base + "/{tenantid}/v2.0"
		}
		keys = append(keys, j)
	}
	t.mu.Unlock()
	b, _ := json.Marshal(map[string]any{"keys": keys})
	return b
}

// requestBase is the URL r was made at: the Authority its client has.
func requestBase(r *http.Request) string {
	if r.TLS != nil {
		return "https://" + r.Host
	}
	return "http://" + r.Host
}

// ours reports whether r names this tenant (Entra reads the GUID in any case).
func (t *Tenant) ours(r *http.Request) bool {
	return strings.EqualFold(r.PathValue("tenant"), t.TenantID)
}

func (t *Tenant) serveDiscovery(w http.ResponseWriter, r *http.Request) {
	t.discoveryHits.Add(1)
	if !t.ours(r) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_tenant",
			"error_description": fmt.Sprintf("AADSTS90002: Tenant '%s' not found. (This fake tenant serves %s only.)", r.PathValue("tenant"), t.TenantID)})
		return
	}
	base := requestBase(r)
	writeJSON(w, map[string]any{
		"token_endpoint":                        base + "/" + t.TenantID + "/oauth2/v2.0/token",
		"jwks_uri":                              t.keysURLAt(base),
		"issuer":                                t.issuerAt(base),
		"authorization_endpoint":                base + "/" + t.TenantID + "/oauth2/v2.0/authorize",
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"tenant_region_scope":                   "EU",
		"cloud_instance_name":                   "microsoftonline.com",
	})
}

func (t *Tenant) serveKeys(w http.ResponseWriter, r *http.Request) {
	t.keysHits.Add(1)
	t.mu.Lock()
	h := t.override
	t.mu.Unlock()
	if h != nil {
		h.ServeHTTP(w, r)
		return
	}
	if !t.ours(r) {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_, _ = w.Write(t.keySetJSON(requestBase(r)))
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}

// Use makes k (published or not) the key tokens are signed with from now on.
// Publish, let the validator refresh, then Use: a rotation with no window in
// which tokens name a key the validator has not seen.
func (t *Tenant) Use(k *Key) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.signer = k
}
