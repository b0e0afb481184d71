package intunetest_test

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mamlogin/mamlogin/intune"
	"github.com/mamlogin/mamlogin/intune/intunetest"
)

func claimsOf(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	require.Len(t, parts, 3)
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	var c map[string]any
	require.NoError(t, json.Unmarshal(b, &c))
	return c
}

// TestFromClient: a token from each official client carries its id where
// its version puts it, and only the release client passes an allow-list of
// the release client alone.
func TestFromClient(t *testing.T) {
	tenant := intunetest.NewTenant()
	defer tenant.Close()
	cfg := tenant.Config()
	cfg.AllowedClientIDs = []string{intune.MobileClientRelease}
	v, err := intune.NewValidator(t.Context(), cfg)
	require.NoError(t, err)
	defer v.Close()

	assert.Equal(t, intunetest.MobileClientID, claimsOf(t, tenant.Token())["azp"], "the default")
	for _, c := range intune.MobileClients() {
		t.Run(c.Build, func(t *testing.T) {
			tok := tenant.Token(intunetest.FromClient(c.ID))
			assert.Equal(t, c.ID, claimsOf(t, tok)["azp"])
			v1 := claimsOf(t, tenant.Token(intunetest.WithClaim("ver", "1.0"), intunetest.FromClient(c.ID)))
			assert.Equal(t, c.ID, v1["appid"], "a v1 token names its client in appid")
			assert.NotContains(t, v1, "azp")

			_, err := v.Validate(t.Context(), tok)
			if c.ID == intune.MobileClientRelease {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, intune.ErrInvalidToken)
			var e *intune.AppError
			require.ErrorAs(t, err, &e)
			assert.Contains(t, e.NextStep(), c.Build+" build", "the next step names the official build")
		})
	}
}
