package main

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mamlogin/mamlogin/intune"
)

// patch sends a PATCH of the configuration, with If-Match when ifMatch is set.
func patch(t testing.TB, base, body, ifMatch string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPatch, base+"/api/v4/intune/config", strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+adminSecret)
	req.Header.Set("Content-Type", "application/json")
	if ifMatch != "" {
		req.Header.Set("If-Match", ifMatch)
	}
	return send(t, req)
}

// storedDoc is the configuration in the database, and its version.
func storedDoc(t testing.TB, s *testServer) (configDoc, int64) {
	t.Helper()
	body, version, err := s.db.LoadConfig(t.Context())
	require.NoError(t, err)
	doc, err := decodeDoc(body, configDoc{})
	require.NoError(t, err)
	return doc, version
}

// TestConfigChangeIsEnforced: what the admin changes is what sign-in
// enforces; a refused change leaves the stored and the live configuration
// exactly as they were.
func TestConfigChangeIsEnforced(t *testing.T) {
	eachEngine(t, func(t *testing.T, dsn string) {
		s := startServer(t, dsn, options{}, nil)
		endpoint := s.URL + "/api/v4/intune/config"
		token := devToken(t, s.URL, nil) // azp: the shipping app's beta client
		require.Equal(t, http.StatusOK, appSignIn(t, s.URL, "/oauth/intune", token).StatusCode)

		// Refused: the live and the stored configuration are untouched, and
		// the app is still told Intune is on.
		before := getJSON[configDoc](t, endpoint, adminSecret, http.StatusOK)
		storedBefore, versionBefore := storedDoc(t, s)
		resp := patch(t, s.URL, `{"AllowedClientIDs":["`+intune.MobileClientRelease+`","app"]}`, "")
		require.Equal(t, http.StatusBadRequest, resp.StatusCode)
		assert.Equal(t, before, getJSON[configDoc](t, endpoint, adminSecret, http.StatusOK))
		stored, version := storedDoc(t, s)
		assert.Equal(t, storedBefore, stored)
		assert.Equal(t, versionBefore, version)
		assert.Equal(t, "true", clientConfig(t, s.URL)["IntuneMAMEnabled"])
		require.Equal(t, http.StatusOK, appSignIn(t, s.URL, "/oauth/intune", token).StatusCode)

		// Accepted: the beta client removed is refused from the next sign-in on.
		resp = patch(t, s.URL, `{"AllowedClientIDs":["`+intune.MobileClientRelease+`"]}`, "")
		require.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, []string{intune.MobileClientRelease}, decode[configDoc](t, resp).AllowedClientIDs)
		assert.Equal(t, []string{intune.MobileClientRelease}, getJSON[configDoc](t, endpoint, adminSecret, http.StatusOK).AllowedClientIDs)
		r := appSignIn(t, s.URL, "/oauth/intune", token)
		assert.Equal(t, http.StatusUnauthorized, r.StatusCode)
		assert.Equal(t, intune.ErrInvalidToken.ID, errorID(t, r))
		stored, _ = storedDoc(t, s)
		assert.Equal(t, []string{intune.MobileClientRelease}, stored.AllowedClientIDs)
	})
}

