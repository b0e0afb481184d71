package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mamlogin/mamlogin/examples/chatserver/sqlstore"
	"github.com/mamlogin/mamlogin/intune"
	"github.com/mamlogin/mamlogin/intune/intunetest"
)

// TestRestartKeepsUsersAndSessions: stop the server and start another on
// the same database (here on another port, as after a redeploy): users,
// sessions, the configuration and the audit trail are still there, and a
// bearer token issued before still works.
func TestRestartKeepsUsersAndSessions(t *testing.T) {
	eachEngine(t, func(t *testing.T, dsn string) {
		first := startServer(t, dsn, options{}, nil)
		resp := appSignIn(t, first.URL, "/oauth/intune", devToken(t, first.URL, nil))
		require.Equal(t, http.StatusOK, resp.StatusCode)
		token := resp.Header.Get("Token")
		userID := decode[map[string]any](t, resp)["id"]
		require.Equal(t, http.StatusOK, do(t, http.MethodPatch, first.URL+"/api/v4/intune/config", adminSecret, `{"Leeway":"10s"}`).StatusCode)
		kid := first.tenant.SigningKey().ID
		diagnosticID := clientConfig(t, first.URL)["DiagnosticId"]
		require.NotEmpty(t, diagnosticID)
		first.stop()

		second := startServer(t, dsn, options{}, nil)
		require.NotEqual(t, first.URL, second.URL)
		assert.Equal(t, kid, second.tenant.SigningKey().ID, "the fake tenant's key is kept in the database")
		assert.Equal(t, diagnosticID, clientConfig(t, second.URL)["DiagnosticId"], "the app knows the server by it")
		me := getJSON[map[string]any](t, second.URL+"/api/v4/users/me", token, http.StatusOK)
		assert.Equal(t, userID, me["id"], "the session issued before the restart")

		cfg := getJSON[configDoc](t, second.URL+"/api/v4/intune/config", adminSecret, http.StatusOK)
		assert.Equal(t, "10s", cfg.Leeway, "the configuration saved before the restart")
		assert.Equal(t, second.URL, cfg.Authority, "the fake tenant of the first run is gone: this one took it over")

		resp = appSignIn(t, second.URL, "/oauth/intune", devToken(t, second.URL, nil))
		require.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, userID, decode[map[string]any](t, resp)["id"], "the same user signs in again")
		n, err := second.users.CountUsers(t.Context(), intune.AuthServiceOffice365, intunetest.UserOID)
		require.NoError(t, err)
		assert.Equal(t, 1, n)

		eventually(t, 10*time.Second, func() bool {
			recs := getJSON[[]sqlstore.AuditRecord](t, second.URL+"/api/v4/intune/audit", adminSecret, http.StatusOK)
			return len(recs) == 2
		}, "the audit records of both runs")
	})
}

// TestEmbeddedDefaults runs the binary as on a fresh clone, with no flags
// but a free port: it makes its SQLite database and admin token in the
// user's cache directory, says where, and a restart on the same address
// keeps everything: the session, the user, and the fake tenant's key (a
// token forged before the restart signs in after it).
func TestEmbeddedDefaults(t *testing.T) {
	bin := binary(t)
	home := t.TempDir()
	env := []string{"XDG_CACHE_HOME=" + home, "HOME=" + home, "CHATSERVER_ADMIN_TOKEN="}
	p := startProcess(t, bin, env, "-addr", "127.0.0.1:0")
	data := filepath.Join(home, "mamlogin-chatserver")
	assert.FileExists(t, filepath.Join(data, "chatserver.db"))
	assert.Contains(t, p.out.String(), "delete "+data, "the banner says how to start over")
	assert.Contains(t, p.out.String(), "--client "+devClientID+" --allowed-client "+intune.MobileClientRelease+" --allowed-client "+intune.MobileClientBeta+"\n",
		"the banner's doctor line checks the allow-list the server enforces")
	tokenFile := filepath.Join(data, "admin-token")
	fi, err := os.Stat(tokenFile)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	admin, err := os.ReadFile(tokenFile)
	require.NoError(t, err)
	getJSON[configDoc](t, p.URL+"/api/v4/intune/config", strings.TrimSpace(string(admin)), http.StatusOK)

	resp := appSignIn(t, p.URL, "/oauth/intune", devToken(t, p.URL, nil))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	session := resp.Header.Get("Token")
	userID := decode[map[string]any](t, resp)["id"]
	later := devToken(t, p.URL, nil)
	p.stop()

	again := startProcess(t, bin, env, "-addr", strings.TrimPrefix(p.URL, "http://"))
	require.Equal(t, p.URL, again.URL)
	me := getJSON[map[string]any](t, again.URL+"/api/v4/users/me", session, http.StatusOK)
	assert.Equal(t, userID, me["id"])
	resp = appSignIn(t, again.URL, "/oauth/intune", later)
	require.Equal(t, http.StatusOK, resp.StatusCode, "a token forged before the restart")
	assert.Equal(t, userID, decode[map[string]any](t, resp)["id"])
	getJSON[configDoc](t, again.URL+"/api/v4/intune/config", strings.TrimSpace(string(admin)), http.StatusOK)
}
