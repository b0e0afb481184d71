package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mamlogin/mamlogin/examples/chatserver/sqlstore"
	"github.com/mamlogin/mamlogin/intune"
)

// TestAdminConfig: the live configuration endpoint refuses requests without
// the admin token, refuses bad configurations naming the field (and keeps
// the current one), and applies a good one at once, saved for the replicas.
func TestAdminConfig(t *testing.T) {
	s := startServer(t, sqliteFile(t), options{}, nil)
	endpoint := s.URL + "/api/v4/intune/config"
	current := getJSON[configDoc](t, endpoint, adminSecret, http.StatusOK)
	require.True(t, current.Enable)
	require.Equal(t, devTenantID, current.TenantID)
	require.Equal(t, s.URL, current.Authority)

	t.Run("401 without the admin token", func(t *testing.T) {
		for _, tc := range []struct{ method, bearer string }{
			{http.MethodGet, ""}, {http.MethodGet, "wrong"}, {http.MethodPut, ""}, {http.MethodPatch, "wrong"},
			{http.MethodGet, "test-admin-token-and-more"},
		} {
			resp := do(t, tc.method, endpoint, tc.bearer, `{"Enable":false}`)
			assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "%s with %q", tc.method, tc.bearer)
			assert.Contains(t, resp.Header.Get("WWW-Authenticate"), "Bearer")
		}
		// A session of a user is not an admin token either.
		user := appSignIn(t, s.URL, "/oauth/intune", devToken(t, s.URL, nil)).Header.Get("Token")
		assert.Equal(t, http.StatusUnauthorized, do(t, http.MethodGet, endpoint, user, "").StatusCode)
		resp := do(t, http.MethodGet, s.URL+"/api/v4/intune/audit", "", "")
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	})

	t.Run("400 naming the field", func(t *testing.T) {
		good, _ := json.Marshal(current)
		for _, tc := range []struct {
			name, method, body, field string
		}{
			{"TenantID not a GUID", http.MethodPatch, `{"TenantID":"contoso.onmicrosoft.com"}`, "TenantID"},
			{"TenantID the fake tenant does not serve", http.MethodPatch, `{"TenantID":"11111111-2222-4333-8444-555555555555"}`, "TenantID"},
			{"ClientID an api:// URI", http.MethodPatch, `{"ClientID":"api://6a1f5c2e-9b7d-4d3e-8f21-0c4b7a9e3d15"}`, "ClientID"},
			{"AuthService unknown", http.MethodPatch, `{"AuthService":"ldap"}`, "AuthService"},
			{"AllowedClientIDs", http.MethodPatch, `{"AllowedClientIDs":["64e9952b-20eb-46dc-92ad-99089ed24903","app"]}`, "AllowedClientIDs[1]"},
			{"Leeway not a duration", http.MethodPatch, `{"Leeway":"soon"}`, "Leeway"},
			{"Leeway over 5 minutes", http.MethodPatch, `{"Leeway":"1h"}`, "Leeway"},
			{"Authority plain http off loopback", http.MethodPatch, `{"Authority":"http://login.example.com"}`, "Authority"},
			{"Authority that does not answer", http.MethodPatch, `{"Authority":"http://127.0.0.1:1"}`, "Authority"},
			{"unknown field", http.MethodPatch, `{"Tenant":"x"}`, "Tenant"},
			{"wrong type", http.MethodPatch, `{"Enable":"yes"}`, "Enable"},
			{"PUT of an enabled config without TenantID", http.MethodPut, `{"Enable":true,"AuthService":"openid","ClientID":"` + current.ClientID + `"}`, "TenantID"},
			{"not JSON", http.MethodPut, `{"Enable":`, ""},
			{"two documents", http.MethodPut, string(good) + string(good), ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				resp := do(t, tc.method, endpoint, adminSecret, tc.body)
				require.Equal(t, http.StatusBadRequest, resp.StatusCode)
				e := decode[map[string]any](t, resp)
				assert.Equal(t, "api.intune.config.invalid.app_error", e["id"])
				assert.NotEmpty(t, e["message"])
				if tc.field != "" {
					assert.Equal(t, tc.field, e["field"], e["message"])
				}
				// Nothing changed, here or in the database.
				assert.Equal(t, current, getJSON[configDoc](t, endpoint, adminSecret, http.StatusOK))
				_, version, err := s.db.LoadConfig(t.Context())
				require.NoError(t, err)
				assert.EqualValues(t, 1, version)
			})
		}
		// And sign-in still runs on the current configuration.
		require.Equal(t, http.StatusOK, appSignIn(t, s.URL, "/oauth/intune", devToken(t, s.URL, nil)).StatusCode)
	})

	t.Run("200 applies live", func(t *testing.T) {
		// PUT the whole configuration, as a console saves it: SAML enforced,
		// only the shipping app's client allowed, some leeway.
		next := current
		next.AuthService, next.Leeway = "saml", "30s"
		body, _ := json.Marshal(next)
		resp := do(t, http.MethodPut, endpoint, adminSecret, string(body))
		require.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, "2", resp.Header.Get(ConfigVersionHeader))
		assert.Equal(t, next, decode[configDoc](t, resp))

		// At once, without a restart: what the app reads, and how sign-in answers.
		cc := clientConfig(t, s.URL)
		assert.Equal(t, "saml", cc["IntuneAuthService"])
		assert.Equal(t, "true", cc["EnableSaml"])
		assert.Equal(t, "false", cc["EnableSignUpWithOffice365"])
		r := appSignIn(t, s.URL, "/oauth/intune", devToken(t, s.URL, url.Values{"oid": {"33333333-2222-4333-8444-555555555555"}}))
		assert.Equal(t, intune.ErrAccountNotFound.ID, errorID(t, r), "SAML never creates users")
		assert.Equal(t, intune.AuthServiceSAML, s.login.Config().AuthService)

		// Saved, for the other replicas and the next start.
		stored, version, err := s.db.LoadConfig(t.Context())
		require.NoError(t, err)
		assert.EqualValues(t, 2, version)
		assert.JSONEq(t, string(body), string(stored))

		// PATCH changes only what it names.
		resp = do(t, http.MethodPatch, endpoint, adminSecret, `{"Enable":false}`)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		next.Enable = false
		assert.Equal(t, next, decode[configDoc](t, resp))
		assert.Equal(t, "false", clientConfig(t, s.URL)["IntuneMAMEnabled"])
		assert.Equal(t, "3", do(t, http.MethodGet, endpoint, adminSecret, "").Header.Get(ConfigVersionHeader))
	})
}

