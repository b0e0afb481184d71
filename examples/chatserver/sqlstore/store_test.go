package sqlstore_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/mamlogin/mamlogin/examples/chatserver/sqlstore"
	"github.com/mamlogin/mamlogin/internal/clock"
	"github.com/mamlogin/mamlogin/internal/pgtest"
	"github.com/mamlogin/mamlogin/intune"
)

// One PostgreSQL server for the package; every test gets its own database.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// engines are the databases every test runs against. PostgreSQL skips where
// its binaries are missing, except in CI.
var engines = []struct {
	name string
	dsn  func(t *testing.T) string
}{
	{sqlstore.EngineSQLite, func(t *testing.T) string { return filepath.Join(t.TempDir(), "chat.db") }},
	{sqlstore.EnginePostgres, func(t *testing.T) string { return pgtest.Start(t) }},
}

// eachEngine runs f once per engine, with the DSN of a new, empty database.
func eachEngine(t *testing.T, f func(t *testing.T, dsn string)) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) { f(t, e.dsn(t)) })
	}
}

var epoch = time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)

// open opens dsn, closed when the test ends, with its clock at epoch.
func open(t *testing.T, dsn string) (*sqlstore.DB, *clock.Fake) {
	t.Helper()
	db, err := sqlstore.Open(t.Context(), dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	c := clock.NewFake(epoch) // a settable time for DB.Now
	db.Now = c.Now
	return db, c
}

const (
	oid      = "00000000-0000-4000-8000-0000000a11ce"
	otherOID = "00000000-0000-4000-8000-000000000b0b"
)

func aliceClaims() *intune.Claims {
	return &intune.Claims{ObjectID: oid, PreferredUsername: "Alice@Contoso.com", Email: "Alice@Contoso.com",
		GivenName: "Alice", FamilyName: "Liddell"}
}

func profile(t *testing.T, u *intune.User) sqlstore.Profile {
	t.Helper()
	p, ok := u.Profile.(sqlstore.Profile)
	require.True(t, ok, "Profile is %T", u.Profile)
	return p
}

// requireUniqueViolation asserts err is the driver's own unique-violation
// error, reachable through the store's wrapping.
func requireUniqueViolation(t *testing.T, engine string, err error) {
	t.Helper()
	require.Error(t, err)
	require.NotErrorIs(t, err, intune.ErrUserExists, "the raw driver error is returned, not mapped")
	switch engine {
	case sqlstore.EnginePostgres:
		var pgErr *pgconn.PgError
		require.ErrorAs(t, err, &pgErr)
		require.Equal(t, "23505", pgErr.Code, "unique_violation: %v", pgErr)
	case sqlstore.EngineSQLite:
		var sqErr *sqlite.Error
		require.ErrorAs(t, err, &sqErr)
		require.Equal(t, sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqErr.Code(), "%v", sqErr)
	default:
		t.Fatalf("engine %q", engine)
	}
}

func TestMigrations(t *testing.T) {
	eachEngine(t, func(t *testing.T, dsn string) {
		// Concurrent first opens, as replicas starting together: all migrate
		// or find the schema migrated, none fails.
		const n = 4
		errs := make([]error, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				<-start
				db, err := sqlstore.Open(t.Context(), dsn)
				if err == nil {
					err = db.Close()
				}
				errs[i] = err
			})
		}
		close(start)
		wg.Wait()
		for _, err := range errs {
			require.NoError(t, err)
		}

		// And again, one after another: idempotent.
		for range 2 {
			db, _ := open(t, dsn)
			v, err := db.SchemaVersion(t.Context())
			require.NoError(t, err)
			require.EqualValues(t, 5, v)
			var rows int
			require.NoError(t, db.SQL().QueryRowContext(t.Context(), `SELECT COUNT(*) FROM schema_migrations`).Scan(&rows))
			require.Equal(t, 5, rows, "each version recorded once")
			require.NoError(t, db.Close())
		}
	})
}

func TestEngine(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			db, _ := open(t, e.dsn(t))
			require.Equal(t, e.name, db.Engine())
		})
	}
}

func TestOpenErrors(t *testing.T) {
	for _, dsn := range []string{
		":memory:",
		filepath.Join(t.TempDir(), "no", "such", "dir", "chat.db"),
		"postgres://postgres@127.0.0.1:1/nodb?sslmode=disable&connect_timeout=2",
	} {
		db, err := sqlstore.Open(t.Context(), dsn)
		require.Error(t, err, dsn)
		require.Nil(t, db)
	}
}

