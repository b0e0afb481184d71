package main

// DEV ONLY: a fake Microsoft Entra tenant, so that the example runs with no
// Entra account and no internet. Delete this file (and run with -dev=false)
// in a server that signs real users in.

import (
	"context"
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
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/mamlogin/mamlogin/examples/chatserver/sqlstore"
	"github.com/mamlogin/mamlogin/intune"
	"github.com/mamlogin/mamlogin/intune/intunetest"
)

// The fake tenant's identifiers: intunetest's, so that logs read the same
// in tests and at the command line.
const (
	devTenantID       = intunetest.TenantID
	devClientID       = intunetest.ClientID       // the server API app (aud)
	devMobileClientID = intunetest.MobileClientID // the shipping app (azp)
)

// devKeySetting is where the tenant's signing key lives in the database.
const devKeySetting = "dev_tenant_signing_key"

// devTenant serves the discovery document and key set of one Entra tenant,
// shaped as Entra serves them, on the chat server's own listener (the
// paths do not clash with Mattermost's: /<tenant>/v2.0/... and
// /<tenant>/discovery/v2.0/keys), and forges its v2 access tokens at
// /dev/token.
//
// Its signing key is made once and kept in the database (sqlstore's
// SettingOnce), so every replica on that database serves the same tenant:
// a token forged by one verifies on all, whichever replica's address the
// shared configuration names as Authority, and a restart changes nothing.
type devTenant struct {
	key  *rsa.PrivateKey
	cert []byte // self-signed certificate of key (DER): the JWK's x5c
	kid  string // SHA-1 thumbprint of cert, base64url: Entra's kid and x5t
}

// storedKey is the key as the settings table keeps it.
type storedKey struct {
	Key  string `json:"key"`  // PKCS #8, PEM
	Cert string `json:"cert"` // DER, standard base64
}

// loadDevTenant reads the tenant's key from the database, making it if this
// is the first server on the database.
func loadDevTenant(ctx context.Context, db *sqlstore.DB) (*devTenant, error) {
	v, err := db.SettingOnce(ctx, devKeySetting, newDevKey)
	if err != nil {
		return nil, err
	}
	var sk storedKey
	if err := json.Unmarshal([]byte(v), &sk); err != nil {
		return nil, fmt.Errorf("dev tenant key: %w", err)
	}
	block, _ := pem.Decode([]byte(sk.Key))
	if block == nil {
		return nil, errors.New("dev tenant key: no PEM block")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("dev tenant key: %w", err)
	}
	priv, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("dev tenant key: %T, not RSA", k)
	}
	cert, err := base64.StdEncoding.DecodeString(sk.Cert)
	if err != nil {
		return nil, fmt.Errorf("dev tenant certificate: %w", err)
	}
	sum := sha1.Sum(cert)
	return &devTenant{key: priv, cert: cert, kid: base64.RawURLEncoding.EncodeToString(sum[:])}, nil
}

// newDevKey makes a 2048-bit RSA key and its self-signed certificate, as
// Entra publishes its keys.
func newDevKey() (string, error) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", err
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		return "", err
	}
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: "accounts.accesscontrol.windows.net"},
		NotBefore: time.Now().Add(-24 * time.Hour), NotAfter: time.Now().Add(10 * 365 * 24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		return "", err
	}
	p8, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(storedKey{Key: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8})),
		Cert: base64.StdEncoding.EncodeToString(der)})
	return string(b), err
}

// routes mounts the tenant and /dev/token; live is the configuration
// sign-ins run on (tokens are forged for it). Loopback clients only.
func (t *devTenant) routes(mux *http.ServeMux, live func() intune.Config) {
	mux.Handle("GET /{tenant}/v2.0/.well-known/openid-configuration", loopbackOnly(t.discovery))
	mux.Handle("GET /{tenant}/discovery/v2.0/keys", loopbackOnly(t.keys))
	mux.Handle("GET /dev/token", loopbackOnly(func(w http.ResponseWriter, r *http.Request) {
		tok, err := t.token(live(), "http://"+r.Host, r.URL.Query(), time.Now())
		if err != nil {
			writeError(w, http.StatusInternalServerError, "dev.token.app_error", err.Error())
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write([]byte(tok + "\n"))
	}))
}

// discovery is the tenant's v2 OpenID configuration. Its URLs are those of
// the address it was asked at: the Authority the asking validator has.
// Another tenant is answered as Entra does, 400 invalid_tenant.
func (t *devTenant) discovery(w http.ResponseWriter, r *http.Request) {
	if !strings.EqualFold(r.PathValue("tenant"), devTenantID) {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid_tenant",
			"error_description": fmt.Sprintf("AADSTS90002: Tenant '%s' not found. (This fake tenant serves %s only.)", r.PathValue("tenant"), devTenantID)})
		return
	}
	base := "http://" + r.Host + "/" + devTenantID
	writeJSON(w, http.StatusOK, map[string]any{
		"token_endpoint":                        base + "/oauth2/v2.0/token",
		"jwks_uri":                              base + "/discovery/v2.0/keys",
		"issuer":                                base + "/v2.0",
		"authorization_endpoint":                base + "/oauth2/v2.0/authorize",
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"cloud_instance_name":                   "microsoftonline.com",
	})
}

