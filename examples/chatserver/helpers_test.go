package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mamlogin/mamlogin/internal/pgtest"
	"github.com/mamlogin/mamlogin/intune"
	"github.com/mamlogin/mamlogin/intune/intunetest"
)

// One PostgreSQL server for the package (started on first use); every test
// gets a database of its own.
// The example's binary, when a test built it, is removed at the end.
func TestMain(m *testing.M) {
	code := pgtest.Main(m)
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

const adminSecret = "test-admin-token"

// engines are the databases the server runs on. PostgreSQL skips where its
// binaries are missing, except in CI.
var engines = []struct {
	name string
	dsn  func(t testing.TB) string
}{
	{"sqlite", func(t testing.TB) string { return filepath.Join(t.TempDir(), "chat.db") }},
	{"postgres", func(t testing.TB) string { return pgtest.Start(t) }},
}

func eachEngine(t *testing.T, f func(t *testing.T, dsn string)) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) { f(t, e.dsn(t)) })
	}
}

// testServer is the example server in this process, on a loopback listener.
type testServer struct {
	*server
	URL  string
	ts   *httptest.Server
	once sync.Once
}

// quietLogger drops the server's log (set CHATSERVER_TEST_LOG=1 to see it).
func quietLogger() *slog.Logger {
	if os.Getenv("CHATSERVER_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.DiscardHandler)
}

// startServer runs the server on dsn with the fake tenant, as main does:
// serve, then Start. prepare, when given, runs before it serves (to set the
// database clock). It is stopped when the test ends, or by stop.
func startServer(t testing.TB, dsn string, o options, prepare func(*server)) *testServer {
	t.Helper()
	o.dsn, o.dev = dsn, true
	if o.provider == "" {
		o.provider = intune.AuthServiceOffice365
	}
	if o.adminToken == "" {
		o.adminToken = adminSecret
	}
	if o.logger == nil {
		o.logger = quietLogger()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s, err := newServer(context.Background(), o, "http://"+ln.Addr().String())
	if err != nil {
		ln.Close()
		require.NoError(t, err)
	}
	if prepare != nil {
		prepare(s)
	}
	ts := httptest.NewUnstartedServer(s)
	ts.Listener.Close()
	ts.Listener = ln
	ts.Start()
	srv := &testServer{server: s, URL: ts.URL, ts: ts}
	t.Cleanup(srv.stop)
	require.NoError(t, s.Start(context.Background()))
	return srv
}

// stop stops serving, then closes the server (as main does).
func (s *testServer) stop() {
	s.once.Do(func() {
		s.ts.Close()
		s.Close()
	})
}

// appSignIn sends exactly what the shipping iOS app sends (mattermost-mobile
// loginByIntune): POST, the three body fields, its headers, no session, no CSRF.
func appSignIn(t testing.TB, base, path, token string, hdr ...string) *http.Response {
	t.Helper()
	return appSignInOn(t, base, path, intunetest.AppDeviceID, token, hdr...)
}

// appSignInOn is appSignIn from the device with the push device id.
func appSignInOn(t testing.TB, base, path, device, token string, hdr ...string) *http.Response {
	t.Helper()
	login := intunetest.NewAppLogin(token)
	login.DeviceID = device
	req := login.Request(context.Background(), base+path)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return send(t, req)
}

// send does req and reads the whole body, so that the connection is free
// and the body can be read after the test's helpers return.
func send(t testing.TB, req *http.Request) *http.Response {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	resp.Body = io.NopCloser(strings.NewReader(string(b)))
	return resp
}

// decode reads a JSON response body.
func decode[T any](t testing.TB, resp *http.Response) T {
	t.Helper()
	var v T
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&v))
	return v
}

// appError reads the app_error body of a failed sign-in.
func errorID(t testing.TB, resp *http.Response) string {
	t.Helper()
	return decode[map[string]any](t, resp)["id"].(string)
}

// do sends a request; bearer and body are optional.
func do(t testing.TB, method, url, bearer, body string) *http.Response {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	require.NoError(t, err)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return send(t, req)
}

// getJSON GETs url and decodes the body, requiring status want.
func getJSON[T any](t testing.TB, url, bearer string, want int) T {
	t.Helper()
	resp := do(t, http.MethodGet, url, bearer, "")
	require.Equal(t, want, resp.StatusCode, "GET %s", url)
	return decode[T](t, resp)
}

// devToken fetches a token of the fake tenant from a server's /dev/token.
func devToken(t testing.TB, base string, q url.Values) string {
	t.Helper()
	resp := do(t, http.MethodGet, base+"/dev/token?"+q.Encode(), "", "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	b, _ := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(b))
}

func clientConfig(t testing.TB, base string) map[string]string {
	return getJSON[map[string]string](t, base+"/api/v4/config/client?format=old", "", http.StatusOK)
}

// eventually polls cond every 10ms until it holds or within passes.
func eventually(t testing.TB, within time.Duration, cond func() bool, msg string, args ...any) time.Duration {
	t.Helper()
	start := time.Now()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Since(start) > within {
			t.Fatalf("not within %v: "+msg, append([]any{within}, args...)...)
		}
		<-tick.C
	}
	return time.Since(start)
}

func cookieMap(resp *http.Response) map[string]*http.Cookie {
	m := map[string]*http.Cookie{}
	for _, c := range resp.Cookies() {
		m[c.Name] = c
	}
	return m
}
