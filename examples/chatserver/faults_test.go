package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mamlogin/mamlogin/examples/chatserver/sqlstore"
	"github.com/mamlogin/mamlogin/internal/pgtest"
	"github.com/mamlogin/mamlogin/intune"
	"github.com/mamlogin/mamlogin/intune/intunetest"
)

// signInFails asserts a sign-in answers the documented 500 with id, and
// leaves the app no credentials.
func signInFails(t *testing.T, base, token, id string) {
	t.Helper()
	resp := appSignIn(t, base, "/oauth/intune", token)
	require.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	assert.Equal(t, id, errorID(t, resp))
	assert.Empty(t, resp.Header.Get("Token"))
	assert.Empty(t, resp.Cookies())
}

// TestSQLiteLocked: another process holds the SQLite write lock (a backup,
// a migration, an admin's sqlite3 shell). Sign-ins that must write answer
// store_failed once the busy timeout passes, and work again once the lock
// is released; sessions are still read meanwhile (WAL).
func TestSQLiteLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chat.db")
	s := startServer(t, path+"?_pragma=busy_timeout(100)", options{}, nil)
	resp := appSignIn(t, s.URL, "/oauth/intune", devToken(t, s.URL, nil))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	session := resp.Header.Get("Token")
	existing := devToken(t, s.URL, nil)
	const newOID = "55555555-2222-4333-8444-555555555555"
	newcomer := devToken(t, s.URL, url.Values{"oid": {newOID}, "email": {"newcomer@contoso.com"}})

	other, err := sqlstore.Open(t.Context(), path)
	require.NoError(t, err)
	defer other.Close()
	lock, err := other.SQL().Conn(t.Context())
	require.NoError(t, err)
	defer lock.Close()
	_, err = lock.ExecContext(t.Context(), `BEGIN IMMEDIATE`)
	require.NoError(t, err)

	signInFails(t, s.URL, existing, intune.ErrStoreFailed.ID) // the attribute sync cannot write
	signInFails(t, s.URL, newcomer, intune.ErrStoreFailed.ID) // nor the new user
	getJSON[map[string]any](t, s.URL+"/api/v4/users/me", session, http.StatusOK)

	_, err = lock.ExecContext(t.Context(), `ROLLBACK`)
	require.NoError(t, err)
	// Recovery, polled: the server's own connections (the sign-ins above
	// gave up after 100 ms; the configuration watcher, the audit trail) may
	// still hold the write lock for a moment on a loaded machine, and the
	// 100 ms busy timeout is short on purpose. A store that stayed broken
	// fails here all the same.
	for _, tok := range []string{existing, newcomer} {
		eventually(t, 10*time.Second, func() bool {
			return appSignIn(t, s.URL, "/oauth/intune", tok).StatusCode == http.StatusOK
		}, "a sign-in succeeds once the lock is gone")
	}
	n, err := s.users.CountUsers(t.Context(), intune.AuthServiceOffice365, newOID)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
}

// TestSessionStoreFails: the sessions table cannot be written. Sign-in
// answers session_failed with no credentials; the user it created stays
// (a user without a session is fine; a session without a user cannot
// exist: sessions reference users). It recovers when the table is back.
func TestSessionStoreFails(t *testing.T) {
	eachEngine(t, func(t *testing.T, dsn string) {
		s := startServer(t, dsn, options{}, nil)
		ctx := t.Context()
		const newOID = "66666666-2222-4333-8444-555555555555"
		exec := func(q string) {
			_, err := s.db.SQL().ExecContext(ctx, q)
			require.NoError(t, err, q)
		}
		exec(`ALTER TABLE sessions RENAME TO sessions_away`)
		signInFails(t, s.URL, devToken(t, s.URL, url.Values{"oid": {newOID}}), intune.ErrSessionFailed.ID)
		n, err := s.users.CountUsers(ctx, intune.AuthServiceOffice365, newOID)
		require.NoError(t, err)
		assert.Equal(t, 1, n, "the user was created before the session failed")
		e := getJSON[map[string]any](t, s.URL+"/api/v4/users/me", "any", http.StatusInternalServerError)
		assert.Equal(t, "app.session.get.app_error", e["id"], "a broken store is not an expired session")

		exec(`ALTER TABLE sessions_away RENAME TO sessions`)
		resp := appSignIn(t, s.URL, "/oauth/intune", devToken(t, s.URL, url.Values{"oid": {newOID}}))
		require.Equal(t, http.StatusOK, resp.StatusCode)
		getJSON[map[string]any](t, s.URL+"/api/v4/users/me", resp.Header.Get("Token"), http.StatusOK)

		var orphans int
		require.NoError(t, s.db.SQL().QueryRowContext(ctx,
			`SELECT COUNT(*) FROM sessions WHERE user_id NOT IN (SELECT id FROM users)`).Scan(&orphans))
		assert.Zero(t, orphans)
	})
}

