package main

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mamlogin/mamlogin/internal/pgtest"
	"github.com/mamlogin/mamlogin/intune"
)

// TestReplicaRestartedAfterKillNeverSaysNotConfigured is the soak's lost
// sign-ins, as processes: a replica killed with SIGKILL and started again
// on the shared PostgreSQL is sent sign-ins from the moment it says where
// it listens (before it has even opened the database), as a load balancer
// that has not yet seen it fail would. Every answer is not_ready (503 with
// Retry-After) until its configuration is applied, then a sign-in: none is
// not_configured, which would tell the app that Intune is off.
func TestReplicaRestartedAfterKillNeverSaysNotConfigured(t *testing.T) {
	bin := binary(t)
	dsn := pgtest.Start(t)
	args := []string{"-addr", "127.0.0.1:0", "-dsn", dsn, "-admin-token", adminSecret}
	first := startProcess(t, bin, nil, args...) // the Authority of the stored configuration
	token := devToken(t, first.URL, nil)

	killed := startProcess(t, bin, nil, args...)
	require.NoError(t, killed.cmd.Process.Kill())
	<-killed.exited

	again := launch(t, bin, nil, args...)
	var base string
	select {
	case base = <-again.out.url:
	case <-time.After(60 * time.Second):
		t.Fatalf("not listening within 60s:\n%s", again.out)
	}
	answers := map[string]int{}
	deadline := time.Now().Add(60 * time.Second)
	for signedIn := false; !signedIn; {
		require.True(t, time.Now().Before(deadline), "no sign-in within 60s: %v\n%s", answers, again.out)
		resp, err := http.Post(base+"/oauth/intune", "application/json",
			strings.NewReader(`{"device_id":"","access_token":"`+token+`"}`))
		if err != nil {
			answers["connection refused or reset"]++
			continue // not yet accepting: the next attempt is the first instant it does
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		resp.Body = io.NopCloser(bytes.NewReader(body))
		r := resp
		key := strconv.Itoa(r.StatusCode)
		if r.StatusCode != http.StatusOK {
			key += " " + errorID(t, r)
			if r.StatusCode == http.StatusServiceUnavailable {
				assert.Equal(t, "1", r.Header.Get("Retry-After"))
			}
		}
		answers[key]++
		signedIn = r.StatusCode == http.StatusOK
	}
	t.Logf("answers until the first sign-in: %v", answers)
	for k := range answers {
		assert.Contains(t, []string{"connection refused or reset", "503 " + intune.ErrNotReady.ID, "200"}, k)
	}
}
