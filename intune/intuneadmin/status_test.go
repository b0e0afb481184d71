package intuneadmin_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mamlogin/mamlogin/intune"
	"github.com/mamlogin/mamlogin/intune/intunetest"
)

// TestVerdictSaysTheStatusTheHandlerAnswers: with the handler's Status, the
// page says 401 for a `retry once` row when the handler answers 401
// (WithRetryStatus), and the row's own status for the others.
func TestVerdictSaysTheStatusTheHandlerAnswers(t *testing.T) {
	f := newFixture(t)
	h := intune.NewLoginHandler(f.tenant.Config(), nil, f.store, &intunetest.Sessions{},
		intune.WithRetryStatus(http.StatusUnauthorized), intune.WithLogger(f.page.Logger))
	defer h.Close()
	f.page.Status = h.Status

	expired := f.tenant.Token(intunetest.WithExpiry(time.Now().Add(-time.Hour)))
	w := f.form(t, url.Values{"token": {expired}, "action": {"token"}})
	require.Equal(t, http.StatusOK, w.Code)
	assert.Contains(t, w.Body.String(), `The app gets <span class="id">ent.intune.validate_token.token_expired.app_error</span> (HTTP 401).`)
	assert.Equal(t, http.StatusUnauthorized, decodeResult(t, f.json(t, tokenBody(t, expired))).VerdictStatus)

	otherTenant := f.tenant.Token(intunetest.WithClaim("tid", "0d9f2a4b-1c3e-4f5a-8b7c-6d5e4f3a2b1c"))
	res := decodeResult(t, f.json(t, tokenBody(t, otherTenant)))
	require.NotEmpty(t, res.Verdict)
	row, ok := intune.LookupError(res.Verdict)
	require.True(t, ok)
	require.Equal(t, intune.RetryNo, row.Retry, "a row the retry status does not change: %s", res.Verdict)
	assert.Equal(t, row.StatusCode, res.VerdictStatus)
}
