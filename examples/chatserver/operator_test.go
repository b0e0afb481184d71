package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mamlogin/mamlogin/examples/chatserver/sqlstore"
	"github.com/mamlogin/mamlogin/internal/clock"
	"github.com/mamlogin/mamlogin/intune"
)

// TestAdminTokenAttemptsAreRateLimited: past a few wrong tokens, an address
// is answered 429 with Retry-After before its guess is compared, until the
// allowance refills; other addresses are not affected; the log names the
// address, never what was sent.
func TestAdminTokenAttemptsAreRateLimited(t *testing.T) {
	logs := &output{} // a log written while the test reads it (process_test.go)
	clk := clock.NewFake(time.Now())
	loopback, err := parseTrustedProxies("127.0.0.1")
	require.NoError(t, err)
	s := startServer(t, sqliteFile(t), options{logger: slog.New(slog.NewTextHandler(logs, nil)), trustedProxies: loopback},
		func(s *server) { s.adminFails.now = clk.Now })
	endpoint := s.URL + "/api/v4/intune/config"
	from := func(addr, bearer string) *http.Response {
		req, err := http.NewRequest(http.MethodGet, endpoint, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+bearer)
		req.Header.Set("X-Forwarded-For", addr) // through the trusted proxy (loopback)
		return send(t, req)
	}
	const guess = "guessed-admin-token-1234"
	for i := range adminFailBurst {
		assert.Equal(t, http.StatusUnauthorized, from("192.0.2.7", guess).StatusCode, "attempt %d", i+1)
	}
	resp := from("192.0.2.7", guess)
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	assert.Equal(t, strconv.Itoa(int(adminFailEvery.Seconds())), resp.Header.Get("Retry-After"))
	assert.Equal(t, "api.context.too_many_requests.app_error", errorID(t, resp))
	assert.Equal(t, http.StatusTooManyRequests, from("192.0.2.7", adminSecret).StatusCode, "blocked before the token is compared")
	assert.Equal(t, http.StatusOK, from("198.51.100.9", adminSecret).StatusCode, "another address")
	assert.Equal(t, http.StatusUnauthorized, from("198.51.100.9", guess).StatusCode)

	// A client's own X-Forwarded-For before the proxy's is not believed.
	assert.Equal(t, http.StatusTooManyRequests, from("203.0.113.1, 192.0.2.7", guess).StatusCode)

	clk.Advance(adminFailEvery)
	assert.Equal(t, http.StatusOK, from("192.0.2.7", adminSecret).StatusCode, "one attempt back")

	log := logs.String()
	assert.NotContains(t, log, guess)
	assert.Contains(t, log, "client=192.0.2.7")
}

// TestSecureCookiesBehindATrustedProxy: X-Forwarded-Proto makes the
// cookies Secure only from a proxy the admin named.
func TestSecureCookiesBehindATrustedProxy(t *testing.T) {
	signIn := func(s *testServer) map[string]*http.Cookie {
		resp := appSignIn(t, s.URL, "/oauth/intune", devToken(t, s.URL, nil), "X-Forwarded-Proto", "https")
		require.Equal(t, http.StatusOK, resp.StatusCode)
		return cookieMap(resp)
	}
	untrusted := startServer(t, sqliteFile(t), options{}, nil)
	for name, c := range signIn(untrusted) {
		assert.False(t, c.Secure, "%s: X-Forwarded-Proto from anyone is not believed", name)
	}
	loopback, err := parseTrustedProxies("127.0.0.0/8, ::1")
	require.NoError(t, err)
	trusted := startServer(t, sqliteFile(t), options{trustedProxies: loopback}, nil)
	for _, name := range []string{sqlstore.CookieToken, sqlstore.CookieUserID, sqlstore.CookieCSRF} {
		assert.True(t, signIn(trusted)[name].Secure, name)
	}
	_, err = parseTrustedProxies("10.0.0.0/8,proxy.internal")
	assert.ErrorContains(t, err, "proxy.internal")
}

// TestAuditRetention: the server prunes the trail to its bounds (age and
// count), on each engine.
func TestAuditRetention(t *testing.T) {
	eachEngine(t, func(t *testing.T, dsn string) {
		s := startServer(t, dsn, options{auditMaxAge: 24 * time.Hour, auditMaxRecords: 3}, nil)
		ctx := t.Context()
		now := time.Now()
		for i, age := range []time.Duration{48 * time.Hour, 4 * time.Hour, 3 * time.Hour, 2 * time.Hour, time.Hour} {
			require.NoError(t, s.db.Audit(ctx, sqlstore.AuditRecord{At: now.Add(-age), RequestID: "old-" + strconv.Itoa(i), Outcome: "success", Status: 200}))
		}
		s.pruneAudit(ctx)
		recs := getJSON[[]sqlstore.AuditRecord](t, s.URL+"/api/v4/intune/audit", adminSecret, http.StatusOK)
		var ids []string
		for _, r := range recs {
			ids = append(ids, r.RequestID)
		}
		assert.Equal(t, []string{"old-4", "old-3", "old-2"}, ids)
	})
}