func TestJustInTimeUser(t *testing.T) {
	eachEngine(t, func(t *testing.T, dsn string) {
		ctx := t.Context()
		db, clk := open(t, dsn)
		users := db.Users()

		_, err := users.UserByObjectID(ctx, intune.AuthServiceOpenID, oid)
		require.ErrorIs(t, err, intune.ErrUserNotFound)

		created, err := users.CreateUser(ctx, intune.AuthServiceOpenID, aliceClaims())
		require.NoError(t, err)
		require.Len(t, created.ID, 26)
		require.False(t, created.IsBot)
		require.False(t, created.Deactivated)
		want := sqlstore.Profile{
			ID: created.ID, Username: "alice", Email: "alice@contoso.com", FirstName: "Alice", LastName: "Liddell",
			AuthService: "openid", AuthData: oid, CreateAt: epoch.UnixMilli(), UpdateAt: epoch.UnixMilli(),
		}
		require.Equal(t, want, profile(t, created))

		got, err := users.UserByObjectID(ctx, intune.AuthServiceOpenID, oid)
		require.NoError(t, err)
		require.Equal(t, created, got)
		byID, err := users.UserByID(ctx, created.ID)
		require.NoError(t, err)
		require.Equal(t, created, byID)

		// The JSON the sign-in response carries.
		js, err := json.Marshal(got.Profile)
		require.NoError(t, err)
		require.JSONEq(t, `{"id":"`+created.ID+`","username":"alice","email":"alice@contoso.com",
			"first_name":"Alice","last_name":"Liddell","auth_service":"openid","auth_data":"`+oid+`",
			"is_bot":false,"delete_at":0,"create_at":1748768400000,"update_at":1748768400000}`, string(js))

		// The lookup is exact: another service, another oid, a case change
		// or no oid find nothing.
		for _, tc := range []struct {
			service intune.AuthService
			oid     string
		}{
			{intune.AuthServiceOffice365, oid},
			{intune.AuthServiceSAML, oid},
			{intune.AuthServiceOpenID, otherOID},
			{intune.AuthServiceOpenID, "00000000-0000-4000-8000-0000000A11CE"},
			{intune.AuthServiceOpenID, ""},
		} {
			_, err := users.UserByObjectID(ctx, tc.service, tc.oid)
			require.ErrorIs(t, err, intune.ErrUserNotFound, "%s/%s", tc.service, tc.oid)
		}
		n, err := users.CountUsers(ctx, intune.AuthServiceOpenID, oid)
		require.NoError(t, err)
		require.Equal(t, 1, n)

		// The same oid under another service is another user (of another
		// address: one account per address).
		o365Claims := aliceClaims()
		o365Claims.Email = "alice.o365@contoso.com"
		o365, err := users.CreateUser(ctx, intune.AuthServiceOffice365, o365Claims)
		require.NoError(t, err)
		require.NotEqual(t, created.ID, o365.ID)
		require.Equal(t, "alice-2", profile(t, o365).Username, "usernames are unique")

		// Sync: present claims overwrite, absent ones keep.
		clk.Advance(time.Hour)
		synced, err := users.SyncUser(ctx, created, &intune.Claims{ObjectID: oid, Email: "a.liddell@contoso.com", FamilyName: "Pleasance"})
		require.NoError(t, err)
		p := profile(t, synced)
		require.Equal(t, "a.liddell@contoso.com", p.Email)
		require.Equal(t, "Alice", p.FirstName)
		require.Equal(t, "Pleasance", p.LastName)
		require.Equal(t, "alice", p.Username)
		require.Equal(t, epoch.UnixMilli(), p.CreateAt)
		require.Equal(t, epoch.Add(time.Hour).UnixMilli(), p.UpdateAt)
		again, err := users.UserByObjectID(ctx, intune.AuthServiceOpenID, oid)
		require.NoError(t, err)
		require.Equal(t, synced, again, "sync is stored")

		// A user deactivated since it was read comes back deactivated.
		require.NoError(t, users.DeactivateUser(ctx, created.ID))
		synced, err = users.SyncUser(ctx, created, aliceClaims())
		require.NoError(t, err)
		require.True(t, synced.Deactivated)
		require.NotZero(t, profile(t, synced).DeleteAt)
	})
}

func TestUsernameAndEmailFromClaims(t *testing.T) {
	db, _ := open(t, filepath.Join(t.TempDir(), "chat.db"))
	for i, tc := range []struct {
		claims          intune.Claims
		username, email string
	}{
		{intune.Claims{PreferredUsername: "bob@contoso.com"}, "bob", "bob@contoso.com"},
		{intune.Claims{UPN: "Carol.Ann@Contoso.com"}, "carol.ann", "carol.ann@contoso.com"},
		{intune.Claims{PreferredUsername: "dave", UPN: "dave.x@contoso.com"}, "dave", "dave.x@contoso.com"},
		{intune.Claims{PreferredUsername: "erin@contoso.com", Email: "erin.mail@contoso.com"}, "erin", "erin.mail@contoso.com"},
		{intune.Claims{PreferredUsername: "7th+floor@contoso.com"}, "u7th-floor", "7th+floor@contoso.com"},
		{intune.Claims{PreferredUsername: "Ünïcode@contoso.com"}, "n-code", "ünïcode@contoso.com"},
		{intune.Claims{}, "user", ""},
		{intune.Claims{}, "user-2", ""},
	} {
		tc.claims.ObjectID = otherOID + string(rune('a'+i))
		u, err := db.Users().CreateUser(t.Context(), intune.AuthServiceOpenID, &tc.claims)
		require.NoError(t, err, "%+v", tc.claims)
		p := profile(t, u)
		require.Equal(t, tc.username, p.Username, "%+v", tc.claims)
		require.Equal(t, tc.email, p.Email, "%+v", tc.claims)
	}
}

