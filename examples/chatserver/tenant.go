package main

// DEV ONLY: a fake Microsoft Entra tenant (intunetest's), so that the
// example runs with no Entra account and no internet. Delete this file (and
// run with -dev=false) in a server that signs real users in.

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

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

// devKeySetting is where the tenant's signing key lives in the database
// (intunetest's Key.PEM).
const devKeySetting = "dev_tenant_key_pem"

// devTenant is intunetest's fake Entra tenant, served on the chat server's
// own listener (the paths do not clash with Mattermost's:
// /<tenant>/v2.0/... and /<tenant>/discovery/v2.0/keys), plus the dev-only
// wiring around it: its key kept in the database, /dev/token, and loopback
// clients only.
//
// Its signing key is made once and kept in the database (sqlstore's
// SettingOnce), so every replica on that database serves the same tenant:
// a token forged by one verifies on all, whichever replica's address the
// shared configuration names as Authority, and a restart changes nothing.
type devTenant struct {
	*intunetest.Tenant
}

// loadDevTenant reads the tenant's key from the database, making it if this
// is the first server on the database; the tenant is served at base.
func loadDevTenant(ctx context.Context, db *sqlstore.DB, base string) (*devTenant, error) {
	v, err := db.SettingOnce(ctx, devKeySetting, func() (string, error) { return string(intunetest.NewKey().PEM()), nil })
	if err != nil {
		return nil, err
	}
	k, err := intunetest.ParseKeyPEM([]byte(v))
	if err != nil {
		return nil, fmt.Errorf("dev tenant key (setting %s): %w", devKeySetting, err)
	}
	return &devTenant{intunetest.NewTenant(intunetest.WithSigningKey(k), intunetest.WithoutServer(base))}, nil
}

// routes mounts the tenant and /dev/token; live is the configuration
// sign-ins run on (tokens are forged for it). Loopback clients only.
func (t *devTenant) routes(mux *http.ServeMux, live func() intune.Config) {
	entra := t.Handler()
	mux.Handle("GET /{tenant}/v2.0/.well-known/openid-configuration", loopbackOnly(entra.ServeHTTP))
	mux.Handle("GET /{tenant}/discovery/v2.0/keys", loopbackOnly(entra.ServeHTTP))
	mux.Handle("GET /dev/token", loopbackOnly(func(w http.ResponseWriter, r *http.Request) {
		tok, err := t.token(live(), "http://"+r.Host, r.URL.Query(), time.Now())
		if err != nil {
			writeError(w, http.StatusBadRequest, "dev.token.bad_query.app_error", err.Error())
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write([]byte(tok + "\n"))
	}))
}

// devTokenClaims are the claims /dev/token's query sets: name=value sets
// the claim (email also sets preferred_username), name= (empty) forges a
// token without it.
var devTokenClaims = map[string][]string{
	"oid": {"oid"}, "email": {"email", "preferred_username"}, "aud": {"aud"}, "tid": {"tid"}, "scp": {"scp"}, "ver": {"ver"},
	"azp": {"azp"}, // the mobile client: intune.MobileClients() are the app's builds
}

// token forges a v2 access token of the shipping app for cfg, shaped as
// Entra issues them (intunetest's), for intunetest's default user. Its
// issuer is cfg's Authority (self, the address of this server, when cfg has
// none), so that it verifies on every replica that shares cfg. The query
// changes it (devTokenClaims; expired=true dates it two hours back,
// expired=false or absent leaves it valid); anything else in it is an error.
func (t *devTenant) token(cfg intune.Config, self string, q url.Values, now time.Time) (string, error) {
	authority := strings.TrimRight(cfg.Authority, "/")
	if authority == "" {
		authority = self
	}
	aud := cfg.ClientID
	if aud == "" {
		aud = devClientID
	}
	opts := []intunetest.TokenOption{intunetest.WithClaim("iss", authority+"/"+devTenantID+"/v2.0"), intunetest.WithClaim("aud", strings.ToLower(aud))}
	for name, vs := range q {
		v := vs[len(vs)-1]
		if name == "expired" {
			expired, err := strconv.ParseBool(v)
			if err != nil {
				return "", fmt.Errorf("expired=%q: want true or false (1 or 0)", v)
			}
			if expired {
				iat := now.Add(-2 * time.Hour)
				opts = append(opts, intunetest.WithClaim("iat", iat.Unix()), intunetest.WithClaim("nbf", iat.Unix()),
					intunetest.WithExpiry(iat.Add(75*time.Minute)))
			}
			continue
		}
		claims, ok := devTokenClaims[name]
		if !ok {
			return "", fmt.Errorf("unknown parameter %q: /dev/token takes oid, email, aud, tid, scp, ver, azp (empty: the claim is left out) and expired", name)
		}
		for _, c := range claims {
			if v == "" {
				opts = append(opts, intunetest.WithoutClaim(c))
			} else {
				opts = append(opts, intunetest.WithClaim(c, v))
			}
		}
	}
	return t.Token(opts...), nil
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
	_, _, cerr := s.live.change(ctx, 0, func(cur configDoc) (configDoc, error) {
		cur.Authority = s.base
		return cur, nil
	})
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
