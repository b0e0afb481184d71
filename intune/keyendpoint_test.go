package intune_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mamlogin/mamlogin/internal/clock"
	"github.com/mamlogin/mamlogin/intune"
	it "github.com/mamlogin/mamlogin/intune/intunetest"
)

func status(code int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "oops", code) })
}

func body(s string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(s)) })
}

// hang answers only when the client gives up.
var hang = http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() })

// huge streams 50 MB (or until the client hangs up) without holding it in memory.
var huge = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	chunk := []byte(`{"keys":[` + strings.Repeat(" ", 1<<20))
	for range 50 {
		if _, err := w.Write(chunk); err != nil || r.Context().Err() != nil {
			return
		}
		chunk = []byte(strings.Repeat(" ", 1<<20))
	}
})

func newClockedValidator(t *testing.T, tenant *it.Tenant, opts ...intune.Option) (*intune.Validator, *clock.Fake) {
	t.Helper()
	clk := clock.NewFake(time.Now())
	return newValidator(t, tenant.Config(), append([]intune.Option{intune.WithCacheClock(clk), intune.WithKeyRefresh(time.Hour, time.Minute)}, opts...)...), clk
}

func TestKeyEndpointDownAtStartThenUp(t *testing.T) {
	tenant := newTenant(t)
	tenant.SetKeysHandler(status(http.StatusServiceUnavailable))
	v, clk := newClockedValidator(t, tenant)
	assert.EqualValues(t, 1, v.KeySetStats().Failures, "the start-up fetch failed, NewValidator did not")
	_, err := v.Validate(t.Context(), tenant.Token())
	ae := requireAppError(t, err, intune.ErrJWKSInit)
	assert.Contains(t, ae.Reason, "status 503", "the admin's reason says what failed")
	assert.Contains(t, ae.Reason, tenant.URL(), "and from where")

	tenant.SetKeysHandler(nil) // Entra answers again
	clk.Advance(time.Minute)
	_, err = v.Validate(t.Context(), tenant.Token())
	require.NoError(t, err, "the first token after the interval fetches and succeeds")
}

// TestKeyEndpointFaultsKeepLastGoodKeys: once keys are cached, no fault of the
// endpoint costs a valid token anything.
func TestKeyEndpointFaultsKeepLastGoodKeys(t *testing.T) {
	short, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	tests := []struct {
		name    string
		handler func(tenant *it.Tenant) http.Handler
		reason  string
	}{
		{"500", func(*it.Tenant) http.Handler { return status(500) }, "status 500"},
		{"404", func(*it.Tenant) http.Handler { return status(404) }, "status 404"},
		{"garbage JSON", func(*it.Tenant) http.Handler { return body(`{"keys":[{"kty":`) }, "not a JWKS"},
		{"HTML", func(*it.Tenant) http.Handler { return body(`<html>Service Unavailable</html>`) }, "not a JWKS"},
		{"empty key set", func(*it.Tenant) http.Handler { return body(`{"keys":[]}`) }, "no usable"},
		{"50 MB body", func(*it.Tenant) http.Handler { return huge }, "bound"},
		{"slow beyond the timeout", func(*it.Tenant) http.Handler { return hang }, "deadline"},
		{"only unusable keys", func(tenant *it.Tenant) http.Handler {
			k := tenant.SigningKey().JWK()
			ec := map[string]any{"kty": "EC", "kid": "ec", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}
			enc := map[string]any{"kty": "RSA", "use": "enc", "kid": "enc", "n": k["n"], "e": k["e"]}
			small := map[string]any{"kty": "RSA", "use": "sig", "kid": "small",
				"n": base64.RawURLEncoding.EncodeToString(short.N.Bytes()), "e": "AQAB"}
			b, _ := json.Marshal(map[string]any{"keys": []any{ec, enc, small}})
			return body(string(b))
		}, "no usable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tenant := newTenant(t)
			v := newValidator(t, tenant.Config(), intune.WithFetchTimeout(200*time.Millisecond))
			tok := tenant.Token()
			tenant.SetKeysHandler(tt.handler(tenant))
			err := v.RefreshKeys(t.Context())
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.reason)
			_, err = v.Validate(t.Context(), tok)
			require.NoError(t, err, "the last good keys are kept")
			st := v.KeySetStats()
			assert.EqualValues(t, 1, st.Failures)
			assert.Equal(t, 1, st.Keys)
		})
	}
}