func TestProvisionedUsers(t *testing.T) {
	eachEngine(t, func(t *testing.T, dsn string) {
		ctx := t.Context()
		db, _ := open(t, dsn)
		users := db.Users()
		for _, tc := range []struct {
			name    string
			p       sqlstore.Profile
			bot     bool
			deacted bool
		}{
			{"bot", sqlstore.Profile{Username: "bot", AuthService: "openid", AuthData: "b07b07b0-7b07-4b07-8b07-b07b07b07b07", IsBot: true}, true, false},
			{"deactivated", sqlstore.Profile{Username: "gone", AuthService: "openid", AuthData: "dead0000-0000-4000-8000-000000000000", DeleteAt: 1}, false, true},
			{"saml", sqlstore.Profile{Username: "carol", Email: "carol@contoso.com", AuthService: "saml", AuthData: oid}, false, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				added, err := users.AddUser(ctx, tc.p)
				require.NoError(t, err)
				got, err := users.UserByObjectID(ctx, intune.AuthService(tc.p.AuthService), tc.p.AuthData)
				require.NoError(t, err)
				require.Equal(t, added, got)
				require.Equal(t, tc.bot, got.IsBot)
				require.Equal(t, tc.deacted, got.Deactivated)
				require.Equal(t, tc.p.Username, profile(t, got).Username)
			})
		}

		// Users without an objectId (password users of the host) do not
		// collide on the (auth_service, auth_data) constraint.
		for _, name := range []string{"local1", "local2"} {
			u, err := users.AddUser(ctx, sqlstore.Profile{Username: name})
			require.NoError(t, err)
			got, err := users.UserByID(ctx, u.ID)
			require.NoError(t, err)
			require.Empty(t, profile(t, got).AuthData)
		}
		_, err := users.UserByObjectID(ctx, "", "")
		require.ErrorIs(t, err, intune.ErrUserNotFound)

		// Provisioning, unlike JIT, does not rename: a taken username fails.
		_, err = users.AddUser(ctx, sqlstore.Profile{Username: "bot"})
		requireUniqueViolation(t, db.Engine(), err)
		_, err = users.UserByID(ctx, "nosuchuser")
		require.ErrorIs(t, err, intune.ErrUserNotFound)
	})
}

// TestConcurrentFirstSignIns has 16 first sign-ins of one user create it at
// once, as replicas behind a load balancer would: one row, and the losers
// get the database's own unique violation, after which the user is there.
func TestConcurrentFirstSignIns(t *testing.T) {
	eachEngine(t, func(t *testing.T, dsn string) {
		ctx := t.Context()
		db, _ := open(t, dsn)
		users := db.Users()
		const n = 16
		created := make([]*intune.User, n)
		errs := make([]error, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				<-start
				created[i], errs[i] = users.CreateUser(ctx, intune.AuthServiceOpenID, aliceClaims())
			})
		}
		close(start)
		wg.Wait()

		var winner *intune.User
		for i, err := range errs {
			if err == nil {
				require.Nil(t, winner, "two creations succeeded")
				winner = created[i]
				continue
			}
			requireUniqueViolation(t, db.Engine(), err)
		}
		require.NotNil(t, winner, "no creation succeeded: %v", errors.Join(errs...))
		count, err := users.CountUsers(ctx, intune.AuthServiceOpenID, oid)
		require.NoError(t, err)
		require.Equal(t, 1, count)
		var total int
		require.NoError(t, db.SQL().QueryRowContext(ctx, `SELECT COUNT(*) FROM users`).Scan(&total))
		require.Equal(t, 1, total)

		// What the handler does after a failed create: re-read.
		got, err := users.UserByObjectID(ctx, intune.AuthServiceOpenID, oid)
		require.NoError(t, err)
		require.Equal(t, winner.ID, got.ID)
		require.Equal(t, "alice", profile(t, got).Username)
	})
}

// signIn issues a session for u on a device of its own (a sign-in on a
// device revokes the device's other sessions) and returns the recorded
// response.
func signIn(t *testing.T, s *sqlstore.Sessions, u *intune.User, url string) *httptest.ResponseRecorder {
	t.Helper()
	return signInOn(t, s, u, url, "apple_rn-v2:"+strconv.FormatInt(devices.Add(1), 16))
}

