package sqlstore_test

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mamlogin/mamlogin/examples/chatserver/sqlstore"
)

// TestSaveConfigIfIsACompareAndSet: two replicas (two handles on one
// database) that read the same version and write at once: exactly one
// write is stored, the other is told ErrConfigConflict and stores nothing.
func TestSaveConfigIfIsACompareAndSet(t *testing.T) {
	eachEngine(t, func(t *testing.T, dsn string) {
		first, _ := open(t, dsn)
		second, _ := open(t, dsn)
		ctx := t.Context()
		v, err := first.SaveConfigIf(ctx, []byte(`{"n":0}`), 0)
		require.NoError(t, err)
		require.EqualValues(t, 1, v)
		_, err = second.SaveConfigIf(ctx, []byte(`{"n":-1}`), 0)
		require.ErrorIs(t, err, sqlstore.ErrConfigConflict, "none stored yet is no longer true")

		for round := range 10 {
			_, read, err := first.LoadConfig(ctx)
			require.NoError(t, err)
			var wg sync.WaitGroup
			errs := make([]error, 2)
			for i, db := range []*sqlstore.DB{first, second} {
				wg.Go(func() {
					body, _ := json.Marshal(map[string]int{"round": round, "writer": i})
					_, errs[i] = db.SaveConfigIf(ctx, body, read)
				})
			}
			wg.Wait()
			won := 0
			for _, err := range errs {
				if err == nil {
					won++
				} else {
					require.ErrorIs(t, err, sqlstore.ErrConfigConflict)
				}
			}
			require.Equal(t, 1, won, "round %d: %v", round, errs)
			body, version, err := second.LoadConfig(ctx)
			require.NoError(t, err)
			assert.Equal(t, read+1, version, "one write per round")
			var got map[string]int
			require.NoError(t, json.Unmarshal(body, &got))
			assert.Equal(t, round, got["round"])
			assert.Nil(t, errs[got["writer"]], "the stored body is the winner's")
		}
	})
}

// TestPruneAudit: records beyond the age bound and beyond the count bound
// are deleted; the newest within both stay.
func TestPruneAudit(t *testing.T) {
	eachEngine(t, func(t *testing.T, dsn string) {
		db, clk := open(t, dsn)
		ctx := t.Context()
		now := clk.Now()
		for i, age := range []time.Duration{100 * time.Hour, 50 * time.Hour, 3 * time.Hour, 2 * time.Hour, time.Hour} {
			require.NoError(t, db.Audit(ctx, sqlstore.AuditRecord{At: now.Add(-age), RequestID: string(rune('a' + i)), Outcome: "success", Status: 200}))
		}
		n, err := db.PruneAudit(ctx, 72*time.Hour, 0)
		require.NoError(t, err)
		assert.EqualValues(t, 1, n, "the one older than 72h")
		n, err = db.PruneAudit(ctx, 0, 2)
		require.NoError(t, err)
		assert.EqualValues(t, 2, n, "all but the newest two")
		recs, err := db.AuditRecords(ctx, 10)
		require.NoError(t, err)
		require.Len(t, recs, 2)
		assert.Equal(t, "e", recs[0].RequestID)
		assert.Equal(t, "d", recs[1].RequestID)
		n, err = db.PruneAudit(ctx, 72*time.Hour, 2)
		require.NoError(t, err)
		assert.Zero(t, n, "within both bounds: nothing to delete")
	})
}

// TestPoolLimits: SetPool's limits are the pool's, and Open sets
// DefaultPool (not database/sql's unlimited open, 2 idle).
func TestPoolLimits(t *testing.T) {
	eachEngine(t, func(t *testing.T, dsn string) {
		db, _ := open(t, dsn)
		assert.Equal(t, sqlstore.DefaultPool.MaxOpen, db.SQL().Stats().MaxOpenConnections)
		db.SetPool(sqlstore.Pool{MaxOpen: 3, MaxIdle: 10})
		assert.Equal(t, 3, db.SQL().Stats().MaxOpenConnections)
		ctx := t.Context()
		var wg sync.WaitGroup
		for range 12 {
			wg.Go(func() {
				_, _, err := db.LoadConfig(ctx)
				assert.NoError(t, err)
			})
		}
		wg.Wait()
		assert.LessOrEqual(t, db.SQL().Stats().OpenConnections, 3)
	})
}
