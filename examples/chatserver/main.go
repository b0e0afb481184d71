package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/mamlogin/mamlogin/examples/chatserver/sqlstore"
	"github.com/mamlogin/mamlogin/intune"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8065", "listen address (port 0: any free port)")
	data := flag.String("data", defaultDataDir(), "data directory: the embedded SQLite database and the admin token (delete it to start over)")
	dsn := flag.String("dsn", "", "database instead of the embedded one: postgres://user@host/db for PostgreSQL (replicas share one), or a SQLite file path")
	adminToken := flag.String("admin-token", "", "the admin token for /api/v4/intune/* (or $CHATSERVER_ADMIN_TOKEN); default: kept in the data directory (SQLite) or generated (PostgreSQL)")
	provider := flag.String("provider", "office365", "enforced provider of the configuration stored on first start: openid, office365 or saml (users are keyed by provider: changing it later makes every user sign in as a new account)")
	authority := flag.String("authority", "", "Authority of the configuration stored on first start (default: this server's own fake tenant)")
	documented := flag.Bool("documented-codes", false, "answer with the documented codes: 400 for invalid_token, token_expired and extract_auth_data, and no text for the silent rows (default: as the server the shipping app knows, 401 and text)")
	lifetime := flag.Duration("session-lifetime", sqlstore.DefaultSessionLifetime, "how long a session lasts")
	dev := flag.Bool("dev", true, "DEV ONLY: serve a fake Entra tenant and /dev/token (loopback clients only); -dev=false for a real tenant")
	verbose := flag.Bool("v", false, "debug logging (every sign-in)")
	pool := sqlstore.DefaultPool
	flag.IntVar(&pool.MaxOpen, "db-max-open", pool.MaxOpen, "database connections open at most (replicas x this must stay under PostgreSQL's max_connections); 0: no limit")
	flag.IntVar(&pool.MaxIdle, "db-max-idle", pool.MaxIdle, "idle database connections kept (at most -db-max-open); fewer means connections opened and closed under load")
	flag.DurationVar(&pool.MaxIdleTime, "db-max-idle-time", pool.MaxIdleTime, "an idle database connection is closed after this")
	flag.DurationVar(&pool.MaxLifetime, "db-max-lifetime", pool.MaxLifetime, "a database connection is renewed after this (picks up a fail-over)")
	auditAge := flag.Duration("audit-max-age", defaultAuditMaxAge, "audit records older than this are deleted (hourly); 0: no age bound")
	auditRecords := flag.Int64("audit-max-records", defaultAuditMaxRecords, "audit records beyond the newest this many are deleted (hourly); 0: no count bound")
	proxies := flag.String("trusted-proxies", "", "reverse proxies (IPs or CIDRs, comma-separated) whose X-Forwarded-Proto and X-Forwarded-For are believed: Secure cookies behind a TLS proxy, the client's address for the admin rate limit; default: none (the headers are ignored)")
	flag.Parse()

	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// Checked as the configuration they go into is: the error names the field.
	if err := (intune.Config{Enable: true, AuthService: intune.AuthService(*provider), Authority: *authority,
		TenantID: devTenantID, ClientID: devClientID}).Check(); err != nil {
		fmt.Fprintf(os.Stderr, "chatserver: -provider or -authority: %v\n", err)
		os.Exit(2)
	}
	trusted, err := parseTrustedProxies(*proxies)
	if err != nil {
		fmt.Fprintf(os.Stderr, "chatserver: -trusted-proxies: %v\n", err)
		os.Exit(2)
	}
	o := options{dsn: *dsn, adminToken: *adminToken, provider: intune.AuthService(*provider), authority: *authority,
		documentedCodes: *documented, sessionLifetime: *lifetime, dev: *dev, logger: log, pool: pool,
		auditMaxAge: *auditAge, auditMaxRecords: *auditRecords, trustedProxies: trusted}
	if o.adminToken == "" {
		o.adminToken = os.Getenv("CHATSERVER_ADMIN_TOKEN")
	}
	if err := run(ctx, *addr, *data, o, os.Stdout); err != nil {
		log.Error("chatserver", "error", err)
		os.Exit(1)
	}
}

// defaultDataDir is where the embedded database lives unless -data says
// otherwise: the user's cache directory, so that a run leaves nothing in
// the source tree.
func defaultDataDir() string {
	if dir, err := os.UserCacheDir(); err == nil {
		return filepath.Join(dir, "mamlogin-chatserver")
	}
	return "chatserver-data"
}

// run resolves the database and the admin token, listens, serves, applies
// the stored configuration, prints how to use the server, and serves until
// ctx ends.
func run(ctx context.Context, addr, dataDir string, o options, stdout io.Writer) error {
	var where, tokenNote string
	var err error
	if o.dsn, where, err = database(o.dsn, dataDir); err != nil {
		return err
	}
	if o.adminToken, tokenNote, err = adminToken(o.adminToken, o.dsn, dataDir); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	base := baseURL(ln.Addr())
	// The first line says where to reach the server (tests read it).
	fmt.Fprintf(stdout, "chatserver: listening on %s\n", base)

	s, err := newServer(ctx, o, base)
	if err != nil {
		ln.Close()
		return err
	}
	defer s.Close()
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	shutdown := func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}
	if err := s.Start(ctx); err != nil {
		shutdown()
		return err
	}
	banner(stdout, s, where, tokenNote)

	select {
	case <-ctx.Done():
		shutdown()
		return nil
	case err := <-served:
		return err
	}
}

