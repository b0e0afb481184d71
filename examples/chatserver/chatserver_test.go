package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mamlogin/mamlogin/intune"
	"github.com/mamlogin/mamlogin/intune/intunetest"
)

func startServer(t *testing.T, o options, tls bool) (*server, *httptest.Server) {
	t.Helper()
	if o.logger == nil {
		o.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s, err := newServer(t.Context(), o)
	require.NoError(t, err)
	t.Cleanup(s.Close)
	ts := httptest.NewUnstartedServer(s)
	if tls {
		ts.StartTLS()
	} else {
		ts.Start()
	}
	t.Cleanup(ts.Close)
	return s, ts
}

// appSignIn sends exactly what the shipping iOS app sends (mattermost-mobile
// loginByIntune): POST, the three body fields, its headers, no session, no CSRF.
func appSignIn(t *testing.T, c *http.Client, base, path, token string) *http.Response {
	t.Helper()
	body := `{"device_id":"apple_rn-v2:5d8f0c3b9a7e4f21","voip_device_id":"","access_token":"` + token + `"}`
	req, err := http.NewRequest(http.MethodPost, base+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Cache-Control", "no-store")
	req.Header.Set("X-Requested-With", "XMLHttpRequest")
	req.Header.Set("User-Agent", "Mattermost Mobile/2.31.0 (iOS; 18.1; iPhone15,2)")
	resp, err := c.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func getJSON(t *testing.T, c *http.Client, url, bearer string, into any) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.NoError(t, json.NewDecoder(resp.Body).Decode(into))
	return resp.StatusCode
}

// TestAppReplay plays the shipping app's sign-in against the example server
// over a real loopback listener: client config, the sign-in at both mount
// points, then the app's follow-up call with the bearer token.
func TestAppReplay(t *testing.T) {
	for _, path := range []string{"/oauth/intune", "/api/v4/users/login/intune"} {
		t.Run(path, func(t *testing.T) {
			s, ts := startServer(t, options{service: intune.AuthServiceOffice365}, false)
			c := ts.Client()

			var cc map[string]string
			require.Equal(t, 200, getJSON(t, c, ts.URL+"/api/v4/config/client", "", &cc))
			assert.Equal(t, "true", cc["IntuneMAMEnabled"])
			assert.Equal(t, "api://"+intunetest.ClientID+"/login.mattermost", cc["IntuneScope"])
			assert.True(t, strings.EqualFold("office365", cc["IntuneAuthService"]), "matches the app's sign-in button type")

			resp := appSignIn(t, c, ts.URL, path, s.tenant.Token())
			require.Equal(t, http.StatusOK, resp.StatusCode)
			token := resp.Header.Get("Token")
			require.NotEmpty(t, token, "the app reads the Token header")
			cookies := map[string]*http.Cookie{}
			for _, ck := range resp.Cookies() {
				cookies[ck.Name] = ck
			}
			require.Contains(t, cookies, "MMCSRF", "the app reads its CSRF token from this cookie")
			require.Contains(t, cookies, "MMUSERID")
			require.Contains(t, cookies, "MMAUTHTOKEN")
			assert.True(t, cookies["MMAUTHTOKEN"].HttpOnly)
			assert.False(t, cookies["MMAUTHTOKEN"].Secure, "plain http on loopback")
			assert.Equal(t, token, cookies["MMAUTHTOKEN"].Value)

			var user map[string]any
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&user))
			assert.NotEmpty(t, user["id"])
			assert.Equal(t, cc["IntuneAuthService"], user["auth_service"])
			assert.Equal(t, user["id"], cookies["MMUSERID"].Value)

			var me map[string]any
			require.Equal(t, 200, getJSON(t, c, ts.URL+"/api/v4/users/me", token, &me))
			assert.Equal(t, user["id"], me["id"])

			in := s.sessions.signIns()
			require.Len(t, in, 1)
			assert.Equal(t, "apple_rn-v2:5d8f0c3b9a7e4f21", in[0].DeviceID)
			assert.Equal(t, "", in[0].VoIPDeviceID)
		})
	}
}

// TestAppRetryOn401: the app retries once, silently, with a fresh token, only
// on 401. With -retry-401 an expired token answers 401 (same ID and message),
// and the retry signs in.
func TestAppRetryOn401(t *testing.T) {
	s, ts := startServer(t, options{service: intune.AuthServiceOpenID, retry401: true}, false)
	c := ts.Client()
	expired := s.tenant.Token(intunetest.WithClaim("exp", 1700000000))
	resp := appSignIn(t, c, ts.URL, "/oauth/intune", expired)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	var e map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&e))
	assert.Equal(t, intune.ErrTokenExpired.ID, e["id"])
	assert.Equal(t, intune.ErrTokenExpired.Message, e["message"])
	assert.EqualValues(t, 401, e["status_code"])
	assert.Empty(t, resp.Header.Get("Token"))

	resp = appSignIn(t, c, ts.URL, "/oauth/intune", s.tenant.Token())
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.NotEmpty(t, resp.Header.Get("Token"))

	// Without the flag: the documented 400, which the app does not retry.
	s2, ts2 := startServer(t, options{service: intune.AuthServiceOpenID}, false)
	resp = appSignIn(t, ts2.Client(), ts2.URL, "/oauth/intune", s2.tenant.Token(intunetest.WithClaim("exp", 1700000000)))
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
}

func TestSecureCookieUnderTLS(t *testing.T) {
	s, ts := startServer(t, options{service: intune.AuthServiceOpenID}, true)
	resp := appSignIn(t, ts.Client(), ts.URL, "/oauth/intune", s.tenant.Token())
	require.Equal(t, http.StatusOK, resp.StatusCode)
	for _, ck := range resp.Cookies() {
		if ck.Name == "MMAUTHTOKEN" {
			assert.True(t, ck.Secure)
			assert.True(t, ck.HttpOnly)
			return
		}
	}
	t.Fatal("no MMAUTHTOKEN cookie")
}

func TestExampleFailuresAndSAML(t *testing.T) {
	s, ts := startServer(t, options{service: intune.AuthServiceSAML}, false)
	c := ts.Client()
	// The provisioned SAML user signs in; an unknown one is told to use the web first.
	resp := appSignIn(t, c, ts.URL, "/oauth/intune", s.tenant.Token())
	require.Equal(t, http.StatusOK, resp.StatusCode)
	resp = appSignIn(t, c, ts.URL, "/oauth/intune", s.tenant.Token(intunetest.WithClaim("oid", "11111111-2222-4333-8444-555555555555")))
	assert.Equal(t, http.StatusPreconditionRequired, resp.StatusCode)
	resp = appSignIn(t, c, ts.URL, "/oauth/intune", s.tenant.Token(intunetest.WithClaim("oid", "b07b07b0-7b07-4b07-8b07-b07b07b07b07")))
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	var me map[string]any
	assert.Equal(t, http.StatusUnauthorized, getJSON(t, c, ts.URL+"/api/v4/users/me", "not-a-session", &me))
	// The dev token endpoint serves tokens the server accepts.
	r, err := c.Get(ts.URL + "/dev/token")
	require.NoError(t, err)
	tok, _ := io.ReadAll(r.Body)
	r.Body.Close()
	resp = appSignIn(t, c, ts.URL, "/oauth/intune", strings.TrimSpace(string(tok)))
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}
