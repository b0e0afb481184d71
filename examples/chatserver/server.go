package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/mamlogin/mamlogin/intune"
	"github.com/mamlogin/mamlogin/intune/intunetest"
)

// options are the example server's settings (flags in main).
type options struct {
	service  intune.AuthService
	retry401 bool // answer the `retry once` rows with 401, as the shipping app expects
	logger   *slog.Logger
}

// server is a stand-in for a Mattermost-like chat server: users, sessions,
// client config, and the Intune sign-in mounted where the app posts.
type server struct {
	cfg      intune.Config
	tenant   *intunetest.Tenant
	v        *intune.Validator
	store    *intunetest.Store
	sessions *sessions
	mux      *http.ServeMux
}

// newServer starts the embedded fake Entra tenant (loopback only) and wires
// the handler. Close it when done.
func newServer(ctx context.Context, o options) (*server, error) {
	tenant := intunetest.NewTenant()
	cfg := tenant.Config()
	cfg.AuthService = o.service
	cfg.AllowedClientIDs = []string{intunetest.MobileClientID}
	v, err := intune.NewValidator(ctx, cfg, intune.WithKeySetLogger(o.logger))
	if err != nil {
		tenant.Close()
		return nil, err
	}
	s := &server{cfg: cfg, tenant: tenant, v: v, store: intunetest.NewStore(), sessions: newSessions(), mux: http.NewServeMux()}
	// Users that show the failure paths: a bot, a deactivated user, and (for
	// SAML, which never creates users) a provisioned one.
	s.store.Add(o.service, "b07b07b0-7b07-4b07-8b07-b07b07b07b07", intunetest.Profile{Username: "bot", IsBot: true})
	s.store.Add(o.service, "dead0000-0000-4000-8000-000000000000", intunetest.Profile{Username: "gone", DeleteAt: 1})
	if o.service == intune.AuthServiceSAML {
		s.store.Add(o.service, intunetest.UserOID, intunetest.Profile{Username: "alice", Email: intunetest.DefaultUser.Email})
	}

	hopts := []intune.HandlerOption{intune.WithLogger(o.logger)}
	if o.retry401 {
		hopts = append(hopts, intune.WithRetryStatus(http.StatusUnauthorized))
	}
	login := intune.NewLoginHandler(cfg, v, s.store, s.sessions, hopts...)
	s.mux.Handle("/oauth/intune", login)              // where the shipping app posts
	s.mux.Handle("/api/v4/users/login/intune", login) // the designed route
	s.mux.HandleFunc("GET /api/v4/users/me", s.me)
	s.mux.HandleFunc("GET /api/v4/config/client", s.clientConfig)
	s.mux.HandleFunc("GET /dev/token", s.devToken)
	return s, nil
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func (s *server) Close() {
	_ = s.v.Close()
	s.tenant.Close()
}

// clientConfig publishes what the app reads to decide on Intune sign-in.
func (s *server) clientConfig(w http.ResponseWriter, _ *http.Request) {
	cc := s.cfg.ClientConfig()
	cc["Version"] = "10.0.0-intune-example"
	cc["SiteName"] = "Intune example"
	writeJSON(w, http.StatusOK, cc)
}

// me returns the user of the bearer token: the app's next call after sign-in.
func (s *server) me(w http.ResponseWriter, r *http.Request) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		if c, err := r.Cookie("MMAUTHTOKEN"); err == nil {
			tok = c.Value
		}
	}
	u := s.sessions.user(tok)
	if u == nil {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"id": "api.context.session_expired.app_error",
			"message": "Invalid or expired session, please login again.", "status_code": 401})
		return
	}
	writeJSON(w, http.StatusOK, u.Profile)
}

// devToken forges a token of the embedded fake tenant, so that the sign-in
// can be tried with curl. Query: oid, email, expired=1, aud, tid. It exists
// only because this example has no real Entra tenant.
func (s *server) devToken(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var opts []intunetest.TokenOption
	if oid := q.Get("oid"); oid != "" {
		opts = append(opts, intunetest.WithClaim("oid", oid))
	}
	if email := q.Get("email"); email != "" {
		opts = append(opts, intunetest.WithClaim("email", email), intunetest.WithClaim("preferred_username", email))
	}
	if q.Get("expired") != "" {
		opts = append(opts, intunetest.WithExpiry(time.Now().Add(-time.Minute)))
	}
	for _, claim := range []string{"aud", "tid", "scp", "ver"} {
		if v := q.Get(claim); v != "" {
			opts = append(opts, intunetest.WithClaim(claim, v))
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte(s.tenant.Token(opts...) + "\n"))
}

// sessions is a Mattermost-like session issuer: a random token, returned in
// the Token header and the MMAUTHTOKEN cookie, with MMUSERID and MMCSRF.
type sessions struct {
	mu     sync.Mutex
	byTok  map[string]*intune.User
	signIn []intune.SignIn
}

func newSessions() *sessions { return &sessions{byTok: map[string]*intune.User{}} }

func (s *sessions) IssueSession(_ context.Context, w http.ResponseWriter, r *http.Request, in *intune.SignIn) error {
	tok, csrf := randomToken(), randomToken()
	s.mu.Lock()
	s.byTok[tok] = in.User
	s.signIn = append(s.signIn, *in)
	s.mu.Unlock()
	secure := r.TLS != nil
	expires := time.Now().Add(30 * 24 * time.Hour)
	w.Header().Set("Token", tok)
	http.SetCookie(w, &http.Cookie{Name: "MMAUTHTOKEN", Value: tok, Path: "/", Expires: expires, HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode})
	http.SetCookie(w, &http.Cookie{Name: "MMUSERID", Value: in.User.ID, Path: "/", Expires: expires, Secure: secure, SameSite: http.SameSiteLaxMode})
	http.SetCookie(w, &http.Cookie{Name: "MMCSRF", Value: csrf, Path: "/", Expires: expires, Secure: secure, SameSite: http.SameSiteLaxMode})
	return nil
}

func (s *sessions) user(tok string) *intune.User {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byTok[tok]
}

func (s *sessions) signIns() []intune.SignIn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]intune.SignIn(nil), s.signIn...)
}

func randomToken() string {
	var b [20]byte
	_, _ = rand.Read(b[:])
	return strings.ToLower(base64.RawURLEncoding.EncodeToString(b[:]))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