// database resolves -dsn: PostgreSQL as given, or a SQLite file, by
// default chatserver.db in the data directory. The data directory is made
// if missing (with SQLite it also keeps the admin token). where says, for
// the banner, where the data lives and how to start over.
func database(dsn, dataDir string) (resolved, where string, err error) {
	if isPostgres(dsn) {
		return dsn, "PostgreSQL " + redact(dsn) + " (to start over: drop and re-create that database)", nil
	}
	if dataDir, err = filepath.Abs(dataDir); err != nil {
		return "", "", err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", "", fmt.Errorf("data directory: %w", err)
	}
	if dsn == "" {
		dsn = filepath.Join(dataDir, "chatserver.db")
		return dsn, fmt.Sprintf("SQLite %s (to start over: stop the server and delete %s)", dsn, dataDir), nil
	}
	file := sqlitePath(dsn)
	return dsn, fmt.Sprintf("SQLite %s (to start over: stop the server and delete %s, %s-wal and %s-shm)", file, file, file, file), nil
}

func isPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// sqlitePath is a SQLite DSN without its query ("chat.db?_pragma=...").
func sqlitePath(dsn string) string {
	p, _, _ := strings.Cut(dsn, "?")
	return p
}

// adminToken resolves the admin token: the one given; else, with SQLite,
// the one kept in the data directory's admin-token (made on first start);
// else (PostgreSQL) a new one for this process. Replicas need the same
// token only if an admin is to use either: give it with -admin-token.
func adminToken(given, dsn, dataDir string) (token, note string, err error) {
	if given != "" {
		return given, "as given (-admin-token or $CHATSERVER_ADMIN_TOKEN)", nil
	}
	if isPostgres(dsn) {
		return rand.Text(), "generated for this process; give replicas one with -admin-token", nil
	}
	path := filepath.Join(dataDir, "admin-token")
	b, err := os.ReadFile(path)
	if err == nil && strings.TrimSpace(string(b)) != "" {
		return strings.TrimSpace(string(b)), "kept in " + path, nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", "", fmt.Errorf("admin token: %w", err)
	}
	token = rand.Text()
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		return "", "", fmt.Errorf("admin token: %w", err)
	}
	return token, "generated and kept in " + path, nil
}

// baseURL is the URL of the listener; an unspecified address (0.0.0.0,
// [::]) is reached on loopback, which is also what the fake tenant's
// Authority needs (plain http is allowed on loopback only).
func baseURL(a net.Addr) string {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return "http://" + a.String()
	}
	ip := ta.IP
	switch {
	case ip.IsUnspecified() && ip.To4() != nil:
		ip = net.IPv4(127, 0, 0, 1)
	case ip.IsUnspecified():
		ip = net.IPv6loopback
	}
	return "http://" + net.JoinHostPort(ip.String(), fmt.Sprint(ta.Port))
}

// redact hides a DSN's password.
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unparsable DSN)"
	}
	return u.Redacted()
}

// banner says where the data lives and how to use the server.
func banner(w io.Writer, s *server, where, tokenNote string) {
	cfg := s.login.Config()
	codes := "401 for the retry rows and text for the silent ones, as the server the shipping app knows (-documented-codes for the documented ones)"
	if s.o.documentedCodes {
		codes = "the documented ones (400 for the retry rows, silent rows without text)"
	}
	base := s.base
	// The doctor checks the allow-list the server enforces only when told it.
	allowed := ""
	for _, id := range cfg.AllowedClientIDs {
		allowed += " --allowed-client " + id
	}
	fmt.Fprintf(w, `  data:         %s
  admin token:  %s (%s)
  intune:       enable=%t provider=%s tenant=%s authority=%s (stored version %d)
  error codes:  %s
`, where, s.o.adminToken, tokenNote, cfg.Enable, cfg.AuthService, cfg.TenantID, cfg.Authority, s.live.applied(), codes)
	if s.tenant != nil {
		fmt.Fprintf(w, `  DEV ONLY:     fake Entra tenant at %[1]s/%[2]s/v2.0, tokens at %[1]s/dev/token
`, base, devTenantID)
	}
	fmt.Fprintf(w, `
  licence:  curl -s '%[1]s/api/v4/license/client?format=old'
  config:   curl -s '%[1]s/api/v4/config/client?format=old'
  sign in:  TOKEN=$(curl -s %[1]s/dev/token)
            SESSION=$(curl -s -D - -o /dev/null %[1]s/oauth/intune -H 'Content-Type: application/json' -H 'X-Requested-With: XMLHttpRequest' -d '{"device_id":"","access_token":"'"$TOKEN"'"}' | awk '$1 == "Token:" {print $2}' | tr -d '\r')
  me:       curl -s %[1]s/api/v4/users/me -H "Authorization: Bearer $SESSION"
  fail:     curl -s %[1]s/oauth/intune -H 'Content-Type: application/json' -H 'X-Requested-With: XMLHttpRequest' -d '{"access_token":"'"$(curl -s '%[1]s/dev/token?expired=1')"'"}'
  admin:    curl -s %[1]s/api/v4/intune/config -H 'Authorization: Bearer %[2]s'
            curl -s -X PATCH %[1]s/api/v4/intune/config -H 'Authorization: Bearer %[2]s' -d '{"Leeway":"30s"}'
            (a change applies at once on every replica; changing AuthService makes every user sign in as a new account)
            curl -s '%[1]s/api/v4/intune/audit?limit=10' -H 'Authorization: Bearer %[2]s'
            curl -s %[1]s/metrics -H 'Authorization: Bearer %[2]s'
  test page: %[1]s/admin/intune/test (user name: anything, password: the admin token)
  doctor:   curl -s %[1]s/dev/token | go run ./cmd/intune-doctor token --authority %[1]s --tenant %[3]s --client %[4]s%[5]s
`, base, s.o.adminToken, devTenantID, devClientID, allowed)
}