// devices numbers the devices signIn makes up.
var devices atomic.Int64

// signInOn issues a session for u on the device and returns the recorded response.
func signInOn(t *testing.T, s *sqlstore.Sessions, u *intune.User, url, device string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodPost, url, nil)
	in := &intune.SignIn{User: u, DeviceID: device, VoIPDeviceID: "apple_voip:77"}
	require.NoError(t, s.IssueSession(t.Context(), rec, r, in))
	return rec
}

func cookies(rec *httptest.ResponseRecorder) map[string]*http.Cookie {
	m := map[string]*http.Cookie{}
	for _, c := range rec.Result().Cookies() {
		m[c.Name] = c
	}
	return m
}

func TestSessions(t *testing.T) {
	eachEngine(t, func(t *testing.T, dsn string) {
		ctx := t.Context()
		db, clk := open(t, dsn)
		users, sessions := db.Users(), db.Sessions()
		alice, err := users.CreateUser(ctx, intune.AuthServiceOpenID, aliceClaims())
		require.NoError(t, err)
		bob, err := users.AddUser(ctx, sqlstore.Profile{Username: "bob", AuthService: "openid", AuthData: otherOID})
		require.NoError(t, err)

		t.Run("credentials", func(t *testing.T) {
			for _, tc := range []struct {
				url    string
				secure bool
			}{{"http://chat.example/oauth/intune", false}, {"https://chat.example/oauth/intune", true}} {
				rec := signIn(t, sessions, alice, tc.url)
				token := rec.Header().Get("Token")
				require.Len(t, token, 26)
				c := cookies(rec)
				require.Len(t, c, 3)
				expires := epoch.Add(sqlstore.DefaultSessionLifetime)
				for name, value := range map[string]string{"MMAUTHTOKEN": token, "MMUSERID": alice.ID} {
					require.Equal(t, value, c[name].Value, name)
				}
				require.Len(t, c["MMCSRF"].Value, 26)
				require.NotEqual(t, token, c["MMCSRF"].Value)
				for name, ck := range c {
					require.Equal(t, name == "MMAUTHTOKEN", ck.HttpOnly, name)
					require.Equal(t, tc.secure, ck.Secure, name)
					require.Equal(t, http.SameSiteLaxMode, ck.SameSite, name)
					require.Equal(t, "/", ck.Path, name)
					require.True(t, expires.Equal(ck.Expires), "%s expires %v", name, ck.Expires)
				}
				u, err := sessions.SessionUser(ctx, token)
				require.NoError(t, err)
				require.Equal(t, alice.ID, u.ID)
				require.Equal(t, profile(t, alice).Email, profile(t, u).Email)
			}
		})

		t.Run("the raw token is not stored", func(t *testing.T) {
			rec := signInOn(t, sessions, bob, "http://chat.example/", "apple_rn-v2:5d8f0c3b9a7e4f21")
			token := rec.Header().Get("Token")
			sum := sha256.Sum256([]byte(token))
			var hash, userID, csrf, device, voip string
			var createAt, expiresAt, revokedAt int64
			require.NoError(t, db.SQL().QueryRowContext(ctx, `SELECT token_hash, user_id, csrf, device_id, voip_device_id,
				create_at, expires_at, revoked_at FROM sessions WHERE user_id = $1`, bob.ID).
				Scan(&hash, &userID, &csrf, &device, &voip, &createAt, &expiresAt, &revokedAt))
			require.Equal(t, hex.EncodeToString(sum[:]), hash)
			require.Equal(t, cookies(rec)["MMCSRF"].Value, csrf)
			require.Equal(t, "apple_rn-v2:5d8f0c3b9a7e4f21", device)
			require.Equal(t, "apple_voip:77", voip)
			require.Equal(t, epoch.UnixMilli(), createAt)
			require.Equal(t, epoch.Add(sqlstore.DefaultSessionLifetime).UnixMilli(), expiresAt)
			require.Zero(t, revokedAt)
			var n int
			require.NoError(t, db.SQL().QueryRowContext(ctx, `SELECT COUNT(*) FROM sessions WHERE token_hash = $1
				OR user_id = $1 OR csrf = $1 OR device_id = $1 OR voip_device_id = $1`, token).Scan(&n))
			require.Zero(t, n, "the bearer token is stored somewhere")
		})

		t.Run("unknown tokens", func(t *testing.T) {
			for _, tok := range []string{"", "nosuchtoken", "x"} {
				_, err := sessions.SessionUser(ctx, tok)
				require.ErrorIs(t, err, sqlstore.ErrNoSession, "%q", tok)
			}
		})

		t.Run("expiry", func(t *testing.T) {
			s := db.Sessions()
			s.Lifetime = time.Hour
			token := signIn(t, s, bob, "http://chat.example/").Header().Get("Token")
			clk.Advance(time.Hour - time.Millisecond)
			_, err := s.SessionUser(ctx, token)
			require.NoError(t, err, "live until its last millisecond")
			clk.Advance(time.Millisecond)
			_, err = s.SessionUser(ctx, token)
			require.ErrorIs(t, err, sqlstore.ErrNoSession)
		})

		t.Run("revoke", func(t *testing.T) {
			t1 := signIn(t, sessions, bob, "http://chat.example/").Header().Get("Token")
			t2 := signIn(t, sessions, bob, "http://chat.example/").Header().Get("Token")
			require.NoError(t, sessions.RevokeSession(ctx, t1))
			_, err := sessions.SessionUser(ctx, t1)
			require.ErrorIs(t, err, sqlstore.ErrNoSession)
			require.ErrorIs(t, sessions.RevokeSession(ctx, t1), sqlstore.ErrNoSession, "already revoked")
			_, err = sessions.SessionUser(ctx, t2)
			require.NoError(t, err, "the user's other session lives on")

			t3 := signIn(t, sessions, alice, "http://chat.example/").Header().Get("Token")
			require.NoError(t, sessions.RevokeUserSessions(ctx, bob.ID))
			_, err = sessions.SessionUser(ctx, t2)
			require.ErrorIs(t, err, sqlstore.ErrNoSession)
			_, err = sessions.SessionUser(ctx, t3)
			require.NoError(t, err, "another user's session lives on")
		})

		t.Run("deactivated user", func(t *testing.T) {
			carol, err := users.AddUser(ctx, sqlstore.Profile{Username: "carol"})
			require.NoError(t, err)
			token := signIn(t, sessions, carol, "http://chat.example/").Header().Get("Token")
			_, err = sessions.SessionUser(ctx, token)
			require.NoError(t, err)
			require.NoError(t, users.DeactivateUser(ctx, carol.ID))
			_, err = sessions.SessionUser(ctx, token)
			require.ErrorIs(t, err, sqlstore.ErrNoSession)
		})

		t.Run("a session needs its user", func(t *testing.T) {
			// Through IssueSession: the insert fails, nothing is set.
			rec := httptest.NewRecorder()
			ghost := &intune.User{ID: "nosuchuserxxxxxxxxxxxxxxxx"}
			err := sessions.IssueSession(ctx, rec, httptest.NewRequest(http.MethodPost, "/", nil), &intune.SignIn{User: ghost})
			require.Error(t, err)
			require.Empty(t, rec.Header())
			// Directly: the foreign key holds on both engines.
			_, err = db.SQL().ExecContext(ctx, `INSERT INTO sessions (token_hash, user_id, csrf, create_at, expires_at)
				VALUES ('h', 'nosuchuserxxxxxxxxxxxxxxxx', 'c', 0, 1)`)
			require.Error(t, err, "foreign key not enforced")
			// And deleting a user deletes its sessions.
			dan, err := users.AddUser(ctx, sqlstore.Profile{Username: "dan"})
			require.NoError(t, err)
			signIn(t, sessions, dan, "http://chat.example/")
			_, err = db.SQL().ExecContext(ctx, `DELETE FROM users WHERE id = $1`, dan.ID)
			require.NoError(t, err)
			var n int
			require.NoError(t, db.SQL().QueryRowContext(ctx, `SELECT COUNT(*) FROM sessions WHERE user_id = $1`, dan.ID).Scan(&n))
			require.Zero(t, n)
		})

		t.Run("a failing database sets nothing", func(t *testing.T) {
			broken, _ := open(t, dsn)
			require.NoError(t, broken.Close())
			rec := httptest.NewRecorder()
			err := broken.Sessions().IssueSession(ctx, rec, httptest.NewRequest(http.MethodPost, "/", nil), &intune.SignIn{User: alice})
			require.Error(t, err)
			require.Empty(t, rec.Header(), "no Token header, no cookies")
			_, err = broken.Sessions().SessionUser(ctx, "sometoken")
			require.Error(t, err)
			require.NotErrorIs(t, err, sqlstore.ErrNoSession, "a failure is not an expired session")
		})
	})
}

