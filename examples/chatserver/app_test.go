package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mamlogin/mamlogin/examples/chatserver/sqlstore"
	"github.com/mamlogin/mamlogin/internal/clock"
	"github.com/mamlogin/mamlogin/intune"
	"github.com/mamlogin/mamlogin/intune/intunetest"
)

// TestAppReplay plays the shipping app's whole server-adding path against
// the example server over a real loopback listener, at both sign-in mounts
// and on both databases, as mattermost-mobile (06ed862d) does it:
//
//  1. The server screen (app/screens/server/index.tsx): a HEAD of the URL
//     to follow redirects (getServerUrlAfterRedirect, app/utils/url/index.ts);
//     the ping, GET /api/v4/system/ping?time=<ms>&device_id=<push id>, which
//     must be 2xx (doPing, app/actions/remote/general.ts;
//     CanReceiveNotifications "false" or "unknown" would raise an alert,
//     absent is "verified"); then the client configuration and licence in
//     the old format (fetchConfigAndLicense, app/actions/remote/systems.ts,
//     app/client/rest/general.ts). A configuration without DiagnosticId is
//     refused there ("A DiagnosticId value is missing for this server").
//  2. The SSO screen (app/screens/sso/index.tsx) signs in natively with
//     Entra only on iOS, with IntuneMAMEnabled "true", IntuneScope set,
//     IntuneAuthService equal to the button's type ignoring case, and a
//     licence of at least Enterprise Advanced (isMinimumLicenseTier,
//     app/utils/helpers.ts: IsLicensed "true", SkuShortName a known tier).
//  3. nativeEntraLogin (app/actions/remote/session.ts): POST /oauth/intune
//     with the app's body and headers (loginByIntune, app/client/rest/users.ts),
//     the Token header and MMCSRF cookie, then /users/me; here also logout.
func TestAppReplay(t *testing.T) {
	eachEngine(t, func(t *testing.T, dsn string) {
		s := startServer(t, dsn, options{}, nil)

		// 1. The server screen. The HEAD is answered, by the server itself.
		head, err := http.Head(s.URL)
		require.NoError(t, err)
		head.Body.Close()
		assert.Equal(t, s.URL, strings.TrimSuffix(head.Request.URL.String(), "/"), "no redirect elsewhere")
		ping := getJSON[map[string]any](t, s.URL+"/api/v4/system/ping?time="+strconv.FormatInt(time.Now().UnixMilli(), 10)+
			"&device_id=apple_rn-v2:5d8f0c3b9a7e4f21", "", http.StatusOK)
		assert.NotContains(t, []any{"false", "unknown"}, ping["CanReceiveNotifications"], "no push-proxy alert")

		cc := clientConfig(t, s.URL)
		lic := getJSON[map[string]string](t, s.URL+"/api/v4/license/client?format=old", "", http.StatusOK)
		require.NotEmpty(t, cc["DiagnosticId"], "the app refuses a server without one")
		assert.Len(t, cc["DiagnosticId"], 26, "a Mattermost id")
		assert.Equal(t, cc["DiagnosticId"], clientConfig(t, s.URL)["DiagnosticId"], "the same on every request")
		for _, k := range []string{"Version", "SiteName", "BuildNumber"} {
			assert.NotEmpty(t, cc[k], k)
		}
		// Mattermost serves the old format only.
		for _, path := range []string{"/api/v4/license/client", "/api/v4/config/client"} {
			assert.Equal(t, http.StatusNotImplemented, do(t, http.MethodGet, s.URL+path, "", "").StatusCode, path)
		}

		// 2. The SSO screen offers native Entra sign-in: a licence of at least
		// Enterprise Advanced...
		assert.Equal(t, "true", lic["IsLicensed"])
		assert.Contains(t, []string{"advanced", "entry"}, lic["SkuShortName"])
		for _, k := range []string{"SkuName", "IssuedAt", "StartsAt", "ExpiresAt", "Users", "Office365OAuth", "OpenId", "SAML", "IsTrial"} {
			assert.NotEmpty(t, lic[k], k)
		}
		// ... and a client config that enables it, with the scope to ask MSAL for.
		assert.Equal(t, "true", cc["IntuneMAMEnabled"])
		assert.Equal(t, "api://"+intunetest.ClientID+"/login.mattermost", cc["IntuneScope"])
		assert.True(t, strings.EqualFold("office365", cc["IntuneAuthService"]), "matches the app's sign-in button type")
		assert.Equal(t, "true", cc["EnableSignUpWithOffice365"], "the button the app matches is on")

		// 3. The sign-in.
		var userID string
		for _, path := range []string{"/oauth/intune", "/api/v4/users/login/intune"} {
			t.Run(path, func(t *testing.T) {
				resp := appSignIn(t, s.URL, path, devToken(t, s.URL, nil))
				require.Equal(t, http.StatusOK, resp.StatusCode)
				assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
				token := resp.Header.Get("Token")
				require.NotEmpty(t, token, "the app reads the Token header")
				ck := cookieMap(resp)
				require.Contains(t, ck, "MMCSRF", "the app reads its CSRF token from this cookie")
				require.NotEmpty(t, ck["MMCSRF"].Value)
				require.Contains(t, ck, "MMUSERID")
				require.Contains(t, ck, "MMAUTHTOKEN")
				assert.True(t, ck["MMAUTHTOKEN"].HttpOnly)
				assert.False(t, ck["MMAUTHTOKEN"].Secure, "plain http on loopback")
				assert.Equal(t, token, ck["MMAUTHTOKEN"].Value)

				user := decode[map[string]any](t, resp)
				require.NotEmpty(t, user["id"])
				assert.True(t, strings.EqualFold(cc["IntuneAuthService"], user["auth_service"].(string)),
					"the app enrolls in MAM only when auth_service matches IntuneAuthService")
				assert.Equal(t, user["id"], ck["MMUSERID"].Value)
				if userID == "" {
					userID = user["id"].(string)
				}
				assert.Equal(t, userID, user["id"], "the same oid is the same user at both mounts")

				// The app's next call, with the bearer token...
				me := getJSON[map[string]any](t, s.URL+"/api/v4/users/me", token, http.StatusOK)
				assert.Equal(t, user["id"], me["id"])
				// ... or a browser's, with the cookie.
				req, _ := http.NewRequest(http.MethodGet, s.URL+"/api/v4/users/me", nil)
				req.AddCookie(ck["MMAUTHTOKEN"])
				r2, err := http.DefaultClient.Do(req)
				require.NoError(t, err)
				r2.Body.Close()
				assert.Equal(t, http.StatusOK, r2.StatusCode)

				// Logout: with the bearer token it needs nothing else; the
				// session is gone, on every route.
				out := do(t, http.MethodPost, s.URL+"/api/v4/users/logout", token, "")
				require.Equal(t, http.StatusOK, out.StatusCode)
				assert.Equal(t, -1, cookieMap(out)["MMAUTHTOKEN"].MaxAge, "the cookie is cleared")
				getJSON[map[string]any](t, s.URL+"/api/v4/users/me", token, http.StatusUnauthorized)
			})
		}

		// The device id the app sent is on the session.
		var dev string
		require.NoError(t, s.db.SQL().QueryRow(`SELECT device_id FROM sessions LIMIT 1`).Scan(&dev))
		assert.Equal(t, "apple_rn-v2:5d8f0c3b9a7e4f21", dev)
		// Sign-in answers anything but POST with 405 and Allow.
		resp := do(t, http.MethodGet, s.URL+"/oauth/intune", "", "")
		assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
		assert.Equal(t, http.MethodPost, resp.Header.Get("Allow"))
	})
}

