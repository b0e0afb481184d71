package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mamlogin/mamlogin/examples/chatserver/sqlstore"
	"github.com/mamlogin/mamlogin/intune"
)

// TestMetrics scrapes /metrics after one success and one failure of each
// kind the server can be made to answer, and checks every series.
func TestMetrics(t *testing.T) {
	s := startServer(t, sqliteFile(t), options{}, nil)
	ctx := t.Context()
	const botOID, goneOID = "b07b07b0-7b07-4b07-8b07-b07b07b07b07", "dead0000-0000-4000-8000-000000000000"
	_, err := s.users.AddUser(ctx, sqlstore.Profile{Username: "bot", AuthService: "office365", AuthData: botOID, IsBot: true})
	require.NoError(t, err)
	_, err = s.users.AddUser(ctx, sqlstore.Profile{Username: "gone", AuthService: "office365", AuthData: goneOID, DeleteAt: 1})
	require.NoError(t, err)

	signIn := func(q url.Values) { appSignIn(t, s.URL, "/oauth/intune", devToken(t, s.URL, q)) }
	want := map[string]int{} // outcome -> count, provider office365
	signIn(url.Values{})
	want[intune.OutcomeSuccess]++
	for _, tc := range []struct {
		q  url.Values
		id string
	}{
		{url.Values{"expired": {"1"}}, intune.ErrTokenExpired.ID},
		{url.Values{"aud": {"api://someone-else"}}, intune.ErrInvalidToken.ID},
		{url.Values{"tid": {"0d9f2a4b-1c3e-4f5a-8b7c-6d5e4f3a2b1c"}}, intune.ErrInvalidTenant.ID},
		{url.Values{"ver": {"1.0"}}, intune.ErrExtractAuthData.ID},
		{url.Values{"oid": {"not-a-guid"}}, intune.ErrExtractAuthData.ID},
		{url.Values{"oid": {botOID}}, intune.ErrBotLoginForbidden.ID},
		{url.Values{"oid": {goneOID}}, intune.ErrAccountLocked.ID},
	} {
		signIn(tc.q)
		want[tc.id]++
	}
	appSignIn(t, s.URL, "/oauth/intune", "garbage")
	want[intune.ErrInvalidToken.ID]++

	// SAML: an unknown user is 428; disabled: not_configured, no provider.
	require.Equal(t, http.StatusOK, do(t, http.MethodPatch, s.URL+"/api/v4/intune/config", adminSecret, `{"AuthService":"saml"}`).StatusCode)
	appSignIn(t, s.URL, "/oauth/intune", devToken(t, s.URL, url.Values{"oid": {"22222222-2222-4333-8444-555555555555"}}))
	require.Equal(t, http.StatusOK, do(t, http.MethodPatch, s.URL+"/api/v4/intune/config", adminSecret, `{"Enable":false}`).StatusCode)
	appSignIn(t, s.URL, "/oauth/intune", devToken(t, s.URL, url.Values{}))

	assert.Equal(t, http.StatusUnauthorized, do(t, http.MethodGet, s.URL+"/metrics", "", "").StatusCode, "behind the admin token")

	var text string
	scrape := func() string {
		resp := do(t, http.MethodGet, s.URL+"/metrics", adminSecret, "")
		require.Equal(t, http.StatusOK, resp.StatusCode)
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	series := func(outcome, provider string, n int) string {
		return `chatserver_intune_signins_total{outcome="` + outcome + `",provider="` + provider + `"} ` + itoa(n)
	}
	eventually(t, 5*time.Second, func() bool {
		text = scrape()
		return strings.Contains(text, series(intune.ErrNotConfigured.ID, "none", 1))
	}, "the last sign-in's event")
	for outcome, n := range want {
		assert.Contains(t, text, series(outcome, "office365", n))
	}
	assert.Contains(t, text, series(intune.ErrAccountNotFound.ID, "saml", 1))
	assert.Contains(t, text, series(intune.ErrNotConfigured.ID, "none", 1))
	for _, line := range []string{
		`chatserver_intune_signin_duration_seconds_count{result="success"} 1`,
		`chatserver_intune_keyset_keys 1`,
		`chatserver_intune_keyset_fetches_total{result="success",trigger="start"}`,
		`chatserver_intune_keyset_last_success_age_seconds`,
		`chatserver_intune_entra_clock_offset_seconds`,
		`go_goroutines`,
	} {
		assert.Contains(t, text, line)
	}
	t.Logf("metrics sample:\n%s", grepLines(text, "chatserver_intune_signins_total", "chatserver_intune_keyset_keys", "chatserver_intune_keyset_last_success"))
}

func itoa(n int) string { return strconv.Itoa(n) }

// grepLines keeps the lines of text that start with one of the prefixes.
func grepLines(text string, prefixes ...string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		for _, p := range prefixes {
			if strings.HasPrefix(l, p) {
				out = append(out, l)
			}
		}
	}
	return strings.Join(out, "\n")
}

// TestAdminTestPage: the page is behind the admin token (Bearer for a
// console, Basic for a browser) and runs the doctor with the live
// configuration and the user store.
func TestAdminTestPage(t *testing.T) {
	s := startServer(t, sqliteFile(t), options{}, nil)
	page := s.URL + "/admin/intune/test"
	assert.Equal(t, http.StatusUnauthorized, do(t, http.MethodGet, page, "", "").StatusCode)

	req, err := http.NewRequest(http.MethodGet, page, nil)
	require.NoError(t, err)
	req.SetBasicAuth("admin", adminSecret)
	resp := send(t, req)
	body, _ := io.ReadAll(resp.Body)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, string(body), "<textarea")

	// A user signs in once; the page then says who a token signs in as.
	tok := devToken(t, s.URL, url.Values{})
	require.Equal(t, http.StatusOK, appSignIn(t, s.URL, "/oauth/intune", tok).StatusCode)
	res := getResult(t, do(t, http.MethodPost, page, adminSecret, `{"token":"`+tok+`"}`))
	assert.Equal(t, "", res["verdict"])
	assert.Contains(t, res["summary"], "sign in as user")

	res = getResult(t, do(t, http.MethodPost, page, adminSecret, `{"token":"`+devToken(t, s.URL, url.Values{"expired": {"1"}})+`"}`))
	assert.Equal(t, intune.ErrTokenExpired.ID, res["verdict"])
}

func getResult(t *testing.T, resp *http.Response) map[string]string {
	t.Helper()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var raw map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&raw))
	out := map[string]string{}
	for k, v := range raw {
		if s, ok := v.(string); ok {
			out[k] = s
		}
	}
	return out
}