// TestPostgresDown: the database stops accepting connections and drops the
// ones it has (a failover, a restart). Sign-in answers store_failed, never
// "not found"; once the database is back, sign-in, sessions and the
// configuration watch recover without a restart of the server.
func TestPostgresDown(t *testing.T) {
	dsn := pgtest.Start(t)
	s := startServer(t, dsn, options{}, nil)
	resp := appSignIn(t, s.URL, "/oauth/intune", devToken(t, s.URL, nil))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	session := resp.Header.Get("Token")
	existing := devToken(t, s.URL, nil)
	newcomer := devToken(t, s.URL, url.Values{"oid": {"77777777-2222-4333-8444-555555555555"}, "email": {"newcomer@contoso.com"}})

	u, err := url.Parse(dsn)
	require.NoError(t, err)
	name := u.Path[1:]
	u.Path = "/postgres"
	admin, err := pgx.Connect(t.Context(), u.String())
	require.NoError(t, err)
	t.Cleanup(func() { admin.Close(context.Background()) })
	allow := func(ok bool) {
		_, err := admin.Exec(context.Background(), `ALTER DATABASE `+pgx.Identifier{name}.Sanitize()+` ALLOW_CONNECTIONS `+map[bool]string{true: "true", false: "false"}[ok])
		require.NoError(t, err)
	}
	allow(false)
	t.Cleanup(func() { allow(true) })
	_, err = admin.Exec(t.Context(), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, name)
	require.NoError(t, err)

	signInFails(t, s.URL, existing, intune.ErrStoreFailed.ID)
	signInFails(t, s.URL, newcomer, intune.ErrStoreFailed.ID)
	e := getJSON[map[string]any](t, s.URL+"/api/v4/users/me", session, http.StatusInternalServerError)
	assert.Equal(t, "app.session.get.app_error", e["id"])

	allow(true)
	took := eventually(t, 10*time.Second, func() bool {
		return appSignIn(t, s.URL, "/oauth/intune", existing).StatusCode == http.StatusOK
	}, "sign-in recovers")
	t.Logf("sign-in recovered %v after the database came back", took.Round(time.Millisecond))
	resp = appSignIn(t, s.URL, "/oauth/intune", newcomer)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	// Sessions are read again; the sign-ins on the same device revoked the
	// one from before the outage.
	getJSON[map[string]any](t, s.URL+"/api/v4/users/me", resp.Header.Get("Token"), http.StatusOK)
	getJSON[map[string]any](t, s.URL+"/api/v4/users/me", session, http.StatusUnauthorized)

	// The configuration watch reconnected: a change saved by another
	// replica (here: straight into the database) is applied.
	other, err := sqlstore.Open(t.Context(), dsn)
	require.NoError(t, err)
	defer other.Close()
	doc := docFrom(s.login.Config())
	doc.AuthService = "openid"
	body, err := json.Marshal(doc)
	require.NoError(t, err)
	_, err = other.SaveConfig(t.Context(), body)
	require.NoError(t, err)
	took = eventually(t, 20*time.Second, func() bool {
		return s.login.Config().AuthService == intune.AuthServiceOpenID
	}, "the change saved after the outage is applied")
	t.Logf("configuration change applied %v after it was saved", took.Round(time.Millisecond))
	n, err := s.users.CountUsers(t.Context(), intune.AuthServiceOffice365, intunetest.UserOID)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
}
