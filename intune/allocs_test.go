// The race detector makes sync.Pool drop a random share of what is put
// back, so allocation counts are only meaningful without it: .ci/run runs
// this file in a second, race-free pass.

//go:build !race

package intune_test

import (
	"encoding/json"
	"fmt"
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

// reusedWriter is a ResponseWriter that keeps its header map and body
// buffer between requests, so that AllocsPerRun counts the
// handler's own allocations and none of the test's plumbing.
type reusedWriter struct {
	hdr    http.Header
	status int
	body   []byte
}

func (w *reusedWriter) Header() http.Header    { return w.hdr }
func (w *reusedWriter) WriteHeader(status int) { w.status = status }
func (w *reusedWriter) Write(p []byte) (int, error) {
	w.body = append(w.body, p...)
	return len(p), nil
}

// TestAllocationBudgets pins what one answer allocates inside the handler.
// Rejecting garbage must cost far less than a sign-in, and a flood must not
// pay for what nobody reads: a rejected token's claims read for a log record
// the limit drops, a header key canonicalised per call. (A reason is
// formatted when the error is made: that costs a rejection at most 0.02x an
// RSA verify.) A change that adds allocations fails here, not in a
// benchmark nobody runs.
func TestAllocationBudgets(t *testing.T) {
	r := newRig(t, intune.AuthServiceOpenID)
	r.store.Add(r.cfg.AuthService, intunetest.UserOID, intunetest.Profile{Username: "alice"})
	tenant := r.tenant
	rogue := intunetest.NewKey()
	rows := []struct {
		name   string
		body   string
		status int
		id     string
		budget float64
	}{
		// The request, its answer headers, its id, the body's strings
		// (copied out of the JSON decoder's recycled buffer, which the body
		// is read into: no buffer of the request's own; the decoder fills
		// the request itself: no adapter, no closure), the header's reading
		// and the error with its reason.
		{"malformed", appBody("not.a.token"), http.StatusBadRequest, intune.ErrInvalidToken.ID, 11},
		// Plus the one key lookup's miss, as the cache reports it (its
		// text one concatenation, which is also the reason) and keyfunc
		// wraps it (errors.Join and fmt.Errorf: 7 of these, keyfunc's own).
		{"unknown kid", appBody(tenant.Token(intunetest.WithKey(rogue))), http.StatusBadRequest, intune.ErrInvalidToken.ID, 19},
		// Of these, the RSA verify and golang-jwt's hashing take about 14,
		// the claims (one string each) about 20.
		{"expired", appBody(tenant.Token(intunetest.WithExpiry(time.Now().Add(-time.Hour)))), http.StatusBadRequest, intune.ErrTokenExpired.ID, 48},
		// With the test kit's store and an issuer that sets one header.
		{"sign-in", appBody(tenant.Token()), http.StatusOK, "", 49},
	}
	for _, withEvents := range []bool{false, true} {
		// A limit already spent: the flood's records are dropped, as in a
		// real flood.
		opts := []intune.HandlerOption{intune.WithLogger(quiet), intune.WithFailureLogLimit(1e-9, 1)}
		if withEvents {
			// A host with a receiver: the reason of a failure is formatted
			// on the dispatcher's goroutine, off the request path. The
			// receiver holds that goroutine on the first event, so that
			// AllocsPerRun (which counts every goroutine) sees the request
			// path alone; the buffer holds the rest.
			release := make(chan struct{})
			t.Cleanup(func() { close(release) })
			opts = append(opts, intune.WithEvents(func(intune.SignInEvent) { <-release }))
		}
		h := intune.NewLoginHandler(r.cfg, r.v, r.store, tokenSessions{}, opts...)
		t.Cleanup(func() { _ = h.Close() })
		for _, tt := range rows {
			t.Run(fmt.Sprintf("%s/events=%v", tt.name, withEvents), func(t *testing.T) {
				body := strings.NewReader(tt.body)
				req, err := http.NewRequest(http.MethodPost, "/oauth/intune", io.NopCloser(body))
				require.NoError(t, err)
				req.Header.Set("Content-Type", "application/json")
				req.ContentLength = int64(len(tt.body))
				w := &reusedWriter{hdr: http.Header{}}
				serve := func() {
					body.Reset(tt.body)
					clear(w.hdr)
					w.body = w.body[:0]
					h.ServeHTTP(w, req)
				}
				serve() // the unknown kid's one allowed refresh; the log limit's one record
				require.Equal(t, tt.status, w.status)
				if tt.id != "" {
					var answer struct{ ID string }
					require.NoError(t, json.Unmarshal(w.body, &answer))
					require.Equal(t, tt.id, answer.ID, "rejected by the step this row is about")
				}
				got := testing.AllocsPerRun(200, serve)
				require.Equal(t, tt.status, w.status)
				assert.LessOrEqual(t, got, tt.budget, "allocations per answer")
				t.Logf("%.0f allocations", got)
			})
		}
	}
}