// TestConcurrentConfigChanges: changes of different fields made at once
// (while GETs and sign-ins run, -race) are serialised, each made from the
// other's result: none is lost. A change made from a version that is no
// longer the stored one (If-Match) is refused with 412, changing nothing.
func TestConcurrentConfigChanges(t *testing.T) {
	eachEngine(t, func(t *testing.T, dsn string) {
		s := startServer(t, dsn, options{}, nil)
		endpoint := s.URL + "/api/v4/intune/config"
		_, v0 := storedDoc(t, s)
		changes := []string{`{"Leeway":"7s"}`, `{"AllowedClientIDs":["` + intune.MobileClientBeta + `"]}`, `{"AuthService":"openid"}`}
		done := make(chan struct{})
		var readers, writers sync.WaitGroup
		for range 2 {
			readers.Go(func() {
				for {
					select {
					case <-done:
						return
					default:
					}
					getJSON[configDoc](t, endpoint, adminSecret, http.StatusOK)
					clientConfig(t, s.URL)
				}
			})
		}
		for _, body := range changes {
			writers.Go(func() {
				resp := patch(t, s.URL, body, "")
				assert.Equal(t, http.StatusOK, resp.StatusCode, body)
			})
		}
		writers.Wait()
		close(done)
		readers.Wait()

		want := configDoc{}
		for _, c := range []string{`{"Leeway":"7s"}`, `{"AllowedClientIDs":["` + intune.MobileClientBeta + `"]}`, `{"AuthService":"openid"}`} {
			require.NoError(t, json.Unmarshal([]byte(c), &want))
		}
		live := getJSON[configDoc](t, endpoint, adminSecret, http.StatusOK)
		stored, version := storedDoc(t, s)
		for _, doc := range []configDoc{live, stored} {
			assert.Equal(t, want.Leeway, doc.Leeway)
			assert.Equal(t, want.AllowedClientIDs, doc.AllowedClientIDs)
			assert.Equal(t, want.AuthService, doc.AuthService)
		}
		assert.Equal(t, v0+int64(len(changes)), version, "one version per change")

		// If-Match: the current ETag is accepted, a stale one refused.
		resp := do(t, http.MethodGet, endpoint, adminSecret, "")
		etag := resp.Header.Get("ETag")
		require.Equal(t, strconv.Quote(strconv.FormatInt(version, 10)), etag)
		require.Equal(t, http.StatusOK, patch(t, s.URL, `{"Leeway":"8s"}`, etag).StatusCode)
		resp = patch(t, s.URL, `{"Leeway":"9s"}`, etag)
		require.Equal(t, http.StatusPreconditionFailed, resp.StatusCode)
		assert.Equal(t, "api.intune.config.conflict.app_error", errorID(t, resp))
		assert.Equal(t, "8s", getJSON[configDoc](t, endpoint, adminSecret, http.StatusOK).Leeway)
		assert.Equal(t, http.StatusBadRequest, patch(t, s.URL, `{"Leeway":"9s"}`, "yesterday").StatusCode)
	})
}

// TestTwoReplicasCannotLoseAnUpdate: two replicas on one PostgreSQL change
// the configuration at once, each a field of its own. Each change is
// answered 200 and kept, or refused 409 (the stored version moved between
// the replica's read and its write) and taken back on that replica: never
// answered 200 and lost.
func TestTwoReplicasCannotLoseAnUpdate(t *testing.T) {
	dsn := engines[1].dsn(t)
	a := startServer(t, dsn, options{}, nil)
	b := startServer(t, dsn, options{}, nil)
	fields := []struct {
		replica *testServer
		body    string
		kept    func(configDoc) bool
	}{
		{a, `{"Leeway":"3s"}`, func(d configDoc) bool { return d.Leeway == "3s" }},
		{b, `{"AllowedClientIDs":["` + intune.MobileClientBeta + `"]}`, func(d configDoc) bool {
			return len(d.AllowedClientIDs) == 1 && d.AllowedClientIDs[0] == intune.MobileClientBeta
		}},
	}
	for round := range 5 {
		codes := make([]int, len(fields))
		var wg sync.WaitGroup
		for i, f := range fields {
			wg.Go(func() { codes[i] = patch(t, f.replica.URL, f.body, "").StatusCode })
		}
		wg.Wait()
		stored, _ := storedDoc(t, a)
		t.Logf("round %d: answers %v", round, codes)
		for i, f := range fields {
			require.Contains(t, []int{http.StatusOK, http.StatusConflict}, codes[i], "round %d: %s", round, f.body)
			if codes[i] == http.StatusOK {
				assert.True(t, f.kept(stored), "round %d: %s answered 200 but the stored configuration is %+v", round, f.body, stored)
			}
		}
		// Undo both for the next round (one at a time: no race).
		require.Equal(t, http.StatusOK, patch(t, a.URL, `{"Leeway":"","AllowedClientIDs":["`+intune.MobileClientRelease+`","`+intune.MobileClientBeta+`"]}`, "").StatusCode)
	}
}