// TestAudit: one record per sign-in attempt, written in the background,
// read back through the admin endpoint.
func TestAudit(t *testing.T) {
	eachEngine(t, func(t *testing.T, dsn string) {
		s := startServer(t, dsn, options{}, nil)
		attempts := []struct {
			rid, token, outcome string
			status              int
		}{
			{"audit-ok", devToken(t, s.URL, nil), intune.OutcomeSuccess, http.StatusOK},
			{"audit-expired", devToken(t, s.URL, url.Values{"expired": {"1"}}), intune.ErrTokenExpired.ID, http.StatusUnauthorized},
			{"audit-garbage", "not.a.token", intune.ErrInvalidToken.ID, http.StatusUnauthorized},
			{"audit-tenant", devToken(t, s.URL, url.Values{"tid": {"11111111-2222-4333-8444-555555555555"}}), intune.ErrInvalidTenant.ID, http.StatusBadRequest},
		}
		for _, a := range attempts {
			resp := appSignIn(t, s.URL, "/oauth/intune", a.token, "X-Request-ID", a.rid)
			require.Equal(t, a.status, resp.StatusCode, a.rid)
		}
		do(t, http.MethodGet, s.URL+"/oauth/intune", "", "") // not a sign-in attempt: no record

		var recs []sqlstore.AuditRecord
		eventually(t, 10*time.Second, func() bool {
			recs = getJSON[[]sqlstore.AuditRecord](t, s.URL+"/api/v4/intune/audit?limit=10", adminSecret, http.StatusOK)
			return len(recs) >= len(attempts)
		}, "audit records")
		require.Len(t, recs, len(attempts), "one record per attempt, none for the GET")
		byRID := map[string]sqlstore.AuditRecord{}
		for _, r := range recs {
			byRID[r.RequestID] = r
		}
		for _, a := range attempts {
			r, ok := byRID[a.rid]
			require.True(t, ok, a.rid)
			assert.Equal(t, a.outcome, r.Outcome, a.rid)
			assert.Equal(t, a.status, r.Status, a.rid)
			assert.Equal(t, "office365", r.Provider, a.rid)
			var d auditDetail
			require.NoError(t, json.Unmarshal(r.Detail, &d))
			assert.Equal(t, s.URL, d.Replica)
			switch a.rid {
			case "audit-ok":
				assert.NotEmpty(t, r.UserID)
				assert.Equal(t, "9f3b7c1e-2a4d-4e6f-8b0a-1c2d3e4f5a6b", r.OID)
				assert.True(t, d.Created)
				assert.True(t, d.Verified)
				assert.True(t, d.HasDeviceID)
			case "audit-expired":
				assert.Empty(t, r.UserID)
				assert.Contains(t, d.Reason, "expired")
			case "audit-garbage":
				assert.Empty(t, r.OID)
				assert.False(t, d.Verified)
			}
		}
		// Newest first, and limit applies.
		last := getJSON[[]sqlstore.AuditRecord](t, s.URL+"/api/v4/intune/audit?limit=1", adminSecret, http.StatusOK)
		require.Len(t, last, 1)
		assert.Equal(t, "audit-tenant", last[0].RequestID)
		for _, bad := range []string{"0", "-1", "1001", "x"} {
			assert.Equal(t, http.StatusBadRequest, do(t, http.MethodGet, s.URL+"/api/v4/intune/audit?limit="+bad, adminSecret, "").StatusCode, bad)
		}
	})
}
