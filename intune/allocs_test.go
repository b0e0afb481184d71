// The race detector makes sync.Pool drop a random share of what is put
// back, so allocation counts are only meaningful without it: .ci/run runs
// this file in a second, race-free pass.

//go:build !race

package intune_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mamlogin/mamlogin/intune"
	"github.com/mamlogin/mamlogin/intune/intunetest"
)

// reusedWriter is a ResponseWriter that keeps its header map between
// requests and discards the body, so that AllocsPerRun counts the
// handler's own allocations and none of the test's plumbing.
type reusedWriter struct {
	hdr    http.Header
	status int
}

func (w *reusedWriter) Header() http.Header         { return w.hdr }
func (w *reusedWriter) WriteHeader(status int)      { w.status = status }
func (w *reusedWriter) Write(p []byte) (int, error) { return len(p), nil }

// TestAllocationBudgets pins what one answer allocates inside the handler.
// Rejecting garbage must cost far less than a sign-in, and a flood must not
// pay for what nobody reads: a reason formatted for a log record the limit
// drops, a key miss formatted by keyfunc, a header key canonicalised per
// call. A change that brings one back fails here, not in a benchmark nobody
// runs.
func TestAllocationBudgets(t *testing.T) {
	tenant := newTenant(t)
	cfg := tenant.Config()
	v := newValidator(t, cfg)
	store := intunetest.NewStore()
	store.Add(cfg.AuthService, intunetest.UserOID, intunetest.Profile{Username: "alice"})
	// A limit already spent: the flood's records are dropped, as in a real flood.
	h := intune.NewLoginHandler(cfg, v, store, plainSessions{}, intune.WithLogger(quiet), intune.WithFailureLogLimit(1e-9, 1))
	t.Cleanup(func() { _ = h.Close() })
	rogue := intunetest.NewKey()

	for _, tt := range []struct {
		name   string
		body   string
		status int
		budget float64
	}{
		// The request, its answer headers, its id, the error and its
		// reason's arguments: nothing formatted.
		{"malformed", appBody("not.a.token"), http.StatusBadRequest, 8},
		{"unknown kid", appBody(tenant.Token(intunetest.WithKey(rogue))), http.StatusBadRequest, 8},
		// Of these, the RSA verify and golang-jwt's hashing take about 14.
		{"expired", appBody(tenant.Token(intunetest.WithExpiry(time.Now().Add(-time.Hour)))), http.StatusBadRequest, 30},
		{"sign-in", appBody(tenant.Token()), http.StatusOK, 30},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body := strings.NewReader(tt.body)
			req, err := http.NewRequest(http.MethodPost, "/oauth/intune", io.NopCloser(body))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/json")
			req.ContentLength = int64(len(tt.body))
			w := &reusedWriter{hdr: http.Header{}}
			serve := func() {
				body.Reset(tt.body)
				clear(w.hdr)
				h.ServeHTTP(w, req)
			}
			serve() // the unknown kid's one allowed refresh; the log limit's one record
			require.Equal(t, tt.status, w.status)
			got := testing.AllocsPerRun(200, serve)
			require.Equal(t, tt.status, w.status)
			assert.LessOrEqual(t, got, tt.budget, "allocations per answer")
			t.Logf("%s: %.0f allocations", tt.name, got)
		})
	}
}

// plainSessions sets a Token header and keeps nothing.
type plainSessions struct{}

func (plainSessions) IssueSession(_ context.Context, w http.ResponseWriter, _ *http.Request, s *intune.SignIn) error {
	w.Header().Set("Token", "session-"+s.User.ID)
	return nil
}
