package sqlstore_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mamlogin/mamlogin/examples/chatserver/sqlstore"
	"github.com/mamlogin/mamlogin/intune"
)

// TestEmailHeldByAnotherAccount: a first sign-in whose address an account
// of another sign-in method holds is intune.ErrEmailInUse, naming that
// account for the administrator; nothing is created and the holder is
// untouched (identity is the objectId alone, never the address).
func TestEmailHeldByAnotherAccount(t *testing.T) {
	eachEngine(t, func(t *testing.T, dsn string) {
		ctx := t.Context()
		db, _ := open(t, dsn)
		users := db.Users()
		for _, holder := range []struct {
			name   string
			p      sqlstore.Profile
			method string
		}{
			{"a password account", sqlstore.Profile{Username: "alice.pw", Email: "alice@contoso.com"}, "no auth_service"},
			{"another provider's account, another case", sqlstore.Profile{Username: "alice.saml", Email: "ALICE@Contoso.com",
				AuthService: "saml", AuthData: otherOID}, `auth_service "saml"`},
		} {
			t.Run(holder.name, func(t *testing.T) {
				held, err := users.AddUser(ctx, holder.p)
				require.NoError(t, err)
				t.Cleanup(func() { _, _ = db.SQL().ExecContext(context.Background(), `DELETE FROM users WHERE id = $1`, held.ID) })

				// The doctor is told beforehand what CreateUser answers.
				check := users.CheckNewUser(ctx, intune.AuthServiceOpenID, aliceClaims())
				require.ErrorIs(t, check, intune.ErrEmailInUse)
				require.Contains(t, check.Error(), held.ID)

				_, err = users.CreateUser(ctx, intune.AuthServiceOpenID, aliceClaims())
				require.ErrorIs(t, err, intune.ErrEmailInUse)
				var row *intune.AppError
				require.True(t, errors.As(err, &row))
				require.Equal(t, 409, row.StatusCode)
				for _, part := range []string{held.ID, holder.p.Username, holder.method, "alice@contoso.com", oid} {
					require.Contains(t, err.Error(), part, "the reason names the holding account")
				}
				_, err = users.UserByObjectID(ctx, intune.AuthServiceOpenID, oid)
				require.ErrorIs(t, err, intune.ErrUserNotFound, "nothing was created")
				again, err := users.UserByID(ctx, held.ID)
				require.NoError(t, err)
				require.Equal(t, held.Profile, again.Profile, "the holder is untouched")
			})
		}

		// Once the address is free, the same sign-in creates the user.
		require.NoError(t, users.CheckNewUser(ctx, intune.AuthServiceOpenID, aliceClaims()))
		u, err := users.CreateUser(ctx, intune.AuthServiceOpenID, aliceClaims())
		require.NoError(t, err)
		// A second provider's user with the same oid has the same address:
		// another account, refused too.
		_, err = users.CreateUser(ctx, intune.AuthServiceOffice365, aliceClaims())
		require.ErrorIs(t, err, intune.ErrEmailInUse)
		require.Contains(t, err.Error(), u.ID)

		// Provisioning a second holder of the address fails on the index.
		_, err = users.AddUser(ctx, sqlstore.Profile{Username: "alice2", Email: "Alice@contoso.com"})
		requireUniqueViolation(t, db.Engine(), err)
		// Accounts without an address are many.
		for _, name := range []string{"noaddr1", "noaddr2"} {
			_, err := users.AddUser(ctx, sqlstore.Profile{Username: name})
			require.NoError(t, err)
		}
	})
}

// TestSyncKeepsAnAddressAnotherAccountHolds: the user is found by objectId,
// so a new address in the token that another account holds does not fail
// the sign-in: the stored address stays, the other attributes sync.
func TestSyncKeepsAnAddressAnotherAccountHolds(t *testing.T) {
	eachEngine(t, func(t *testing.T, dsn string) {
		ctx := t.Context()
		db, _ := open(t, dsn)
		users := db.Users()
		alice, err := users.CreateUser(ctx, intune.AuthServiceOpenID, aliceClaims())
		require.NoError(t, err)
		_, err = users.AddUser(ctx, sqlstore.Profile{Username: "boss", Email: "boss@contoso.com"})
		require.NoError(t, err)
		synced, err := users.SyncUser(ctx, alice, &intune.Claims{ObjectID: oid, Email: "Boss@Contoso.com", GivenName: "Alicia"})
		require.NoError(t, err)
		require.Equal(t, "alice@contoso.com", profile(t, synced).Email)
		require.Equal(t, "Alicia", profile(t, synced).FirstName)
		// Its own address in another case, or a free one, is applied.
		synced, err = users.SyncUser(ctx, alice, &intune.Claims{ObjectID: oid, Email: "a.liddell@contoso.com"})
		require.NoError(t, err)
		require.Equal(t, "a.liddell@contoso.com", profile(t, synced).Email)
	})
}