// TestOfficialClients: the example's default allow-list is the app's
// release and beta clients: the App Store and TestFlight builds sign in, a
// pull-request build is refused (invalid_token, 401 so that the app's retry
// runs) and the audit's reason says the allow-list lacks it.
func TestOfficialClients(t *testing.T) {
	eachEngine(t, func(t *testing.T, dsn string) {
		s := startServer(t, dsn, options{}, nil)
		assert.Equal(t, intune.DefaultAllowedClientIDs(), s.login.Config().AllowedClientIDs)
		for _, c := range intune.MobileClients() {
			resp := appSignIn(t, s.URL, "/oauth/intune", devToken(t, s.URL, url.Values{"azp": {c.ID}}))
			if c.ID == intune.MobileClientPR {
				require.Equal(t, http.StatusUnauthorized, resp.StatusCode, c.Build)
				assert.Equal(t, intune.ErrInvalidToken.ID, errorID(t, resp))
				continue
			}
			require.Equal(t, http.StatusOK, resp.StatusCode, c.Build)
		}
		var recs []sqlstore.AuditRecord
		eventually(t, 10*time.Second, func() bool {
			recs = getJSON[[]sqlstore.AuditRecord](t, s.URL+"/api/v4/intune/audit?limit=3", adminSecret, http.StatusOK)
			return len(recs) == 3
		}, "three audit records")
		var refused []string
		for _, r := range recs {
			var d auditDetail
			require.NoError(t, json.Unmarshal(r.Detail, &d))
			if r.Status != http.StatusOK {
				refused = append(refused, d.AuthorizedBy+": "+d.Reason)
			}
		}
		require.Len(t, refused, 1)
		assert.Contains(t, refused[0], intune.MobileClientPR+`: azp is "`+intune.MobileClientPR+`", not one of the allowed mobile client IDs`)
	})
}

