package sqlstore_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mamlogin/mamlogin/examples/chatserver/sqlstore"
	"github.com/mamlogin/mamlogin/intune"
)

// TestSignInRevokesTheDevicesOtherSessions: a sign-in on a device ends
// every other live session of that device id, the same user's (a second
// sign-in) and another's (a handed-over phone), and none elsewhere.
func TestSignInRevokesTheDevicesOtherSessions(t *testing.T) {
	eachEngine(t, func(t *testing.T, dsn string) {
		ctx := t.Context()
		db, _ := open(t, dsn)
		users, sessions := db.Users(), db.Sessions()
		alice, err := users.CreateUser(ctx, intune.AuthServiceOpenID, aliceClaims())
		require.NoError(t, err)
		bob, err := users.AddUser(ctx, sqlstore.Profile{Username: "bob", AuthService: "openid", AuthData: otherOID})
		require.NoError(t, err)
		const phone, tablet = "apple_rn-v2:0a1b2c3d", "android_rn:9f8e7d6c"
		live := func(token string) bool {
			t.Helper()
			_, err := sessions.SessionUser(ctx, token)
			if err != nil {
				require.ErrorIs(t, err, sqlstore.ErrNoSession)
			}
			return err == nil
		}
		token := func(u *intune.User, device string) string {
			return signInOn(t, sessions, u, "http://chat.example/", device).Header().Get("Token")
		}

		alicePhone := token(alice, phone)
		aliceTablet := token(alice, tablet)
		aliceAgain := token(alice, phone)
		require.False(t, live(alicePhone), "the same user's earlier session on the device")
		require.True(t, live(aliceAgain))
		require.True(t, live(aliceTablet), "another device keeps its session")

		bobPhone := token(bob, phone) // the phone is handed to Bob
		require.False(t, live(aliceAgain), "the previous user's session on the handed-over phone")
		require.True(t, live(bobPhone))
		require.True(t, live(aliceTablet))

		// Sign-ins without a device id (no push) revoke nothing.
		noDevice1, noDevice2 := token(alice, ""), token(alice, "")
		require.True(t, live(noDevice1))
		require.True(t, live(noDevice2))
		require.True(t, live(bobPhone))

		// The revocation is in the insert's transaction: a sign-in whose
		// insert fails (a user that does not exist) revokes nothing.
		ghost := &intune.User{ID: "nosuchuserxxxxxxxxxxxxxxxx"}
		err = sessions.IssueSession(ctx, httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/", nil),
			&intune.SignIn{User: ghost, DeviceID: phone})
		require.Error(t, err)
		require.True(t, live(bobPhone), "a failed sign-in revoked the device's session")

		// The pushes go to the live sessions' device ids: one per device.
		var n int
		require.NoError(t, db.SQL().QueryRowContext(ctx, `SELECT COUNT(*) FROM sessions WHERE device_id = $1 AND revoked_at = 0`, phone).Scan(&n))
		require.Equal(t, 1, n)
	})
}

// TestConcurrentSignInsOnOneDevice: sign-ins on one device at the same
// moment (the app's retry, two replicas) settle on one live session.
func TestConcurrentSignInsOnOneDevice(t *testing.T) {
	eachEngine(t, func(t *testing.T, dsn string) {
		ctx := t.Context()
		db, _ := open(t, dsn)
		sessions := db.Sessions()
		const n = 8
		people := make([]*intune.User, n)
		for i := range people {
			u, err := db.Users().AddUser(ctx, sqlstore.Profile{Username: "user" + string(rune('a'+i))})
			require.NoError(t, err)
			people[i] = u
		}
		const device = "apple_rn-v2:5d8f0c3b9a7e4f21"
		start := make(chan struct{})
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i, u := range people {
			wg.Go(func() {
				<-start
				errs[i] = sessions.IssueSession(ctx, httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/", nil),
					&intune.SignIn{User: u, DeviceID: device})
			})
		}
		close(start)
		wg.Wait()
		for _, err := range errs {
			require.NoError(t, err)
		}
		var total, live int
		require.NoError(t, db.SQL().QueryRowContext(ctx, `SELECT COUNT(*) FROM sessions WHERE device_id = $1`, device).Scan(&total))
		require.NoError(t, db.SQL().QueryRowContext(ctx, `SELECT COUNT(*) FROM sessions WHERE device_id = $1 AND revoked_at = 0`, device).Scan(&live))
		require.Equal(t, n, total)
		require.Equal(t, 1, live, "every sign-in revoked the one before it")
	})
}

// TestQueriesUseTheirIndexes: the queries that run against tables that
// grow find their rows by an index, not by reading the table:
//   - the revocation a sign-in runs finds the device's live sessions by
//     sessions_live_device_id (BenchmarkIssueSession: a table of 20000
//     sessions cost 3.2 ms a sign-in without it);
//   - pruning the audit trail by age finds the old records by audit_at,
//     not by reading a table of up to -audit-max-records rows every prune.
func TestQueriesUseTheirIndexes(t *testing.T) {
	tests := []struct {
		name, query string
		args        []any
		index       string
		want        map[string]string // per engine: a search in that index, not a scan of it
	}{
		{"device revocation", `UPDATE sessions SET revoked_at = $2 WHERE device_id = $1 AND revoked_at = 0`,
			[]any{"apple_rn-v2:x", int64(1)}, "sessions_live_device_id", map[string]string{
				sqlstore.EngineSQLite:   "SEARCH sessions USING INDEX sessions_live_device_id (device_id=?)",
				sqlstore.EnginePostgres: "Index Cond: (device_id = ",
			}},
		{"audit prune by age", `DELETE FROM audit WHERE at < $1`,
			[]any{int64(1)}, "audit_at", map[string]string{
				sqlstore.EngineSQLite:   "SEARCH audit USING INDEX audit_at (at<?)",
				sqlstore.EnginePostgres: "Index Cond: (at < ",
			}},
	}
	eachEngine(t, func(t *testing.T, dsn string) {
		db, _ := open(t, dsn)
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				plan := queryPlan(t, db, tt.query, tt.args...)
				require.Contains(t, plan, tt.want[db.Engine()])
				require.Contains(t, plan, tt.index)
			})
		}
	})
}

// queryPlan is the engine's plan for query with args, one line a row.
func queryPlan(t *testing.T, db *sqlstore.DB, query string, args ...any) string {
	t.Helper()
	ctx := t.Context()
	tx, err := db.SQL().BeginTx(ctx, nil)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback() }()
	explain := `EXPLAIN QUERY PLAN ` + query
	if db.Engine() == sqlstore.EnginePostgres {
		// A small table is read whole whatever its indexes: ask whether
		// the index can serve the query at all.
		_, err := tx.ExecContext(ctx, `SET LOCAL enable_seqscan = off`)
		require.NoError(t, err)
		explain = `EXPLAIN ` + query
	}
	rows, err := tx.QueryContext(ctx, explain, args...)
	require.NoError(t, err)
	defer rows.Close()
	cols, err := rows.Columns()
	require.NoError(t, err)
	var plan []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		require.NoError(t, rows.Scan(ptrs...))
		plan = append(plan, fmt.Sprint(vals...))
	}
	require.NoError(t, rows.Err())
	return strings.Join(plan, "\n")
}
