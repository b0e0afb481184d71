package main

import (
	"database/sql"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/mamlogin/mamlogin/examples/chatserver/sqlstore"
)

// BenchmarkSignIn is sign-ins per second through the example's handler
// (in process, no network) for an existing user, on each database: the
// whole path of a returning user, token check, lookup, attribute sync,
// session insert, and the audit record written in the background.
//
//	go test -run '^$' -bench SignIn -benchtime 5s ./examples/chatserver
//
// Read the figures with their setting. SQLite is bound by the disk's fsync
// (each sign-in commits an attribute sync and a session; the store keeps
// SQLite's durable synchronous=FULL, and a DSN may say
// "?_pragma=synchronous(NORMAL)", about twice as fast, losing the last
// commits on power loss). The PostgreSQL of the tests (internal/pgtest)
// runs with fsync and synchronous_commit off: an upper bound, not a
// production figure.
//
// Each engine runs with the store's pool (sqlstore.DefaultPool: 20 open,
// 20 idle) and with database/sql's defaults (no cap, 2 idle), and reports
// the connections opened during the run (conns-opened) and open at its end
// (conns-open): with 2 idle, the connections beyond them are closed as
// each request returns its own and opened again by the next, a PostgreSQL
// backend forked and authenticated each time.
func BenchmarkSignIn(b *testing.B) {
	pools := []struct {
		name string
		pool sqlstore.Pool
	}{
		{"store-pool", sqlstore.Pool{}}, // zero: DefaultPool
		{"go-defaults", sqlstore.Pool{MaxIdle: 2}},
	}
	for _, e := range engines {
		for _, p := range pools {
			b.Run(e.name+"/"+p.name, func(b *testing.B) { benchmarkSignIn(b, e.dsn(b), p.pool) })
		}
	}
}

// opened is how many connections the pool has opened so far.
func opened(st sql.DBStats) int64 {
	return int64(st.OpenConnections) + st.MaxIdleClosed + st.MaxIdleTimeClosed + st.MaxLifetimeClosed
}

func benchmarkSignIn(b *testing.B, dsn string, pool sqlstore.Pool) {
	s := startServer(b, dsn, options{pool: pool}, nil)
	body := `{"device_id":"apple_rn-v2:5d8f0c3b9a7e4f21","voip_device_id":"","access_token":"` + devToken(b, s.URL, nil) + `"}`
	if resp := appSignIn(b, s.URL, "/oauth/intune", devToken(b, s.URL, nil)); resp.StatusCode != http.StatusOK {
		b.Fatalf("first sign-in: %d", resp.StatusCode)
	}
	var failed atomic.Int64
	b.SetParallelism(4) // 4 per core: requests wait on the database, not the CPU
	before := opened(s.db.SQL().Stats())
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest(http.MethodPost, "/oauth/intune", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Requested-With", "XMLHttpRequest")
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				failed.Add(1)
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "signins/s")
	b.ReportMetric(float64(s.login.EventsDropped()), "audit-dropped")
	st := s.db.SQL().Stats()
	b.ReportMetric(float64(opened(st)-before), "conns-opened")
	b.ReportMetric(float64(st.OpenConnections), "conns-open")
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d of %d sign-ins failed", n, b.N)
	}
}
