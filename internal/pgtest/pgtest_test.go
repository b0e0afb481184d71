package pgtest

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// These tests run without Main: each Start has a server of its own.

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(t.Context(), dsn)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func TestStartGivesAWorkingDatabase(t *testing.T) {
	dsn := Start(t)
	require.Regexp(t, `^postgres://postgres@127\.0\.0\.1:\d+/test_\d+_\d+\?sslmode=disable$`, dsn)
	c := connect(t, dsn)
	var db string
	var one int
	require.NoError(t, c.QueryRow(t.Context(), `SELECT current_database(), 1`).Scan(&db, &one))
	require.Equal(t, 1, one)
	require.Contains(t, dsn, "/"+db+"?")
	_, err := c.Exec(t.Context(), `CREATE TABLE t (x int)`)
	require.NoError(t, err)
}

func TestSharedServerGivesFreshDatabases(t *testing.T) {
	srv, err := startServer(needServer(t))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, srv.stop()) })

	// Parallel creations, as parallel tests would make them.
	dsns := make([]string, 4)
	var wg sync.WaitGroup
	for i := range dsns {
		wg.Go(func() {
			dsn, err := srv.createDatabase(t.Context())
			if err == nil {
				dsns[i] = dsn
			}
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, dsn := range dsns {
		require.NotEmpty(t, dsn)
		require.False(t, seen[dsn], "database handed out twice")
		seen[dsn] = true
	}
	a, b := connect(t, dsns[0]), connect(t, dsns[1])
	_, err = a.Exec(t.Context(), `CREATE TABLE only_in_a (x int)`)
	require.NoError(t, err)
	var n int
	require.NoError(t, b.QueryRow(t.Context(), `SELECT count(*) FROM pg_tables WHERE tablename = 'only_in_a'`).Scan(&n))
	require.Zero(t, n, "a new database sees another's tables")
}

func TestStopEndsTheServerAndRemovesItsDirectory(t *testing.T) {
	srv, err := startServer(needServer(t))
	require.NoError(t, err)
	dsn := srv.dsn("postgres")
	require.NoError(t, srv.stop())
	require.NoError(t, srv.stop(), "stop is idempotent")
	_, err = os.Stat(srv.base)
	require.ErrorIs(t, err, os.ErrNotExist)
	select {
	case <-srv.done:
	default:
		t.Fatal("postmaster still running after stop")
	}
	_, err = pgx.Connect(t.Context(), dsn+"&connect_timeout=2")
	require.Error(t, err)
}

// recorder is a testing.TB that records Skip and Fatal instead of acting.
type recorder struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (r *recorder) Helper() {}
func (r *recorder) Skipf(format string, args ...any) {
	r.skipped, r.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed, r.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestMissingBinaries(t *testing.T) {
	for _, tc := range []struct {
		ci              string
		skipped, failed bool
	}{
		{ci: "", skipped: true},
		{ci: "true", failed: true},
	} {
		t.Run("CI="+tc.ci, func(t *testing.T) {
			t.Setenv("PGTEST_BINDIR", t.TempDir()) // no initdb there
			t.Setenv("CI", tc.ci)
			r := &recorder{TB: t}
			done := make(chan struct{})
			go func() {
				defer close(done)
				Start(r)
			}()
			<-done
			require.Equal(t, tc.skipped, r.skipped, r.msg)
			require.Equal(t, tc.failed, r.failed, r.msg)
			require.Contains(t, r.msg, "PGTEST_BINDIR")
		})
	}
}