func TestTokenFromRequest(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header string
		cookie string
		want   string
	}{
		{"bearer", "Bearer abc", "", "abc"},
		{"bearer wins over cookie", "Bearer abc", "def", "abc"},
		{"cookie", "", "def", "def"},
		{"other scheme", "Basic abc", "", ""},
		{"none", "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/api/v4/users/me", nil)
			if tc.header != "" {
				r.Header.Set("Authorization", tc.header)
			}
			if tc.cookie != "" {
				r.AddCookie(&http.Cookie{Name: "MMAUTHTOKEN", Value: tc.cookie})
			}
			require.Equal(t, tc.want, sqlstore.TokenFromRequest(r))
		})
	}
}

func TestRestart(t *testing.T) {
	eachEngine(t, func(t *testing.T, dsn string) {
		ctx := t.Context()
		db, _ := open(t, dsn)
		alice, err := db.Users().CreateUser(ctx, intune.AuthServiceOpenID, aliceClaims())
		require.NoError(t, err)
		token := signIn(t, db.Sessions(), alice, "http://chat.example/").Header().Get("Token")
		_, err = db.SaveConfig(ctx, []byte(`{"Enable":true}`))
		require.NoError(t, err)
		require.NoError(t, db.Close())

		db, _ = open(t, dsn)
		got, err := db.Users().UserByObjectID(ctx, intune.AuthServiceOpenID, oid)
		require.NoError(t, err)
		require.Equal(t, alice, got)
		u, err := db.Sessions().SessionUser(ctx, token)
		require.NoError(t, err)
		require.Equal(t, alice.ID, u.ID)
		body, version, err := db.LoadConfig(ctx)
		require.NoError(t, err)
		require.JSONEq(t, `{"Enable":true}`, string(body))
		require.EqualValues(t, 1, version)
	})
}