// TestLogoutByCookieNeedsCSRF: a session carried by cookie is ended only by
// a request a cross-site form cannot make.
func TestLogoutByCookieNeedsCSRF(t *testing.T) {
	s := startServer(t, sqliteFile(t), options{}, nil)
	resp := appSignIn(t, s.URL, "/oauth/intune", devToken(t, s.URL, nil))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	ck := cookieMap(resp)
	logout := func(hdr ...string) int {
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/api/v4/users/logout", nil)
		req.AddCookie(ck["MMAUTHTOKEN"])
		req.AddCookie(ck["MMCSRF"])
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		r, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		r.Body.Close()
		return r.StatusCode
	}
	assert.Equal(t, http.StatusUnauthorized, logout(), "a form post")
	assert.Equal(t, http.StatusUnauthorized, logout("X-CSRF-Token", "wrong"))
	getJSON[map[string]any](t, s.URL+"/api/v4/users/me", ck["MMAUTHTOKEN"].Value, http.StatusOK)
	assert.Equal(t, http.StatusOK, logout("X-CSRF-Token", ck["MMCSRF"].Value))
	getJSON[map[string]any](t, s.URL+"/api/v4/users/me", ck["MMAUTHTOKEN"].Value, http.StatusUnauthorized)
}

func sqliteFile(t testing.TB) string { return engines[0].dsn(t) }

// TestErrorCodes: by default the server answers as the one the shipping app
// knows (401 on the retry rows, so its silent retry works; text on the
// silent rows); -documented-codes gives the contract's codes.
func TestErrorCodes(t *testing.T) {
	for _, tc := range []struct {
		name        string
		documented  bool
		retryStatus int
		notConfMsg  string
	}{
		{"default: as the shipping server", false, http.StatusUnauthorized, "Microsoft Intune authentication is not configured."},
		{"-documented-codes", true, http.StatusBadRequest, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, sqliteFile(t), options{documentedCodes: tc.documented}, nil)

			// The retry rows: expired, invalid, extract_auth_data.
			for _, row := range []struct {
				q  url.Values
				id string
			}{
				{url.Values{"expired": {"1"}}, intune.ErrTokenExpired.ID},
				{url.Values{"aud": {"00000000-0000-4000-8000-000000000000"}}, intune.ErrInvalidToken.ID},
				{url.Values{"oid": {"not-a-guid"}}, intune.ErrExtractAuthData.ID},
			} {
				resp := appSignIn(t, s.URL, "/oauth/intune", devToken(t, s.URL, row.q))
				require.Equal(t, tc.retryStatus, resp.StatusCode, row.id)
				body := decode[map[string]any](t, resp)
				assert.Equal(t, row.id, body["id"])
				assert.EqualValues(t, tc.retryStatus, body["status_code"])
				assert.NotEmpty(t, body["message"])
				assert.Empty(t, resp.Header.Get("Token"))
				if tc.retryStatus == http.StatusUnauthorized {
					assert.Contains(t, resp.Header.Get("WWW-Authenticate"), "Bearer")
				}
			}
			// The app's retry, with a fresh token, signs in.
			require.Equal(t, http.StatusOK, appSignIn(t, s.URL, "/oauth/intune", devToken(t, s.URL, nil)).StatusCode)

			// Rows that are not retried keep their documented status.
			resp := appSignIn(t, s.URL, "/oauth/intune", devToken(t, s.URL, url.Values{"tid": {"11111111-2222-4333-8444-555555555555"}}))
			assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
			assert.Equal(t, intune.ErrInvalidTenant.ID, errorID(t, resp))

			// A silent row: Intune switched off.
			require.Equal(t, http.StatusOK, do(t, http.MethodPatch, s.URL+"/api/v4/intune/config", adminSecret, `{"Enable":false}`).StatusCode)
			resp = appSignIn(t, s.URL, "/oauth/intune", devToken(t, s.URL, nil))
			require.Equal(t, http.StatusBadRequest, resp.StatusCode)
			body := decode[map[string]any](t, resp)
			assert.Equal(t, intune.ErrNotConfigured.ID, body["id"])
			assert.Equal(t, tc.notConfMsg, body["message"])
		})
	}
}

