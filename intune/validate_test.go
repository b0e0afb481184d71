package intune_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mamlogin/mamlogin/intune"
	it "github.com/mamlogin/mamlogin/intune/intunetest"
)

func TestValidateAcceptsEntraV2Token(t *testing.T) {
	tenant := newTenant(t)
	v := newValidator(t, tenant.Config())
	c, err := v.Validate(t.Context(), tenant.Token())
	require.NoError(t, err)
	assert.Equal(t, it.UserOID, c.ObjectID)
	assert.Equal(t, it.TenantID, c.TenantID)
	assert.Equal(t, it.ClientID, c.Audience)
	assert.Equal(t, it.MobileClientID, c.AuthorizedParty)
	assert.Equal(t, tenant.Issuer(), c.Issuer)
	assert.Equal(t, "2.0", c.Version)
	assert.Equal(t, []string{"login.mattermost"}, c.Scopes)
	assert.Equal(t, it.DefaultUser.Email, c.Email)
	assert.Equal(t, it.DefaultUser.Name, c.Name)
	assert.Equal(t, "Alice", c.GivenName)
	assert.Equal(t, "Wonderland", c.FamilyName)
	assert.Equal(t, "AbCdEfGhIjKlMnOpQrStUv", c.TokenID)
	assert.False(t, c.ExpiresAt.IsZero())
	assert.False(t, c.IssuedAt.IsZero())
	assert.False(t, c.NotBefore.IsZero())
}