func TestConfig(t *testing.T) {
	eachEngine(t, func(t *testing.T, dsn string) {
		ctx := t.Context()
		db, clk := open(t, dsn)
		body, version, err := db.LoadConfig(ctx)
		require.NoError(t, err)
		require.Nil(t, body)
		require.Zero(t, version)

		for i, cfg := range []string{`{"Enable":true,"TenantID":"t1"}`, `{"Enable":false}`, `{}`} {
			clk.Advance(time.Minute)
			v, err := db.SaveConfig(ctx, []byte(cfg))
			require.NoError(t, err)
			require.EqualValues(t, i+1, v)
			body, version, err := db.LoadConfig(ctx)
			require.NoError(t, err)
			require.Equal(t, cfg, string(body))
			require.Equal(t, v, version)
		}
		_, err = db.SaveConfig(ctx, []byte(`{"Enable":`))
		require.Error(t, err)
		_, version, err = db.LoadConfig(ctx)
		require.NoError(t, err)
		require.EqualValues(t, 3, version, "a rejected save changes nothing")

		// Concurrent saves from two handles get distinct, consecutive versions.
		other, _ := open(t, dsn)
		versions := make([]int64, 8)
		var wg sync.WaitGroup
		for i := range versions {
			h := db
			if i%2 == 1 {
				h = other
			}
			wg.Go(func() {
				v, err := h.SaveConfig(ctx, []byte(`{"n":1}`))
				if err == nil {
					versions[i] = v
				}
			})
		}
		wg.Wait()
		seen := map[int64]bool{}
		for _, v := range versions {
			require.True(t, v >= 4 && v <= 11 && !seen[v], "versions %v", versions)
			seen[v] = true
		}
	})
}

// watch runs WatchConfig until the test ends and returns the versions it
// reports.
func watch(t *testing.T, db *sqlstore.DB) <-chan int64 {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	versions := make(chan int64, 64)
	done := make(chan error, 1)
	go func() {
		done <- db.WatchConfig(ctx, func(v int64) {
			select {
			case versions <- v:
			default:
				t.Errorf("version %d: nobody reading", v)
			}
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.ErrorIs(t, err, context.Canceled)
		case <-time.After(10 * time.Second):
			t.Error("WatchConfig did not return after its context was cancelled")
		}
	})
	return versions
}

// await waits for version want (skipping others) for at most within.
func await(t *testing.T, versions <-chan int64, want int64, within time.Duration) {
	t.Helper()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for {
		select {
		case v := <-versions:
			if v == want {
				return
			}
		case <-deadline.C:
			t.Fatalf("version %d not reported within %v", want, within)
		}
	}
}

func TestWatchConfig(t *testing.T) {
	eachEngine(t, func(t *testing.T, dsn string) {
		ctx := t.Context()
		watcher, _ := open(t, dsn)
		saver, _ := open(t, dsn) // another replica
		versions := watch(t, watcher)
		await(t, versions, 0, 30*time.Second) // the first report: nothing saved yet

		v, err := saver.SaveConfig(ctx, []byte(`{"Enable":true}`))
		require.NoError(t, err)
		await(t, versions, v, 2*time.Second)

		v, err = saver.SaveConfig(ctx, []byte(`{"Enable":false}`))
		require.NoError(t, err)
		await(t, versions, v, 2*time.Second)

		if saver.Engine() != sqlstore.EnginePostgres {
			return
		}
		// The LISTEN connection dies (a server restart, a failover): the
		// watcher reconnects, reports the version it finds, and saves made
		// after are notified again.
		var killed int
		require.NoError(t, saver.SQL().QueryRowContext(ctx, `SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE application_name = 'sqlstore-config-watch' AND datname = current_database()`).Scan(&killed))
		require.Equal(t, 1, killed)
		await(t, versions, v, 5*time.Second) // the report after reconnecting
		v, err = saver.SaveConfig(ctx, []byte(`{"Enable":true}`))
		require.NoError(t, err)
		await(t, versions, v, 2*time.Second)
	})
}