// TestWhatTheUserSees: the shipping app shows a failure's message with a
// Try again button, and an empty one as "Response with status code N". By
// default the example answers every row it can reach with text: the
// catalog's message, or for a silent row the real server's words.
func TestWhatTheUserSees(t *testing.T) {
	eachEngine(t, func(t *testing.T, dsn string) {
		s := startServer(t, dsn, options{}, nil)
		sees := func(resp *http.Response, row *intune.AppError, status int, want string) {
			t.Helper()
			require.Equal(t, status, resp.StatusCode, row.ID)
			body := decode[map[string]any](t, resp)
			assert.Equal(t, row.ID, body["id"])
			assert.Equal(t, want, body["message"], row.ID)
		}
		signIn := func(q url.Values) *http.Response { return appSignIn(t, s.URL, "/oauth/intune", devToken(t, s.URL, q)) }

		// A body the app would not send: a VoIP id not <platform>:<token>.
		login := intunetest.NewAppLogin(devToken(t, s.URL, nil))
		login.VoIPDeviceID = "no-platform"
		sees(send(t, login.Request(t.Context(), s.URL+"/oauth/intune")), intune.ErrInvalidParam, intune.ErrInvalidParam.StatusCode, intune.ErrInvalidParam.Message)
		// The retry rows: what the app shows after its silent retry.
		sees(signIn(url.Values{"expired": {"1"}}), intune.ErrTokenExpired, http.StatusUnauthorized, intune.ErrTokenExpired.Message)
		sees(signIn(url.Values{"tid": {"11111111-2222-4333-8444-555555555555"}}), intune.ErrInvalidTenant, intune.ErrInvalidTenant.StatusCode, intune.ErrInvalidTenant.Message)
		sees(signIn(url.Values{"oid": {"55555555-2222-4333-8444-555555555555"}, "email": {""}}), intune.ErrMissingClaims, intune.ErrMissingClaims.StatusCode, intune.ErrMissingClaims.Message)

		// SAML creates no user.
		require.Equal(t, http.StatusOK, do(t, http.MethodPatch, s.URL+"/api/v4/intune/config", adminSecret, `{"AuthService":"saml"}`).StatusCode)
		sees(signIn(url.Values{"oid": {"22222222-2222-4333-8444-555555555555"}}), intune.ErrAccountNotFound, intune.ErrAccountNotFound.StatusCode, intune.ErrAccountNotFound.Message)
		// A silent row gets the real server's text.
		require.Equal(t, http.StatusOK, do(t, http.MethodPatch, s.URL+"/api/v4/intune/config", adminSecret, `{"Enable":false}`).StatusCode)
		sees(signIn(nil), intune.ErrNotConfigured, intune.ErrNotConfigured.StatusCode, "Microsoft Intune authentication is not configured.")
	})
}

