package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/mamlogin/mamlogin/examples/chatserver/sqlstore"
	"github.com/mamlogin/mamlogin/intune"
	"github.com/mamlogin/mamlogin/intune/intuneprom"
)

// options are the server's settings, resolved from the flags by main.
type options struct {
	dsn        string // postgres://... or the path of a SQLite file
	adminToken string // Authorization: Bearer <adminToken> for /api/v4/intune/*
	// provider and authority make the configuration stored on first start,
	// when the database has none. authority "" means this server's own
	// fake tenant.
	provider  intune.AuthService
	authority string
	// documentedCodes answers as the contract documents (400 for the
	// `retry once` rows, silent rows without text) instead of as the server
	// the shipping app knows (401 and text).
	documentedCodes bool
	sessionLifetime time.Duration // 0: sqlstore.DefaultSessionLifetime
	dev             bool          // serve the fake Entra tenant and /dev/token
	logger          *slog.Logger
	// pool bounds the database connections; zero: sqlstore.DefaultPool.
	pool sqlstore.Pool
	// The audit trail's retention: records older than auditMaxAge, and all
	// but the newest auditMaxRecords, are deleted every auditPruneEvery.
	// Zero: no bound of that kind.
	auditMaxAge     time.Duration
	auditMaxRecords int64
	// trustedProxies are the reverse proxies whose X-Forwarded-Proto and
	// X-Forwarded-For are believed (proxy.go); none by default.
	trustedProxies trustedProxies
}

// server is a Mattermost-like chat server, as far as mobile Intune sign-in
// needs one: users and sessions in SQL, the live Intune configuration shared
// by replicas, the app's client config and licence, an audit trail, and
// (with -dev) a fake Entra tenant.
type server struct {
	o        options
	log      *slog.Logger
	db       *sqlstore.DB
	users    *sqlstore.Users
	sessions *sqlstore.Sessions
	login    *intune.LoginHandler
	live     *liveConfig
	tenant   *devTenant // nil without -dev
	ops      *ops       // metrics and the admin's test page (ops.go)
	mux      *http.ServeMux

	base         string // the URL this server is served at
	diagnosticID string // the client configuration's DiagnosticId (client.go)
	ready        atomic.Bool

	adminFails *failLimiter  // failed admin-token attempts per client address
	auditLog   *rate.Limiter // bounds the records of failed audit writes

	// The audit writer (audit.go): its queue, and its end.
	auditQ               chan sqlstore.AuditRecord
	auditQuit, auditDone chan struct{}
	// Sign-in attempts answered and audit records settled (written or
	// failed), so that Close can wait for the trail to catch up.
	attempts, audited atomic.Int64
	auditFailed       atomic.Int64 // records lost to failed writes

	stop context.CancelFunc // ends the configuration watch
	bg   sync.WaitGroup
}

// newServer opens the database (migrating it) and wires the routes. base
// is the URL the server will be served at (its listener's). Serve it, then
// call Start.
func newServer(ctx context.Context, o options, base string) (*server, error) {
	if o.logger == nil {
		o.logger = slog.Default()
	}
	db, err := sqlstore.Open(ctx, o.dsn)
	if err != nil {
		return nil, err
	}
	db.Logger = o.logger
	if o.pool != (sqlstore.Pool{}) {
		db.SetPool(o.pool)
	}
	s := &server{o: o, base: base, log: o.logger, db: db, users: db.Users(), sessions: db.Sessions(), mux: http.NewServeMux(),
		auditQ: make(chan sqlstore.AuditRecord, auditQueue), auditQuit: make(chan struct{}), auditDone: make(chan struct{}),
		adminFails: newFailLimiter(), auditLog: rate.NewLimiter(auditLogPerSecond, auditLogBurst)}
	if o.sessionLifetime > 0 {
		s.sessions.Lifetime = o.sessionLifetime
	}
	s.sessions.Secure = o.trustedProxies.secure // Secure cookies over TLS, or behind a trusted TLS proxy

	// The metrics see every sign-in and key-set fetch; the audit trail every
	// sign-in. Both receive them on the handler's own goroutine.
	var metrics *intuneprom.Metrics
	hopts := []intune.HandlerOption{
		intune.WithLogger(s.log),
		intune.WithIDAttribute("IdAttribute"),
		intune.WithValidatorOptions(intune.WithKeySetLogger(s.log), intune.WithKeySetEvents(func(e intune.KeySetEvent) { metrics.KeySet(e) })),
		intune.WithEvents(func(e intune.SignInEvent) {
			s.audit(e)
			metrics.SignIn(e)
		}),
	}
	if !o.documentedCodes {
		// As the server the shipping app knows: it retries only on 401, and
		// shows an empty message as "Response with status code N".
		hopts = append(hopts, intune.WithRetryStatus(http.StatusUnauthorized), intune.WithMessages(shippingMessages))
	}
	go s.writeAudit()
	// Not ready (503 not_ready, never not_configured) until Start applies
	// the stored configuration.
	hopts = append(hopts, intune.WithConfigPending())
	s.login = intune.NewLoginHandler(intune.Config{}, nil, s.users, s.sessions, hopts...)
	s.live = &liveConfig{db: db, login: s.login, log: s.log, wake: make(chan struct{}, 1)}
	if s.ops, err = newOps(s); err != nil {
		s.Close()
		return nil, err
	}
	metrics = s.ops.metrics
	if s.diagnosticID, err = loadDiagnosticID(ctx, db); err != nil {
		s.Close()
		return nil, err
	}
	if o.dev {
		if s.tenant, err = loadDevTenant(ctx, db, s.base); err != nil {
			s.Close()
			return nil, err
		}
	}
	s.routes()
	return s, nil
}