// TestProviderChangeWarns: changing the enforced provider answers a warning
// (users are keyed by provider); other changes do not.
func TestProviderChangeWarns(t *testing.T) {
	s := startServer(t, sqliteFile(t), options{}, nil)
	resp := patch(t, s.URL, `{"Leeway":"30s"}`, "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Empty(t, decode[map[string]any](t, resp)["warning"])
	resp = patch(t, s.URL, `{"AuthService":"openid"}`, "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	warning, _ := decode[map[string]any](t, resp)["warning"].(string)
	assert.Contains(t, warning, `from "office365" to "openid"`)
	assert.Contains(t, warning, "new account")
}

// TestTestPageSaysTheStatusAnswered: the test page's verdict status is the
// one the server answers (401 for the retry rows by default), not the
// documented 400.
func TestTestPageSaysTheStatusAnswered(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    options
		want int
	}{{"default", options{}, http.StatusUnauthorized}, {"documented codes", options{documentedCodes: true}, http.StatusBadRequest}} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, sqliteFile(t), tc.o, nil)
			expired := devToken(t, s.URL, url.Values{"expired": {"1"}})
			resp := do(t, http.MethodPost, s.URL+"/admin/intune/test", adminSecret, `{"token":"`+expired+`"}`)
			require.Equal(t, http.StatusOK, resp.StatusCode)
			var res struct {
				Verdict       string `json:"verdict"`
				VerdictStatus int    `json:"verdict_status"`
			}
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&res))
			assert.Equal(t, intune.ErrTokenExpired.ID, res.Verdict)
			assert.Equal(t, tc.want, res.VerdictStatus)
			assert.Equal(t, tc.want, appSignIn(t, s.URL, "/oauth/intune", expired).StatusCode, "what sign-in answers")
		})
	}
}

// TestNoSignInAnsweredBeforeTheConfiguration: sign-ins fired at the port
// from the first instant it accepts connections, while Start applies the
// stored configuration, are answered not_ready (503, Retry-After) or signed
// in: never not_configured, which would tell the app Intune is off. The
// client configuration is 503 until then, the ping says UNHEALTHY.
func TestNoSignInAnsweredBeforeTheConfiguration(t *testing.T) {
	eachEngine(t, func(t *testing.T, dsn string) {
		// A first run stores the configuration, as before a restart.
		startServer(t, dsn, options{}, nil).stop()

		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		s, err := newServer(context.Background(), options{dsn: dsn, dev: true, provider: intune.AuthServiceOffice365,
			adminToken: adminSecret, logger: quietLogger()}, "http://"+ln.Addr().String())
		require.NoError(t, err)
		ts := httptest.NewUnstartedServer(s)
		ts.Listener.Close()
		ts.Listener = ln
		ts.Start()
		defer func() { ts.Close(); s.Close() }()
		base := ts.URL
		token := devToken(t, base, nil) // the fake tenant serves before Start: Start fetches its keys

		// Before Start: the routes that need the configuration wait.
		resp := do(t, http.MethodGet, base+"/api/v4/config/client?format=old", "", "")
		assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
		assert.Equal(t, "1", resp.Header.Get("Retry-After"))
		assert.Equal(t, http.StatusServiceUnavailable, do(t, http.MethodGet, base+"/api/v4/system/ping", "", "").StatusCode)

		var answers sync.Map // status and id -> count
		var ok atomic.Bool
		var wg sync.WaitGroup
		deadline := time.Now().Add(20 * time.Second)
		for range 4 {
			wg.Go(func() {
				for !ok.Load() && time.Now().Before(deadline) {
					r := appSignIn(t, base, "/oauth/intune", token)
					id := ""
					if r.StatusCode != http.StatusOK {
						id = errorID(t, r)
						if r.StatusCode == http.StatusServiceUnavailable {
							assert.Equal(t, "1", r.Header.Get("Retry-After"))
						}
					} else {
						ok.Store(true)
					}
					n, _ := answers.LoadOrStore(strconv.Itoa(r.StatusCode)+" "+id, new(atomic.Int64))
					n.(*atomic.Int64).Add(1)
				}
			})
		}
		// Let sign-ins be answered before the configuration is applied.
		eventually(t, 5*time.Second, func() bool {
			n, found := answers.Load("503 " + intune.ErrNotReady.ID)
			return found && n.(*atomic.Int64).Load() > 0
		}, "a sign-in answered before Start")
		require.NoError(t, s.Start(context.Background()))
		wg.Wait()

		answers.Range(func(k, v any) bool {
			t.Logf("%s: %d", k, v.(*atomic.Int64).Load())
			assert.Contains(t, []string{"503 " + intune.ErrNotReady.ID, "200 "}, k)
			return true
		})
		require.True(t, ok.Load(), "a sign-in succeeds once the configuration is applied")
		assert.Equal(t, "true", clientConfig(t, base)["IntuneMAMEnabled"])
	})
}