// TestUniqueEmailMigration: a database made before the unique address
// (schema version 2) whose accounts share an address is not migrated: the
// error names them and nothing changes; once the administrator has fixed
// them, it migrates.
func TestUniqueEmailMigration(t *testing.T) {
	eachEngine(t, func(t *testing.T, dsn string) {
		ctx := t.Context()
		db, _ := open(t, dsn)
		// Back to version 2, with what version 2 allowed.
		for _, stmt := range []string{`DROP INDEX users_email_key`, `DROP INDEX sessions_live_device_id`, `DROP INDEX audit_at`, `DELETE FROM schema_migrations WHERE version > 2`} {
			_, err := db.SQL().ExecContext(ctx, stmt)
			require.NoError(t, err)
		}
		var ids []string
		for _, p := range []sqlstore.Profile{
			{Username: "carol", Email: "carol@contoso.com"},
			{Username: "carol.sso", Email: "Carol@Contoso.com", AuthService: "office365", AuthData: oid},
			{Username: "dave", Email: "dave@contoso.com"},
			{Username: "dave2", Email: "dave@contoso.com"},
			{Username: "erin", Email: "erin@contoso.com"},
		} {
			u, err := db.Users().AddUser(ctx, p)
			require.NoError(t, err)
			ids = append(ids, u.ID)
		}
		require.NoError(t, db.Close())

		_, err := sqlstore.Open(ctx, dsn)
		require.Error(t, err)
		for _, part := range []string{"2 email addresses", "carol@contoso.com", "dave@contoso.com", ids[0], ids[1], ids[2], ids[3], `"carol.sso"`, "nothing was changed"} {
			require.Contains(t, err.Error(), part)
		}
		require.NotContains(t, err.Error(), ids[4], "erin's address is her own")

		// Nothing changed: still version 2, every account as it was.
		driver := map[string]string{sqlstore.EngineSQLite: "sqlite", sqlstore.EnginePostgres: "pgx"}[engineOf(dsn)]
		raw, err := sql.Open(driver, dsn)
		require.NoError(t, err)
		defer raw.Close()
		var version, accounts int
		require.NoError(t, raw.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&version))
		require.NoError(t, raw.QueryRowContext(ctx, `SELECT COUNT(*) FROM users`).Scan(&accounts))
		require.Equal(t, 2, version)
		require.Equal(t, 5, accounts)

		// The administrator gives one of each pair another address, or none.
		_, err = raw.ExecContext(ctx, `UPDATE users SET email = 'carol.old@contoso.com' WHERE id = $1`, ids[0])
		require.NoError(t, err)
		_, err = raw.ExecContext(ctx, `UPDATE users SET email = '' WHERE id = $1`, ids[3])
		require.NoError(t, err)
		db, _ = open(t, dsn)
		v, err := db.SchemaVersion(ctx)
		require.NoError(t, err)
		require.EqualValues(t, 5, v)
		_, err = db.Users().AddUser(ctx, sqlstore.Profile{Username: "erin2", Email: "Erin@contoso.com"})
		requireUniqueViolation(t, db.Engine(), err)
	})
}

func engineOf(dsn string) string {
	if strings.HasPrefix(dsn, "postgres") {
		return sqlstore.EnginePostgres
	}
	return sqlstore.EngineSQLite
}

// TestSyncRacingAFirstSignInWithTheAddress: Bob's first sign-in with an
// address is inserted but not yet committed when Alice's sync moves her to
// it. A query of Alice's cannot see Bob's row (READ COMMITTED); the unique
// index waits for Bob's commit and then refuses. The sign-in must not fail:
// Alice keeps her address, the rest syncs, and the store logs why.
func TestSyncRacingAFirstSignInWithTheAddress(t *testing.T) {
	eachEngine(t, func(t *testing.T, dsn string) {
		ctx := t.Context()
		db, _ := open(t, dsn)
		var logged syncBuffer
		db.Logger = slog.New(slog.NewTextHandler(&logged, nil))
		users := db.Users()
		alice, err := users.CreateUser(ctx, intune.AuthServiceOpenID, aliceClaims())
		require.NoError(t, err)

		bob, err := db.SQL().BeginTx(ctx, nil) // Bob's sign-in, on its own connection
		require.NoError(t, err)
		defer func() { _ = bob.Rollback() }()
		_, err = bob.ExecContext(ctx, `INSERT INTO users (id, username, email, auth_service, auth_data, create_at, update_at)
			VALUES ('bob', 'bob', 'new@contoso.com', 'openid', $1, 0, 0)`, otherOID)
		require.NoError(t, err)

		type result struct {
			u   *intune.User
			err error
		}
		synced := make(chan result, 1)
		go func() {
			u, err := users.SyncUser(ctx, alice, &intune.Claims{ObjectID: oid, Email: "New@Contoso.com", GivenName: "Alicia"})
			synced <- result{u, err}
		}()
		if db.Engine() == sqlstore.EnginePostgres {
			// Commit only once Alice's update waits on Bob's row: that is the
			// race. (SQLite has one writer: Alice's update waits for the
			// write lock and runs after the commit, whenever it started.)
			require.Eventually(t, func() bool {
				var waiting int
				err := db.SQL().QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_stat_activity
					WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'UPDATE users SET%'`).Scan(&waiting)
				return err == nil && waiting == 1
			}, 10*time.Second, 5*time.Millisecond, "Alice's update never waited on Bob's insert")
		}
		require.NoError(t, bob.Commit())

		r := <-synced
		require.NoError(t, r.err, "a sign-in is no reason to fail")
		require.Equal(t, "alice@contoso.com", profile(t, r.u).Email, "Bob holds the address: Alice keeps hers")
		require.Equal(t, "Alicia", profile(t, r.u).FirstName, "the rest syncs")
		require.Contains(t, logged.String(), "stored address is kept")
		require.Contains(t, logged.String(), alice.ID)
		held, err := users.UserByObjectID(ctx, intune.AuthServiceOpenID, otherOID)
		require.NoError(t, err)
		require.Equal(t, "new@contoso.com", profile(t, held).Email)
	})
}

// syncBuffer is a bytes.Buffer safe for a logger on another goroutine.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