// routes is the whole HTTP surface. The sign-in handler is mounted without
// a method so that it answers anything but POST with 405 itself.
func (s *server) routes() {
	login := s.countSignIns(s.login)
	s.mux.Handle("/oauth/intune", login)              // where the shipping app posts
	s.mux.Handle("/api/v4/users/login/intune", login) // the designed route

	s.mux.HandleFunc("GET /api/v4/system/ping", s.ping)
	s.mux.HandleFunc("GET /api/v4/license/client", s.clientLicense)
	s.mux.HandleFunc("GET /api/v4/config/client", s.clientConfig)
	s.mux.HandleFunc("GET /api/v4/users/me", s.me)
	s.mux.HandleFunc("POST /api/v4/users/logout", s.logout)

	s.mux.HandleFunc("GET /api/v4/intune/config", s.admin(s.getConfig))
	s.mux.HandleFunc("PUT /api/v4/intune/config", s.admin(s.putConfig))
	s.mux.HandleFunc("PATCH /api/v4/intune/config", s.admin(s.putConfig))
	s.mux.HandleFunc("GET /api/v4/intune/audit", s.admin(s.getAudit))

	s.ops.routes(s)

	if s.tenant != nil {
		s.tenant.routes(s.mux, s.login.Config)
	}
}

// ServeHTTP answers 503 with Retry-After until Start is done, except what
// must answer meanwhile: the readiness ping (which says 503 itself), the
// sign-in routes (the handler answers not_ready until its configuration is
// applied: the app shows "Sign in is starting up" with its Retry button)
// and the fake tenant, whose keys Start fetches from this very server. Every
// other answer before then would be made without the configuration: a
// client configuration saying Intune is off, an admin reading an empty one.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.ready.Load() && !servesBeforeReady(r.URL.Path, s.tenant != nil) {
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "api.context.server_starting.app_error",
			"The server is starting. Please try again in a moment.")
		return
	}
	s.mux.ServeHTTP(w, r)
}

// servesBeforeReady says which paths answer before Start is done.
func servesBeforeReady(path string, dev bool) bool {
	switch path {
	case "/api/v4/system/ping", "/oauth/intune", "/api/v4/users/login/intune":
		return true
	}
	return dev && !strings.HasPrefix(path, "/api/") && !strings.HasPrefix(path, "/admin/") && path != "/metrics"
}

// Start applies the stored Intune configuration (storing the default one
// on an empty database) and follows its changes until Close. Serve before
// Start: applying a configuration of this server's own fake tenant fetches
// its keys from it.
func (s *server) Start(ctx context.Context) error {
	def := s.defaultConfig()
	if err := s.live.start(ctx, def, s.adopt); err != nil {
		return err
	}
	wctx, stop := context.WithCancel(context.Background())
	s.stop = stop
	s.bg.Go(func() { s.live.watch(wctx) })
	s.bg.Go(func() { s.pruneAuditEvery(wctx, auditPruneEvery) })
	s.ready.Store(true)
	return nil
}

// Close stops following the configuration, waits (a few seconds at most)
// for the audit records of the sign-ins answered, and closes the database.
// Stop serving first.
func (s *server) Close() {
	if s.stop != nil {
		s.stop()
	}
	s.bg.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for s.audited.Load()+int64(s.login.EventsDropped()) < s.attempts.Load() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	_ = s.login.Close()
	close(s.auditQuit)
	<-s.auditDone
	_ = s.db.Close()
}

// countSignIns counts the attempts the sign-in handler answered: each POST
// sends exactly one event before ServeHTTP returns.
func (s *server) countSignIns(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r)
		if r.Method == http.MethodPost {
			s.attempts.Add(1)
		}
	})
}

// ping is Mattermost's health check; it answers 200 once Start is done
// (tests and load balancers poll it).
func (s *server) ping(w http.ResponseWriter, _ *http.Request) {
	if !s.ready.Load() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "UNHEALTHY"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "OK", "database": s.db.Engine(),
		"intune_config_version": s.live.applied()})
}

// shippingMessages gives the catalog's silent rows the text the real
// server sends: the app shows an empty message as "Response with status
// code N".
func shippingMessages(_ *http.Request, id, english string) string {
	if english != "" {
		return ""
	}
	switch id {
	case intune.ErrNotConfigured.ID, intune.ErrProviderNotConfigured.ID:
		return "Microsoft Intune authentication is not configured."
	case intune.ErrNotAvailable.ID:
		return "Microsoft Intune authentication is not available on this server."
	}
	return ""
}

// appError is Mattermost's error body, for the server's own errors (the
// sign-in handler writes its own).
type appError struct {
	ID            string `json:"id"`
	Message       string `json:"message"`
	DetailedError string `json:"detailed_error"`
	RequestID     string `json:"request_id"`
	StatusCode    int    `json:"status_code"`
	// Field names the configuration field at fault (the admin endpoint).
	Field string `json:"field,omitempty"`
}

func writeError(w http.ResponseWriter, status int, id, message string) {
	writeJSON(w, status, appError{ID: id, Message: message, StatusCode: status})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