func TestAudit(t *testing.T) {
	eachEngine(t, func(t *testing.T, dsn string) {
		ctx := t.Context()
		db, clk := open(t, dsn)
		recs, err := db.AuditRecords(ctx, 0)
		require.NoError(t, err)
		require.Empty(t, recs)

		in := []sqlstore.AuditRecord{
			{RequestID: "r1", Outcome: "ok", Status: 200, UserID: "u1", OID: oid, Provider: "openid",
				Detail: json.RawMessage(`{"created":true}`)},
			{At: epoch.Add(-time.Hour), RequestID: "r2", Outcome: "mam.token.expired", Status: 401, OID: oid, Provider: "openid"},
			{RequestID: "r3", Outcome: "mam.user.deactivated", Status: 403, UserID: "u2", OID: otherOID, Provider: "saml",
				Detail: json.RawMessage(`{"delete_at":1}`)},
		}
		for _, r := range in {
			clk.Advance(time.Second)
			require.NoError(t, db.Audit(ctx, r))
		}
		require.Error(t, db.Audit(ctx, sqlstore.AuditRecord{Outcome: "x", Detail: json.RawMessage(`{`)}))

		recs, err = db.AuditRecords(ctx, 2)
		require.NoError(t, err)
		require.Len(t, recs, 2)
		require.Greater(t, recs[0].ID, recs[1].ID, "newest first")
		in[2].ID, in[2].At = recs[0].ID, epoch.Add(3*time.Second)
		in[1].ID = recs[1].ID
		for i, want := range []sqlstore.AuditRecord{in[2], in[1]} {
			got := recs[i]
			require.True(t, want.At.Equal(got.At), "at %v, want %v", got.At, want.At)
			got.At = want.At
			require.Equal(t, want, got)
		}
		all, err := db.AuditRecords(ctx, 100)
		require.NoError(t, err)
		require.Len(t, all, 3)
		require.JSONEq(t, `{"created":true}`, string(all[2].Detail))
	})
}

func TestInitConfig(t *testing.T) {
	eachEngine(t, func(t *testing.T, dsn string) {
		ctx := t.Context()
		watcher, _ := open(t, dsn)
		versions := watch(t, watcher)
		await(t, versions, 0, 30*time.Second)

		// Replicas starting together each offer their default: one is stored.
		const n = 6
		created := make([]bool, n)
		var wg sync.WaitGroup
		for i := range n {
			db, _ := open(t, dsn)
			wg.Go(func() {
				ok, err := db.InitConfig(ctx, []byte(`{"replica":`+strconv.Itoa(i)+`}`))
				assert.NoError(t, err)
				created[i] = ok
			})
		}
		wg.Wait()
		winner := slices.Index(created, true)
		require.NotEqual(t, -1, winner)
		require.Equal(t, 1, strings.Count(fmt.Sprint(created), "true"), "created %v", created)
		body, version, err := watcher.LoadConfig(ctx)
		require.NoError(t, err)
		require.JSONEq(t, `{"replica":`+strconv.Itoa(winner)+`}`, string(body))
		require.EqualValues(t, 1, version)
		await(t, versions, 1, 2*time.Second)

		// Once a configuration exists, InitConfig changes nothing.
		v, err := watcher.SaveConfig(ctx, []byte(`{"saved":true}`))
		require.NoError(t, err)
		ok, err := watcher.InitConfig(ctx, []byte(`{"default":true}`))
		require.NoError(t, err)
		require.False(t, ok)
		body, version, err = watcher.LoadConfig(ctx)
		require.NoError(t, err)
		require.JSONEq(t, `{"saved":true}`, string(body))
		require.Equal(t, v, version)
		_, err = watcher.InitConfig(ctx, []byte(`{`))
		require.Error(t, err)
	})
}

func TestSettingOnce(t *testing.T) {
	eachEngine(t, func(t *testing.T, dsn string) {
		ctx := t.Context()
		db, _ := open(t, dsn)
		_, ok, err := db.Setting(ctx, "k")
		require.NoError(t, err)
		require.False(t, ok)

		// Concurrent first uses from several handles all get the same value.
		const n = 6
		got := make([]string, n)
		var made atomic.Int32
		var wg sync.WaitGroup
		for i := range n {
			h, _ := open(t, dsn)
			wg.Go(func() {
				v, err := h.SettingOnce(ctx, "k", func() (string, error) {
					made.Add(1)
					return "value-" + strconv.Itoa(i), nil
				})
				assert.NoError(t, err)
				got[i] = v
			})
		}
		wg.Wait()
		require.GreaterOrEqual(t, made.Load(), int32(1))
		for _, v := range got {
			require.Equal(t, got[0], v)
		}
		// Later calls read it and make nothing.
		v, err := db.SettingOnce(ctx, "k", func() (string, error) { return "", errors.New("must not be called") })
		require.NoError(t, err)
		require.Equal(t, got[0], v)
		// A failing maker stores nothing.
		_, err = db.SettingOnce(ctx, "other", func() (string, error) { return "", errors.New("no entropy") })
		require.ErrorContains(t, err, "no entropy")
		_, ok, err = db.Setting(ctx, "other")
		require.NoError(t, err)
		require.False(t, ok)
	})
}

