package intune_test

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mamlogin/mamlogin/intune"
	"github.com/mamlogin/mamlogin/intune/intunetest"
)

func newTenant(t testing.TB, opts ...intunetest.TenantOption) *intunetest.Tenant {
	t.Helper()
	tenant := intunetest.NewTenant(opts...)
	t.Cleanup(tenant.Close)
	return tenant
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func newValidator(t testing.TB, cfg intune.Config, opts ...intune.Option) *intune.Validator {
	t.Helper()
	v, err := intune.NewValidator(context.Background(), cfg, append([]intune.Option{intune.WithKeySetLogger(quiet)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = v.Close() })
	return v
}

func withExpired() intunetest.TokenOption {
	return intunetest.WithExpiry(time.Now().Add(-10 * time.Minute))
}

// lineUpCreates holds every CreateUser of store until n are waiting: every
// request has looked up "not found" and is about to insert, the first
// sign-in race at its tightest.
func lineUpCreates(store *intunetest.Store, n int) {
	var ready sync.WaitGroup
	ready.Add(n)
	release := make(chan struct{})
	var once sync.Once
	store.BeforeCreate = func() {
		ready.Done()
		once.Do(func() { go func() { ready.Wait(); close(release) }() })
		<-release
	}
}

// validateAs validates token and requires acceptance (want nil) or the
// catalog error want; it returns that error (nil when accepted).
func validateAs(t *testing.T, v *intune.Validator, token string, want *intune.AppError) *intune.AppError {
	t.Helper()
	c, err := v.Validate(t.Context(), token)
	if want == nil {
		require.NoError(t, err)
		require.NotNil(t, c)
		return nil
	}
	assert.Nil(t, c)
	return requireAppError(t, err, want)
}

// requireAppError asserts err is the catalog error want, and returns it.
func requireAppError(t testing.TB, err error, want *intune.AppError) *intune.AppError {
	t.Helper()
	require.Error(t, err)
	var ae *intune.AppError
	require.ErrorAs(t, err, &ae)
	require.Equal(t, want.ID, ae.ID, "reason: %s", ae.Reason)
	require.Equal(t, want.StatusCode, ae.StatusCode)
	require.Equal(t, want.Message, ae.Message)
	require.NotEmpty(t, ae.Reason, "every failure carries an internal reason")
	return ae
}
