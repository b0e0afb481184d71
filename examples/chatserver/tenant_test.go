package main

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mamlogin/mamlogin/intune"
)

// payload reads a forged token's claims (the example's own forgery: its
// signature is the tenant's business, here only what it carries).
func payload(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	require.Len(t, parts, 3)
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	var c map[string]any
	require.NoError(t, json.Unmarshal(b, &c))
	return c
}

// TestDevTokenQuery: over HTTP, /dev/token's query sets a claim, leaves it
// out when empty, and reads expired as a boolean; the forged token signs in
// (or fails) as a real one with those claims would.
func TestDevTokenQuery(t *testing.T) {
	s := startServer(t, sqliteFile(t), options{}, nil)
	for _, tc := range []struct {
		name    string
		q       url.Values
		absent  []string // claims the token must not carry
		claims  map[string]any
		outcome string // the sign-in's error ID; "" signs in
	}{
		{name: "defaults", q: url.Values{}},
		{name: "expired=0 is not expired", q: url.Values{"expired": {"0"}}},
		{name: "expired=false is not expired", q: url.Values{"expired": {"false"}}},
		{name: "expired=1", q: url.Values{"expired": {"1"}}, outcome: intune.ErrTokenExpired.ID},
		{name: "expired=true", q: url.Values{"expired": {"true"}}, outcome: intune.ErrTokenExpired.ID},
		// Another oid needs another address: the default user holds the default one.
		{name: "oid set", q: url.Values{"oid": {"44444444-2222-4333-8444-555555555555"}, "email": {"oid.set@contoso.com"}},
			claims: map[string]any{"oid": "44444444-2222-4333-8444-555555555555"}},
		{name: "oid= leaves oid out", q: url.Values{"oid": {""}}, absent: []string{"oid"}, outcome: intune.ErrMissingClaims.ID},
		{name: "email= leaves the address out", q: url.Values{"oid": {"55555555-2222-4333-8444-555555555555"}, "email": {""}},
			absent: []string{"email", "preferred_username"}, outcome: intune.ErrMissingClaims.ID},
		{name: "email set", q: url.Values{"oid": {"66666666-2222-4333-8444-555555555555"}, "email": {"bob@contoso.onmicrosoft.com"}},
			claims: map[string]any{"email": "bob@contoso.onmicrosoft.com", "preferred_username": "bob@contoso.onmicrosoft.com"}},
		{name: "scp= leaves the scope out", q: url.Values{"scp": {""}}, absent: []string{"scp"}, outcome: intune.ErrInvalidToken.ID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := devToken(t, s.URL, tc.q)
			c := payload(t, tok)
			for _, name := range tc.absent {
				assert.NotContains(t, c, name)
			}
			for name, v := range tc.claims {
				assert.Equal(t, v, c[name], name)
			}
			resp := appSignIn(t, s.URL, "/oauth/intune", tok)
			if tc.outcome == "" {
				assert.Equal(t, http.StatusOK, resp.StatusCode)
				return
			}
			assert.Equal(t, tc.outcome, errorID(t, resp))
		})
	}
}

// TestDevTokenRefusesWhatItCannotForge: a misspelt parameter or a value of
// expired that is not a boolean is a 400 that says what the query takes,
// not a token that silently ignores it.
func TestDevTokenRefusesWhatItCannotForge(t *testing.T) {
	s := startServer(t, sqliteFile(t), options{}, nil)
	for _, q := range []string{"expired=maybe", "exp=1", "without=oid"} {
		resp := do(t, http.MethodGet, s.URL+"/dev/token?"+q, "", "")
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode, q)
		body := decode[map[string]any](t, resp)
		assert.Equal(t, "dev.token.bad_query.app_error", body["id"], q)
		assert.Contains(t, body["message"], "expired", q)
	}
}
