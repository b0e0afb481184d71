package intune_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mamlogin/mamlogin/intune"
)

// TestNotReadyUntilTheFirstSetConfig: a handler built WithConfigPending
// answers ErrNotReady (503, Retry-After, 503 whatever the retry status) with
// its own log reason, never not_configured, until a SetConfig succeeds.
func TestNotReadyUntilTheFirstSetConfig(t *testing.T) {
	r := newRig(t, intune.AuthServiceOpenID)
	events := make(chan intune.SignInEvent, 10)
	h := r.handler(intune.WithConfigPending(), intune.WithRetryStatus(http.StatusUnauthorized),
		intune.WithEvents(func(e intune.SignInEvent) { events <- e }))
	defer h.Close()

	notReady := func(what string) {
		t.Helper()
		rec := post(h, appBody(r.tenant.Token()))
		require.Equal(t, http.StatusServiceUnavailable, rec.Code, what)
		assert.Equal(t, intune.ErrNotReady.ID, decodeErr(t, rec).ID, what)
		assert.Equal(t, intune.ErrNotReady.Message, decodeErr(t, rec).Message, what)
		assert.Equal(t, "1", rec.Header().Get("Retry-After"), what)
		assert.Empty(t, rec.Header().Get("WWW-Authenticate"), what)
		assert.Equal(t, "false", h.ClientConfig()["IntuneMAMEnabled"], what)
		ev := <-events
		assert.Equal(t, intune.ErrNotReady.ID, ev.Outcome)
		assert.Contains(t, ev.Reason, "not yet applied its configuration")
	}
	notReady("before any SetConfig")
	rec := r.failureRecord(t)
	assert.Equal(t, intune.ErrNotReady.ID, rec["error_id"])
	assert.Contains(t, rec["reason"], "WithConfigPending")
	assert.NotContains(t, r.logs.String(), "disabled")
	assert.NotContains(t, r.logs.String(), intune.ErrNotConfigured.ID)

	// A refused configuration leaves it pending.
	bad := r.cfg
	bad.TenantID = "contoso.onmicrosoft.com"
	require.Error(t, h.SetConfig(t.Context(), bad))
	notReady("after a refused SetConfig")

	// The first configuration that applies ends it.
	require.NoError(t, h.SetConfig(t.Context(), r.cfg))
	rec2 := post(h, appBody(r.tenant.Token()))
	require.Equal(t, http.StatusOK, rec2.Code, rec2.Body.String())
	assert.Empty(t, rec2.Header().Get("Retry-After"))
	<-events

	// From then on "disabled" is what the host said: not_configured.
	off := r.cfg
	off.Enable = false
	require.NoError(t, h.SetConfig(t.Context(), off))
	assert.Equal(t, intune.ErrNotConfigured.ID, decodeErr(t, post(h, appBody(r.tenant.Token()))).ID)
}