func TestKeyEndpointSkipsBadKeysBesideGoodOnes(t *testing.T) {
	tenant := newTenant(t)
	good := tenant.SigningKey().JWK()
	tenant.SetKeysHandler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		ec := map[string]any{"kty": "EC", "kid": "ec", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}
		enc := map[string]any{"kty": "RSA", "use": "enc", "kid": "enc", "n": good["n"], "e": good["e"]}
		b, _ := json.Marshal(map[string]any{"keys": []any{ec, enc, good}})
		_, _ = w.Write(b)
	}))
	v := newValidator(t, tenant.Config())
	_, err := v.Validate(t.Context(), tenant.Token())
	require.NoError(t, err)
	assert.Equal(t, 1, v.KeySetStats().Keys)
	_, err = v.Validate(t.Context(), tenant.Token(it.WithHeader("kid", "enc")))
	requireAppError(t, err, intune.ErrInvalidToken)
}

func TestKeyRemovedIsRejectedAfterRefresh(t *testing.T) {
	tenant := newTenant(t)
	v := newValidator(t, tenant.Config())
	old := tenant.SigningKey()
	oldTok := tenant.Token()
	next := it.NewKey()
	tenant.Publish(next)
	require.NoError(t, v.RefreshKeys(t.Context()))
	tenant.Use(next)
	tenant.Unpublish(old.ID)
	_, err := v.Validate(t.Context(), oldTok)
	require.NoError(t, err, "still published until the refresh")
	require.NoError(t, v.RefreshKeys(t.Context()))
	_, err = v.Validate(t.Context(), oldTok)
	requireAppError(t, err, intune.ErrInvalidToken)
	_, err = v.Validate(t.Context(), tenant.Token())
	require.NoError(t, err)
}

// TestRotationAcceptedWithinInterval: Entra starts signing with a key it
// published after our last fetch; tokens with it are accepted once the
// unknown-kid interval has passed, with exactly one fetch.
func TestRotationAcceptedWithinInterval(t *testing.T) {
	tenant := newTenant(t)
	v, clk := newClockedValidator(t, tenant)
	hits := tenant.KeysHits()
	tenant.Rotate()
	tok := tenant.Token()
	_, err := v.Validate(t.Context(), tok)
	ae := requireAppError(t, err, intune.ErrInvalidToken)
	assert.Contains(t, ae.Reason, "at most one per")
	clk.Advance(59 * time.Second)
	_, err = v.Validate(t.Context(), tok)
	requireAppError(t, err, intune.ErrInvalidToken)
	assert.Equal(t, hits, tenant.KeysHits(), "no fetch inside the interval")
	clk.Advance(time.Second)
	_, err = v.Validate(t.Context(), tok)
	require.NoError(t, err)
	assert.Equal(t, hits+1, tenant.KeysHits())
}

// TestOutageAfterKeysCached: with Entra hanging, valid tokens validate with
// no request to it (a request would block until the test's deadline).
func TestOutageAfterKeysCached(t *testing.T) {
	tenant := newTenant(t)
	v := newValidator(t, tenant.Config())
	tenant.SetKeysHandler(hang)
	hits := tenant.KeysHits()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			_, err := v.Validate(ctx, tenant.Token())
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	assert.Equal(t, hits, tenant.KeysHits())
	assert.NoError(t, ctx.Err(), "nothing waited")
}
