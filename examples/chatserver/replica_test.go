package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mamlogin/mamlogin/examples/chatserver/sqlstore"
	"github.com/mamlogin/mamlogin/internal/pgtest"
	"github.com/mamlogin/mamlogin/intune"
)

// postDevices numbers the devices postSignIn makes up.
var postDevices atomic.Int64

// signInResult is one sign-in made off the test goroutine.
type signInResult struct {
	status        int
	userID, token string
	err           error
}

// postSignIn is appSignIn for other goroutines: it reports, never fails t.
// Each sign-in is on a device of its own (a sign-in on a device revokes
// the device's other sessions).
func postSignIn(base, token string) signInResult {
	device := "apple_rn-v2:" + strconv.FormatInt(postDevices.Add(1), 16)
	body := `{"device_id":"` + device + `","voip_device_id":"","access_token":"` + token + `"}`
	req, err := http.NewRequest(http.MethodPost, base+"/oauth/intune", strings.NewReader(body))
	if err != nil {
		return signInResult{err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Requested-With", "XMLHttpRequest")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return signInResult{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	var u struct {
		ID string `json:"id"`
	}
	if err == nil && resp.StatusCode == http.StatusOK {
		err = json.Unmarshal(b, &u)
	}
	return signInResult{status: resp.StatusCode, userID: u.ID, token: resp.Header.Get("Token"), err: err}
}

// TestTwoReplicas runs two processes of the example binary on one
// PostgreSQL database, each on its own port, sharing one fake tenant.
func TestTwoReplicas(t *testing.T) {
	bin := binary(t)
	dsn := pgtest.Start(t)
	args := []string{"-addr", "127.0.0.1:0", "-dsn", dsn, "-admin-token", adminSecret}
	// Started together, as a deployment starts them: they race to migrate,
	// to make the tenant key and to store the default configuration.
	replicas := []*process{launch(t, bin, nil, args...), launch(t, bin, nil, args...)}
	for _, r := range replicas {
		r.waitReady(t)
	}
	r1, r2 := replicas[0], replicas[1]
	for _, r := range replicas {
		cc := clientConfig(t, r.URL)
		require.Equal(t, "true", cc["IntuneMAMEnabled"], r.URL)
		require.Equal(t, "office365", cc["IntuneAuthService"], r.URL)
	}
	// Whichever replica the app reaches, it is one server to the app.
	diagnosticID := clientConfig(t, r1.URL)["DiagnosticId"]
	require.NotEmpty(t, diagnosticID)
	assert.Equal(t, diagnosticID, clientConfig(t, r2.URL)["DiagnosticId"], "one DiagnosticId, made by the first replica")
	cfg := getJSON[configDoc](t, r1.URL+"/api/v4/intune/config", adminSecret, http.StatusOK)
	assert.Equal(t, cfg, getJSON[configDoc](t, r2.URL+"/api/v4/intune/config", adminSecret, http.StatusOK),
		"one configuration, from the database")
	assert.Contains(t, []string{r1.URL, r2.URL}, cfg.Authority, "the Authority is one of the replicas' fake tenants")

	t.Run("concurrent first sign-ins of one new user", func(t *testing.T) {
		const n = 24
		const oid = "88888888-2222-4333-8444-555555555555"
		q := url.Values{"oid": {oid}, "email": {"new.user@contoso.com"}}
		// Tokens forged by both replicas, each posted to both: one's tokens
		// verify on the other.
		tokens := make([]string, n)
		for i := range tokens {
			tokens[i] = devToken(t, replicas[(i/2)%2].URL, q)
		}
		results := make([]signInResult, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				<-start
				results[i] = postSignIn(replicas[i%2].URL, tokens[i])
			})
		}
		began := time.Now()
		close(start)
		wg.Wait()
		wall := time.Since(began)
		for i, r := range results {
			require.NoError(t, r.err, i)
			require.Equal(t, http.StatusOK, r.status, "sign-in %d (forged by replica %d, posted to replica %d)", i, (i/2)%2+1, i%2+1)
			require.NotEmpty(t, r.token)
			require.Equal(t, results[0].userID, r.userID, "one user")
		}
		db, err := sqlstore.Open(t.Context(), dsn)
		require.NoError(t, err)
		defer db.Close()
		count, err := db.Users().CountUsers(t.Context(), intune.AuthServiceOffice365, oid)
		require.NoError(t, err)
		require.Equal(t, 1, count, "exactly one user")
		t.Logf("%d concurrent first sign-ins of one new user across 2 replicas: all 200, one user, wall time %v",
			n, wall.Round(time.Millisecond))

		// The audit trail is shared too: one record per attempt, from both
		// replicas, and exactly one says it created the user.
		var recs []sqlstore.AuditRecord
		eventually(t, 10*time.Second, func() bool {
			recs = getJSON[[]sqlstore.AuditRecord](t, r2.URL+"/api/v4/intune/audit?limit=100", adminSecret, http.StatusOK)
			return len(recs) >= n
		}, "%d audit records", n)
		created, from := 0, map[string]int{}
		for _, r := range recs {
			var d auditDetail
			require.NoError(t, json.Unmarshal(r.Detail, &d))
			if r.OID == oid && d.Created {
				created++
			}
			from[d.Replica]++
		}
		assert.Equal(t, 1, created, "one attempt created the user")
		assert.Equal(t, map[string]int{r1.URL: n / 2, r2.URL: n / 2}, from)

		// A session issued by one replica is accepted by the other, and
		// logging out on one ends it on both.
		session := results[0].token // issued by replica 1
		me := getJSON[map[string]any](t, r2.URL+"/api/v4/users/me", session, http.StatusOK)
		assert.Equal(t, results[0].userID, me["id"])
		require.Equal(t, http.StatusOK, do(t, http.MethodPost, r2.URL+"/api/v4/users/logout", session, "").StatusCode)
		getJSON[map[string]any](t, r1.URL+"/api/v4/users/me", session, http.StatusUnauthorized)
	})

	t.Run("a configuration change reaches the other replica", func(t *testing.T) {
		change := func(patch string, applied func(cc map[string]string) bool) time.Duration {
			t.Helper()
			began := time.Now()
			resp := do(t, http.MethodPatch, r1.URL+"/api/v4/intune/config", adminSecret, patch)
			require.Equal(t, http.StatusOK, resp.StatusCode, patch)
			version, _ := strconv.Atoi(resp.Header.Get(ConfigVersionHeader))
			require.Greater(t, version, 1)
			deadline := began.Add(2 * time.Second)
			poll := time.NewTicker(5 * time.Millisecond)
			defer poll.Stop()
			for !applied(clientConfig(t, r2.URL)) {
				require.True(t, time.Now().Before(deadline), "%s not on replica 2 within 2s", patch)
				<-poll.C
			}
			return time.Since(began)
		}
		off := change(`{"Enable":false}`, func(cc map[string]string) bool { return cc["IntuneMAMEnabled"] == "false" })
		saml := change(`{"Enable":true,"AuthService":"saml"}`, func(cc map[string]string) bool {
			return cc["IntuneMAMEnabled"] == "true" && cc["IntuneAuthService"] == "saml"
		})
		t.Logf("propagation to replica 2, from the admin's PATCH on replica 1: Enable=false %v; Enable=true AuthService=saml %v",
			off.Round(time.Millisecond), saml.Round(time.Millisecond))

		// Replica 2 signs in on it: SAML never creates users.
		resp := appSignIn(t, r2.URL, "/oauth/intune", devToken(t, r2.URL, url.Values{"oid": {"99999999-2222-4333-8444-555555555555"}}))
		assert.Equal(t, http.StatusPreconditionRequired, resp.StatusCode)
		assert.Equal(t, intune.ErrAccountNotFound.ID, errorID(t, resp))
		assert.Equal(t, getJSON[configDoc](t, r1.URL+"/api/v4/intune/config", adminSecret, http.StatusOK),
			getJSON[configDoc](t, r2.URL+"/api/v4/intune/config", adminSecret, http.StatusOK))
	})
}