// TestValidateContractChecks walks the contract's token checks in order: each
// row breaks exactly one thing and expects the documented ID and status.
func TestValidateContractChecks(t *testing.T) {
	tenant := newTenant(t)
	rogue := it.NewKey()
	now := time.Now()
	other := "0d9f2a4b-1c3e-4f5a-8b7c-6d5e4f3a2b1c"
	good := tenant.Token()
	parts := strings.Split(good, ".")
	tests := []struct {
		name   string
		token  string
		cfg    func(*intune.Config)
		want   *intune.AppError
		reason string // a fragment of the internal reason
	}{
		// 2. format, algorithm, key
		{name: "two parts", token: parts[0] + "." + parts[1], want: intune.ErrInvalidToken, reason: "2 dot-separated"},
		{name: "alg RS384", token: tenant.Token(it.WithHeader("alg", "RS384")), want: intune.ErrInvalidToken, reason: `alg is "RS384"`},
		{name: "alg none", token: tenant.Token(it.WithHeader("alg", "none")), want: intune.ErrInvalidToken, reason: "only RS256"},
		{name: "no kid", token: tenant.Token(it.WithoutHeader("kid")), want: intune.ErrInvalidToken, reason: "no kid"},
		{name: "unknown kid", token: tenant.Token(it.WithKey(rogue)), want: intune.ErrInvalidToken, reason: "is not in the key set"},
		{name: "crit", token: tenant.Token(it.WithHeader("crit", []string{"exp"})), want: intune.ErrInvalidToken, reason: "crit"},
		// 3. signature
		{name: "rogue key, known kid", token: tenant.Token(it.WithSignatureFrom(rogue)), want: intune.ErrInvalidToken, reason: "does not verify"},
		{name: "payload swapped", token: parts[0] + "." + strings.Split(tenant.Token(it.WithClaim("oid", other)), ".")[1] + "." + parts[2], want: intune.ErrInvalidToken, reason: "does not verify"},
		// 4. times
		{name: "expired", token: tenant.Token(withExpired()), want: intune.ErrTokenExpired, reason: "expired at"},
		{name: "no exp", token: tenant.Token(it.WithoutClaim("exp")), want: intune.ErrTokenExpired, reason: "no exp"},
		{name: "exp within leeway", token: tenant.Token(it.WithExpiry(now.Add(-30 * time.Second))), cfg: func(c *intune.Config) { c.Leeway = time.Minute }},
		{name: "exp as string", token: tenant.Token(it.WithClaim("exp", "1999999999")), want: intune.ErrInvalidToken, reason: "not a JSON number"},
		{name: "exp 1e300", token: tenant.Token(it.WithClaim("exp", 1e300)), want: intune.ErrInvalidToken, reason: "between 2000 and 9999"},
		{name: "exp negative", token: tenant.Token(it.WithClaim("exp", -1)), want: intune.ErrInvalidToken, reason: "between 2000 and 9999"},
		{name: "nbf in the future", token: tenant.Token(it.WithClaim("nbf", now.Add(time.Hour).Unix())), want: intune.ErrInvalidToken, reason: "ahead of this server's clock"},
		{name: "iat as string", token: tenant.Token(it.WithClaim("iat", "yesterday")), want: intune.ErrInvalidToken, reason: "iat"},
		// 5. tenant, version, issuer
		{name: "no tid", token: tenant.Token(it.WithoutClaim("tid")), want: intune.ErrMissingClaims, reason: "no tid"},
		{name: "other tenant", token: tenant.Token(it.WithClaim("tid", other), it.WithClaim("iss", "https://login.microsoftonline.com/"+other+"/v2.0")), want: intune.ErrInvalidTenant, reason: other},
		{name: "v1 token", token: tenant.Token(it.WithClaim("ver", "1.0"), it.WithClaim("iss", "https://sts.windows.net/"+it.TenantID+"/")), want: intune.ErrExtractAuthData, reason: "accessTokenAcceptedVersion = 2"},
		{name: "v1 issuer without ver", token: tenant.Token(it.WithoutClaim("ver"), it.WithClaim("iss", "https://sts.windows.net/"+it.TenantID+"/")), want: intune.ErrExtractAuthData, reason: "requestedAccessTokenVersion"},
		{name: "wrong issuer", token: tenant.Token(it.WithClaim("iss", "https://login.microsoftonline.com/common/v2.0")), want: intune.ErrInvalidToken, reason: "iss is"},
		// 6. audience
		{name: "audience api URI", token: tenant.Token(it.WithClaim("aud", "api://"+it.ClientID))},
		{name: "audience of another app", token: tenant.Token(it.WithClaim("aud", it.MobileClientID)), want: intune.ErrInvalidToken, reason: "aud is"},
		{name: "graph token", token: tenant.Token(it.WithClaim("aud", "00000003-0000-0000-c000-000000000000")), want: intune.ErrInvalidToken, reason: "Microsoft Graph"},
		// 7. scope and client
		{name: "other scope", token: tenant.Token(it.WithClaim("scp", "User.Read")), want: intune.ErrInvalidToken, reason: "must contain"},
		{name: "scope among others", token: tenant.Token(it.WithClaim("scp", "User.Read login.mattermost"))},
		{name: "scope prefix only", token: tenant.Token(it.WithClaim("scp", "login.mattermost.all")), want: intune.ErrInvalidToken},
		{name: "app-only token", token: tenant.Token(it.WithoutClaim("scp"), it.WithClaim("roles", []string{"x"})), want: intune.ErrInvalidToken, reason: "app-only"},
		{name: "allowed azp", token: good, cfg: func(c *intune.Config) { c.AllowedClientIDs = []string{it.MobileClientID} }},
		{name: "azp not allowed", token: tenant.Token(it.WithClaim("azp", other)), cfg: func(c *intune.Config) { c.AllowedClientIDs = []string{it.MobileClientID} }, want: intune.ErrInvalidToken, reason: "allowed mobile client"},
		// 8. oid
		{name: "no oid", token: tenant.Token(it.WithoutClaim("oid")), want: intune.ErrMissingClaims, reason: "no oid"},
		{name: "empty oid", token: tenant.Token(it.WithClaim("oid", "")), want: intune.ErrMissingClaims},
		{name: "oid not a GUID", token: tenant.Token(it.WithClaim("oid", "alice@contoso.com")), want: intune.ErrExtractAuthData, reason: "not a lower-case GUID"},
		{name: "oid upper case", token: tenant.Token(it.WithClaim("oid", strings.ToUpper(it.UserOID))), want: intune.ErrExtractAuthData},
		{name: "oid as number", token: tenant.Token(it.WithClaim("oid", 42)), want: intune.ErrExtractAuthData, reason: "not a string"},
		// A claim of the wrong type: the reason says what it is, as JSON
		// says it, never as if it were a string.
		{name: "tid as number", token: tenant.Token(it.WithClaim("tid", 42)), want: intune.ErrInvalidToken, reason: "tid is 42, not a string"},
		{name: "tid null", token: tenant.Token(it.WithClaim("tid", nil)), want: intune.ErrInvalidToken, reason: "tid is null, not a string"},
		{name: "tid an array", token: tenant.Token(it.WithClaim("tid", []string{it.TenantID})), want: intune.ErrInvalidToken, reason: `tid is an array ["` + it.TenantID[:20]},
		{name: "exp as string, said so", token: tenant.Token(it.WithClaim("exp", "1999999999")), want: intune.ErrInvalidToken, reason: `exp is the string "1999999999", not a JSON number`},
		{name: "exp true", token: tenant.Token(it.WithClaim("exp", true)), want: intune.ErrInvalidToken, reason: "exp is true, not a JSON number"},
		{name: "exp 1e300, said so", token: tenant.Token(it.WithClaim("exp", 1e300)), want: intune.ErrInvalidToken, reason: "exp is 1e+300, not a date"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tenant.Config()
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			v := newValidator(t, cfg)
			ae := validateAs(t, v, tt.token, tt.want)
			if ae == nil {
				return
			}
			assert.Contains(t, ae.Reason, tt.reason)
		})
	}
	// The claims-mapping hint is the next step of an unknown kid, not
	// repeated in its reason.
	ae := validateAs(t, newValidator(t, tenant.Config()), tenant.Token(it.WithKey(rogue)), intune.ErrInvalidToken)
	assert.Contains(t, ae.NextStep(), "?appid=<ClientID>")
	assert.NotContains(t, ae.Reason, "appid")
}