func TestSecureCookieUnderTLS(t *testing.T) {
	s := startServer(t, sqliteFile(t), options{}, nil)
	ts := httptest.NewTLSServer(s.server)
	defer ts.Close()
	body := `{"device_id":"","access_token":"` + devToken(t, s.URL, nil) + `"}`
	req, _ := http.NewRequest(http.MethodPost, ts.URL+"/oauth/intune", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := ts.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	ck := cookieMap(resp)
	for _, name := range []string{"MMAUTHTOKEN", "MMUSERID", "MMCSRF"} {
		assert.True(t, ck[name].Secure, name)
	}
	assert.True(t, ck["MMAUTHTOKEN"].HttpOnly)
}

// TestSessionExpiry: a session ends at its lifetime.
func TestSessionExpiry(t *testing.T) {
	clk := clock.NewFake(time.Now()) // a settable time for session expiry
	s := startServer(t, sqliteFile(t), options{sessionLifetime: time.Hour}, func(s *server) { s.db.Now = clk.Now })
	resp := appSignIn(t, s.URL, "/oauth/intune", devToken(t, s.URL, nil))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	token := resp.Header.Get("Token")
	assert.Equal(t, 3600, cookieMap(resp)["MMAUTHTOKEN"].MaxAge)
	clk.Advance(59 * time.Minute)
	getJSON[map[string]any](t, s.URL+"/api/v4/users/me", token, http.StatusOK)
	clk.Advance(2 * time.Minute)
	e := getJSON[map[string]any](t, s.URL+"/api/v4/users/me", token, http.StatusUnauthorized)
	assert.Equal(t, "api.context.session_expired.app_error", e["id"])
}

// TestUserRows: the rows that depend on the user, through the server's store.
func TestUserRows(t *testing.T) {
	s := startServer(t, sqliteFile(t), options{}, nil)
	ctx := t.Context()
	const botOID, goneOID, newOID = "b07b07b0-7b07-4b07-8b07-b07b07b07b07", "dead0000-0000-4000-8000-000000000000", "11111111-2222-4333-8444-555555555555"
	_, err := s.users.AddUser(ctx, sqlstore.Profile{Username: "bot", AuthService: "office365", AuthData: botOID, IsBot: true})
	require.NoError(t, err)
	_, err = s.users.AddUser(ctx, sqlstore.Profile{Username: "gone", AuthService: "office365", AuthData: goneOID, DeleteAt: 1})
	require.NoError(t, err)

	for _, tc := range []struct {
		oid    string
		status int
		id     string
	}{
		{botOID, http.StatusForbidden, intune.ErrBotLoginForbidden.ID},
		{goneOID, http.StatusConflict, intune.ErrAccountLocked.ID},
		{newOID, http.StatusOK, ""}, // OpenID-like: created just in time
	} {
		resp := appSignIn(t, s.URL, "/oauth/intune", devToken(t, s.URL, url.Values{"oid": {tc.oid}, "email": {"x@contoso.com"}}))
		require.Equal(t, tc.status, resp.StatusCode, tc.oid)
		if tc.id != "" {
			assert.Equal(t, tc.id, errorID(t, resp))
		}
	}

	// With SAML enforced, mobile sign-in never creates users.
	require.Equal(t, http.StatusOK, do(t, http.MethodPatch, s.URL+"/api/v4/intune/config", adminSecret, `{"AuthService":"saml"}`).StatusCode)
	resp := appSignIn(t, s.URL, "/oauth/intune", devToken(t, s.URL, url.Values{"oid": {"22222222-2222-4333-8444-555555555555"}}))
	assert.Equal(t, http.StatusPreconditionRequired, resp.StatusCode)
	assert.Equal(t, intune.ErrAccountNotFound.ID, errorID(t, resp))
}

// TestDevOnlyFromLoopback: the fake tenant and the token forge never answer
// a client on the network.
func TestDevOnlyFromLoopback(t *testing.T) {
	s := startServer(t, sqliteFile(t), options{}, nil)
	for _, path := range []string{"/dev/token", "/" + devTenantID + "/v2.0/.well-known/openid-configuration", "/" + devTenantID + "/discovery/v2.0/keys"} {
		for _, remote := range []struct {
			addr string
			want int
		}{{"203.0.113.7:4711", http.StatusForbidden}, {"[2001:db8::1]:4711", http.StatusForbidden}, {"127.0.0.1:4711", http.StatusOK}, {"[::1]:4711", http.StatusOK}} {
			req := httptest.NewRequest(http.MethodGet, path, nil)
			req.RemoteAddr = remote.addr
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, req)
			assert.Equal(t, remote.want, rec.Code, "%s from %s", path, remote.addr)
		}
	}
	// Another tenant is unknown to the fake one, as to Entra.
	resp := do(t, http.MethodGet, s.URL+"/11111111-2222-4333-8444-555555555555/v2.0/.well-known/openid-configuration", "", "")
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
}