// keys is the tenant's key set: one key, as Entra publishes its keys.
func (t *devTenant) keys(w http.ResponseWriter, r *http.Request) {
	if !strings.EqualFold(r.PathValue("tenant"), devTenantID) {
		http.NotFound(w, r)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": []map[string]any{{
		"kty": "RSA", "use": "sig", "kid": t.kid, "x5t": t.kid,
		"n":                   base64.RawURLEncoding.EncodeToString(t.key.N.Bytes()),
		"e":                   base64.RawURLEncoding.EncodeToString(big.NewInt(int64(t.key.E)).Bytes()),
		"x5c":                 []string{base64.StdEncoding.EncodeToString(t.cert)},
		"issuer":              "http://" + r.Host + "/{tenantid}/v2.0",
		"cloud_instance_name": "microsoftonline.com",
	}}})
}

// token forges a v2 access token of the shipping app for cfg, shaped as
// Entra issues them, for intunetest's default user. Its issuer is cfg's
// Authority (self, the address of this server, when cfg has none), so that
// it verifies on every replica that shares cfg. The query changes it: oid,
// email, aud, tid, scp, ver set those claims; expired=1 dates it in the past.
func (t *devTenant) token(cfg intune.Config, self string, q url.Values, now time.Time) (string, error) {
	authority := strings.TrimRight(cfg.Authority, "/")
	if authority == "" {
		authority = self
	}
	aud := cfg.ClientID
	if aud == "" {
		aud = devClientID
	}
	u := intunetest.DefaultUser
	iat := now.Add(-5 * time.Minute)
	c := jwt.MapClaims{
		"aud": strings.ToLower(aud), "iss": authority + "/" + devTenantID + "/v2.0",
		"iat": iat.Unix(), "nbf": iat.Unix(), "exp": iat.Add(75 * time.Minute).Unix(),
		"azp": devMobileClientID, "azpacr": "0", "scp": "login.mattermost", "tid": devTenantID, "ver": "2.0",
		"oid": u.OID, "sub": "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ", "email": u.Email,
		"preferred_username": u.Email, "name": u.Name, "given_name": u.GivenName, "family_name": u.FamilyName,
		"uti": rand.Text()[:22], "sid": "001e6c3a-6b5d-4f2a-9c1b-7d8e9f0a1b2c",
	}
	if q.Get("expired") != "" {
		iat = now.Add(-2 * time.Hour)
		c["iat"], c["nbf"], c["exp"] = iat.Unix(), iat.Unix(), iat.Add(75*time.Minute).Unix()
	}
	if email := q.Get("email"); email != "" {
		c["email"], c["preferred_username"] = email, email
	}
	for _, claim := range []string{"oid", "aud", "tid", "scp", "ver"} {
		if v := q.Get(claim); v != "" {
			c[claim] = v
		}
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
	tok.Header["kid"] = t.kid
	return tok.SignedString(t.key)
}

// loopbackOnly refuses clients that are not on this machine: the fake
// tenant and its token forge must never face a network.
func loopbackOnly(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ap, err := netip.ParseAddrPort(r.RemoteAddr)
		if err != nil || !ap.Addr().Unmap().IsLoopback() {
			writeError(w, http.StatusForbidden, "dev.loopback_only.app_error", "The fake tenant and /dev/token answer loopback clients only.")
			return
		}
		h(w, r)
	})
}

// adopt is the dev-only remedy for a stored configuration whose Authority
// is the fake tenant of an earlier run at another address (the server was
// restarted on another port, or the replica it named is gone): every server
// on this database serves the same tenant with the same key, so this one
// takes the Authority over. Any other failure is returned as it is.
func (s *server) adopt(ctx context.Context, stored configDoc, err error) error {
	if s.tenant == nil || !strings.EqualFold(stored.TenantID, devTenantID) || !isLoopbackHTTP(stored.Authority) ||
		strings.TrimRight(stored.Authority, "/") == s.base {
		return err
	}
	s.log.Warn("intune: the stored Authority is the fake tenant of an earlier run and does not answer; this server serves the same tenant and takes it over",
		"authority", stored.Authority, "now", s.base, "error", err)
	stored.Authority = s.base
	_, cerr := s.live.change(ctx, stored)
	return cerr
}

// isLoopbackHTTP reports whether raw is an http URL on a loopback address.
func isLoopbackHTTP(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" {
		return false
	}
	if u.Hostname() == "localhost" {
		return true
	}
	ip := net.ParseIP(u.Hostname())
	return ip != nil && ip.IsLoopback()
}
