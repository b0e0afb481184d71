package intune_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

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