// TestSQLiteBusyTimeoutFromDSN: a DSN's own busy_timeout replaces the
// store's 10 s, so that a host can fail fast while another process holds
// the write lock.
func TestSQLiteBusyTimeoutFromDSN(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chat.db")
	db, _ := open(t, path+"?_pragma=busy_timeout(150)")
	var ms int
	require.NoError(t, db.SQL().QueryRowContext(t.Context(), `PRAGMA busy_timeout`).Scan(&ms))
	require.Equal(t, 150, ms)

	// Another process (here: another handle) holds the write lock.
	locker, _ := open(t, path)
	conn, err := locker.SQL().Conn(t.Context())
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.ExecContext(t.Context(), `BEGIN IMMEDIATE`)
	require.NoError(t, err)
	start := time.Now()
	_, err = db.SaveConfig(t.Context(), []byte(`{}`))
	require.Error(t, err)
	require.Less(t, time.Since(start), 5*time.Second, "failed after its own busy timeout, not the default")
	_, err = conn.ExecContext(t.Context(), `ROLLBACK`)
	require.NoError(t, err)
	_, err = db.SaveConfig(t.Context(), []byte(`{}`))
	require.NoError(t, err, "the lock released, writes work again")

	def, _ := open(t, filepath.Join(t.TempDir(), "default.db"))
	require.NoError(t, def.SQL().QueryRowContext(t.Context(), `PRAGMA busy_timeout`).Scan(&ms))
	require.Equal(t, 10000, ms)
}

// TestSQLiteWritersTakeTurns: a writer that commits and begins again at
// once (the audit writer under a burst of sign-ins) does not starve the
// process's other writes. SQLite's busy timeout is no queue: before writes
// took turns, the configuration's first write waited out the whole timeout
// behind such a writer (in CI, under -race) and failed with SQLITE_BUSY.
// A short busy timeout makes that failure quick to show; in turns, each
// write waits only for the one ahead of it.
func TestSQLiteWritersTakeTurns(t *testing.T) {
	db, _ := open(t, filepath.Join(t.TempDir(), "chat.db")+"?_pragma=busy_timeout(50)")
	ctx := t.Context()
	stop := make(chan struct{})
	var hammered atomic.Int64
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			batch := []sqlstore.AuditRecord{{RequestID: "r", Outcome: "success", Status: 200}}
			for {
				select {
				case <-stop:
					return
				default:
				}
				assert.NoError(t, db.AuditBatch(ctx, batch))
				hammered.Add(1)
			}
		})
	}
	defer func() { close(stop); wg.Wait() }()
	users := db.Users()
	for i := range 20 {
		_, err := db.SaveConfig(ctx, []byte(`{"n":`+strconv.Itoa(i)+`}`))
		require.NoError(t, err, "write %d beside the audit writers", i)
		_, err = db.SettingOnce(ctx, "s"+strconv.Itoa(i), func() (string, error) { return "v", nil })
		require.NoError(t, err)
		_, err = users.CreateUser(ctx, intune.AuthServiceOffice365, &intune.Claims{ObjectID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i)})
		require.NoError(t, err)
	}
	require.Positive(t, hammered.Load(), "the audit writers wrote meanwhile")
}

func TestAuditBatch(t *testing.T) {
	eachEngine(t, func(t *testing.T, dsn string) {
		ctx := t.Context()
		db, _ := open(t, dsn)
		batch := make([]sqlstore.AuditRecord, 300)
		for i := range batch {
			batch[i] = sqlstore.AuditRecord{RequestID: "r" + strconv.Itoa(i), Outcome: "success", Status: 200}
		}
		require.NoError(t, db.AuditBatch(ctx, batch))
		require.NoError(t, db.AuditBatch(ctx, nil))
		recs, err := db.AuditRecords(ctx, 1000)
		require.NoError(t, err)
		require.Len(t, recs, 300)
		require.Equal(t, "r299", recs[0].RequestID, "in order")
		require.Equal(t, "r0", recs[299].RequestID)

		// One bad detail: nothing of the batch is written.
		bad := []sqlstore.AuditRecord{{RequestID: "ok", Outcome: "x"}, {RequestID: "bad", Outcome: "x", Detail: json.RawMessage(`{`)}}
		require.Error(t, db.AuditBatch(ctx, bad))
		recs, err = db.AuditRecords(ctx, 1000)
		require.NoError(t, err)
		require.Len(t, recs, 300)
	})
}
