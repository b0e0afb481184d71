package sqlstore_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mamlogin/mamlogin/examples/chatserver/sqlstore"
	"github.com/mamlogin/mamlogin/internal/pgtest"
	"github.com/mamlogin/mamlogin/intune"
)

// BenchmarkIssueSession is a sign-in's session on a device, in a sessions
// table that already holds many (one per other device): the revocation of
// the device's other sessions must not read them all.
func BenchmarkIssueSession(b *testing.B) {
	for _, e := range []struct {
		name string
		dsn  func(b *testing.B) string
	}{
		{sqlstore.EngineSQLite, func(b *testing.B) string { return filepath.Join(b.TempDir(), "chat.db") }},
		{sqlstore.EnginePostgres, func(b *testing.B) string { return pgtest.Start(b) }},
	} {
		for _, existing := range []int{100, 20000} {
			b.Run(fmt.Sprintf("%s/%d-sessions", e.name, existing), func(b *testing.B) {
				ctx := context.Background()
				db, err := sqlstore.Open(ctx, e.dsn(b))
				require.NoError(b, err)
				defer db.Close()
				u, err := db.Users().AddUser(ctx, sqlstore.Profile{Username: "bench"})
				require.NoError(b, err)
				tx, err := db.SQL().BeginTx(ctx, nil)
				require.NoError(b, err)
				for i := range existing {
					_, err := tx.ExecContext(ctx, `INSERT INTO sessions (token_hash, user_id, csrf, device_id, create_at, expires_at)
						VALUES ($1, $2, 'c', $3, 0, 1)`, "h"+strconv.Itoa(i), u.ID, "apple_rn-v2:other"+strconv.Itoa(i))
					require.NoError(b, err)
				}
				require.NoError(b, tx.Commit())
				s := db.Sessions()
				in := &intune.SignIn{User: u, DeviceID: "apple_rn-v2:bench"}
				r := httptest.NewRequest(http.MethodPost, "/oauth/intune", nil)
				b.ResetTimer()
				for b.Loop() {
					if err := s.IssueSession(ctx, httptest.NewRecorder(), r, in); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