// TestValidateKeyBinding: a key's Entra "issuer" and "cloud_instance_name"
// bind it to the tenants and cloud it signs for, as Microsoft's validator does.
func TestValidateKeyBinding(t *testing.T) {
	const public = "https://login.microsoftonline.com"
	consumers := "9188040d-6c67-4c5b-b112-36a304b66dad"
	iss := public + "/" + it.TenantID + "/v2.0"
	tests := []struct {
		name          string
		issuer, cloud string
		want          *intune.AppError
		reason        string
	}{
		{"template issuer, public cloud", public + "/{tenantid}/v2.0", "microsoftonline.com", nil, ""},
		{"no binding members", "", "", nil, ""},
		{"consumer-tenant key", public + "/" + consumers + "/v2.0", "microsoftonline.com", intune.ErrInvalidToken, "never signs for this tenant"},
		{"government cloud key", public + "/{tenantid}/v2.0", "microsoftonline.us", intune.ErrInvalidToken, "microsoftonline.us"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := it.NewKey()
			k.Issuer, k.Cloud, k.OmitIssuer = tt.issuer, tt.cloud, tt.issuer == ""
			tenant := newTenant(t, it.WithSigningKey(k))
			cfg := tenant.Config()
			cfg.Authority, cfg.JWKSURL = "", tenant.KeysURL() // the public cloud, keys from loopback
			v := newValidator(t, cfg)
			if ae := validateAs(t, v, tenant.Token(it.WithClaim("iss", iss)), tt.want); ae != nil {
				assert.Contains(t, ae.Reason, tt.reason)
			}
		})
	}
}

// TestKeySetStats: the counters the host exports, one type: fetches as the
// cache reports them, and the tokens naming a kid the set does not hold,
// counted where they are answered.
func TestKeySetStats(t *testing.T) {
	tenant := newTenant(t)
	cfg := tenant.Config()
	v := newValidator(t, cfg, intune.WithKeyRefresh(2*time.Hour, 3*time.Minute))
	rogue := tenant.Token(it.WithKey(it.NewKey()))
	for range 3 {
		_, err := v.Validate(t.Context(), rogue)
		require.ErrorIs(t, err, intune.ErrInvalidToken)
	}
	_, err := v.Validate(t.Context(), tenant.Token())
	require.NoError(t, err)
	st := v.KeySetStats()
	assert.EqualValues(t, 1, st.Fetches, "the start-up fetch; the misses came within MinInterval of it")
	assert.Zero(t, st.Failures)
	assert.EqualValues(t, 3, st.UnknownKID)
	assert.EqualValues(t, 3, st.RateLimited)
	assert.Equal(t, 1, st.Keys)
	assert.False(t, st.LastSuccess.IsZero())
	assert.Equal(t, 2*time.Hour, st.RefreshEvery)
	assert.Equal(t, 3*time.Minute, st.MinInterval)
	assert.NotContains(t, st.JWKSURL, "?", "no query")
	assert.NotEmpty(t, st.JWKSURL)
}
