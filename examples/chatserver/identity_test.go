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

// TestHandedOverPhone: a sign-in on a device ends the device's earlier
// sessions, the previous user's included (their pushes would go to the
// new holder of the phone), and no session on another device.
func TestHandedOverPhone(t *testing.T) {
	eachEngine(t, func(t *testing.T, dsn string) {
		s := startServer(t, dsn, options{}, nil)
		const phone, tablet = "apple_rn-v2:0a1b2c3d4e5f", "apple_rn-v2:f5e4d3c2b1a0"
		bob := url.Values{"oid": {"b0b0b0b0-2222-4333-8444-555555555555"}, "email": {"bob@contoso.com"}}
		signIn := func(device string, q url.Values) (token, userID string) {
			t.Helper()
			resp := appSignInOn(t, s.URL, "/oauth/intune", device, devToken(t, s.URL, q))
			require.Equal(t, http.StatusOK, resp.StatusCode)
			return resp.Header.Get("Token"), decode[map[string]any](t, resp)["id"].(string)
		}
		me := func(token string, want int) {
			t.Helper()
			getJSON[map[string]any](t, s.URL+"/api/v4/users/me", token, want)
		}

		alicePhone, aliceID := signIn(phone, nil)
		aliceTablet, _ := signIn(tablet, nil)
		aliceAgain, _ := signIn(phone, nil) // the app signs in again on the phone
		me(alicePhone, http.StatusUnauthorized)
		me(aliceAgain, http.StatusOK)

		bobPhone, bobID := signIn(phone, bob) // the phone is handed to Bob
		require.NotEqual(t, aliceID, bobID)
		me(aliceAgain, http.StatusUnauthorized)
		me(bobPhone, http.StatusOK)
		me(aliceTablet, http.StatusOK)

		var live int
		require.NoError(t, s.db.SQL().QueryRow(`SELECT COUNT(*) FROM sessions WHERE device_id = $1 AND revoked_at = 0`, phone).Scan(&live))
		assert.Equal(t, 1, live, "the phone's pushes go to one user")
	})
}

// TestEmailInUse: a first sign-in whose address belongs to an account of
// another sign-in method is a 409 email_in_use, never a 500 and never that
// account: nothing is created or changed, the user is told to sign in as
// before, and the log names the account. Once the administrator has linked
// the account to the Entra user (what mmctl user migrate-auth does), the
// same sign-in opens it.
func TestEmailInUse(t *testing.T) {
	eachEngine(t, func(t *testing.T, dsn string) {
		s := startServer(t, dsn, options{}, nil)
		ctx := t.Context()
		held, err := s.users.AddUser(ctx, sqlstore.Profile{Username: "carol.pw", Email: "carol@contoso.com"})
		require.NoError(t, err)
		const carolOID = "ca201ca2-2222-4333-8444-555555555555"
		token := devToken(t, s.URL, url.Values{"oid": {carolOID}, "email": {"Carol@Contoso.com"}})

		resp := appSignIn(t, s.URL, "/oauth/intune", token)
		require.Equal(t, http.StatusConflict, resp.StatusCode)
		body := decode[map[string]any](t, resp)
		assert.Equal(t, intune.ErrEmailInUse.ID, body["id"])
		assert.Equal(t, intune.ErrEmailInUse.Message, body["message"])
		assert.NotContains(t, body["message"], held.ID, "the holder is named to the admin, not to the app")
		assert.Empty(t, resp.Header.Get("Token"))
		assert.Empty(t, resp.Cookies())
		n, err := s.users.CountUsers(ctx, intune.AuthServiceOffice365, carolOID)
		require.NoError(t, err)
		assert.Zero(t, n, "no user was created")
		again, err := s.users.UserByID(ctx, held.ID)
		require.NoError(t, err)
		assert.Equal(t, held.Profile, again.Profile, "the holder is untouched")
		// The admin's trail (as the log record) names the holding account.
		var recs []sqlstore.AuditRecord
		eventually(t, 5*time.Second, func() bool {
			recs = getJSON[[]sqlstore.AuditRecord](t, s.URL+"/api/v4/intune/audit?limit=1", adminSecret, http.StatusOK)
			return len(recs) == 1 && recs[0].Outcome == intune.ErrEmailInUse.ID
		}, "the audit record of the refusal")
		var d auditDetail
		require.NoError(t, json.Unmarshal(recs[0].Detail, &d))
		assert.Contains(t, d.Reason, held.ID)
		assert.Contains(t, d.Reason, `"carol.pw"`)
		assert.Equal(t, http.StatusConflict, recs[0].Status)

		// The administrator links the account to the Entra user.
		_, err = s.db.SQL().ExecContext(ctx, `UPDATE users SET auth_service = 'office365', auth_data = $1 WHERE id = $2`, carolOID, held.ID)
		require.NoError(t, err)
		resp = appSignIn(t, s.URL, "/oauth/intune", token)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, held.ID, decode[map[string]any](t, resp)["id"], "the linked account, found by its objectId")
	})
}
