package intune_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mamlogin/mamlogin/intune"
)

const (
	tenantGUID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	clientGUID = "6a1f5c2e-9b7d-4d3e-8f21-0c4b7a9e3d15"
)

func TestConfigCheck(t *testing.T) {
	ok := intune.Config{Enable: true, AuthService: intune.AuthServiceOpenID, TenantID: tenantGUID, ClientID: clientGUID}
	with := func(mut func(*intune.Config)) intune.Config { c := ok; mut(&c); return c }
	tests := []struct {
		name  string
		cfg   intune.Config
		field string // "" means valid
	}{
		{"complete", ok, ""},
		{"disabled and empty", intune.Config{}, ""},
		{"disabled with a bad tenant", intune.Config{TenantID: "contoso.onmicrosoft.com"}, "TenantID"},
		{"office365", with(func(c *intune.Config) { c.AuthService = intune.AuthServiceOffice365 }), ""},
		{"saml", with(func(c *intune.Config) { c.AuthService = intune.AuthServiceSAML }), ""},
		{"upper-case GUIDs", with(func(c *intune.Config) { c.TenantID = "72F988BF-86F1-41AF-91AB-2D7CD011DB47" }), ""},
		{"no provider", with(func(c *intune.Config) { c.AuthService = "" }), "AuthService"},
		{"unknown provider", with(func(c *intune.Config) { c.AuthService = "ldap" }), "AuthService"},
		{"no tenant", with(func(c *intune.Config) { c.TenantID = "" }), "TenantID"},
		{"tenant is a domain", with(func(c *intune.Config) { c.TenantID = "contoso.onmicrosoft.com" }), "TenantID"},
		{"tenant with braces", with(func(c *intune.Config) { c.TenantID = "{" + tenantGUID + "}" }), "TenantID"},
		{"no client", with(func(c *intune.Config) { c.ClientID = "" }), "ClientID"},
		{"client is the api URI", with(func(c *intune.Config) { c.ClientID = "api://" + clientGUID }), "ClientID"},
		{"bad allowed client", with(func(c *intune.Config) { c.AllowedClientIDs = []string{"x"} }), "AllowedClientIDs[0]"},
		{"http authority", with(func(c *intune.Config) { c.Authority = "http://login.microsoftonline.com" }), "Authority"},
		{"authority with path", with(func(c *intune.Config) { c.Authority = "https://login.microsoftonline.com/" + tenantGUID }), "Authority"},
		{"loopback authority", with(func(c *intune.Config) { c.Authority = "http://127.0.0.1:8080" }), ""},
		{"gov authority", with(func(c *intune.Config) { c.Authority = intune.AuthorityUSGovernment }), ""},
		{"jwks over http", with(func(c *intune.Config) { c.JWKSURL = "http://example.com/keys" }), "JWKSURL"},
		{"negative leeway", with(func(c *intune.Config) { c.Leeway = -time.Second }), "Leeway"},
		{"huge leeway", with(func(c *intune.Config) { c.Leeway = time.Hour }), "Leeway"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Check()
			if tt.field == "" {
				assert.NoError(t, err)
				return
			}
			var ce *intune.ConfigError
			require.True(t, errors.As(err, &ce), "want a *ConfigError, got %v", err)
			assert.Equal(t, tt.field, ce.Field)
			assert.Contains(t, err.Error(), tt.field)
		})
	}
}

func TestScope(t *testing.T) {
	assert.Equal(t, "api://"+clientGUID+"/login.mattermost", intune.Config{ClientID: clientGUID}.Scope())
	assert.Equal(t, "", intune.Config{}.Scope())
}

func TestClientConfig(t *testing.T) {
	enabled := intune.Config{Enable: true, AuthService: intune.AuthServiceOffice365, TenantID: tenantGUID, ClientID: clientGUID}
	assert.Equal(t, map[string]string{
		"IntuneMAMEnabled":  "true",
		"IntuneScope":       "api://" + clientGUID + "/login.mattermost",
		"IntuneAuthService": "office365",
	}, enabled.ClientConfig())

	off := map[string]string{"IntuneMAMEnabled": "false", "IntuneScope": "", "IntuneAuthService": ""}
	disabled := enabled
	disabled.Enable = false
	assert.Equal(t, off, disabled.ClientConfig(), "disabled")
	incomplete := enabled
	incomplete.ClientID = ""
	assert.Equal(t, off, incomplete.ClientConfig(), "incomplete")
	malformed := enabled
	malformed.TenantID = "contoso"
	assert.Equal(t, off, malformed.ClientConfig(), "malformed")
}
