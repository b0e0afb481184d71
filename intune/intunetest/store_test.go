package intunetest_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mamlogin/mamlogin/intune"
	"github.com/mamlogin/mamlogin/intune/intunetest"
)

// TestSyncUserComparesWithTheStoredRow: a sync that changes nothing writes
// nothing, judged against the row as stored, not against the caller's copy,
// which another sign-in may have made stale.
func TestSyncUserComparesWithTheStoredRow(t *testing.T) {
	s := intunetest.NewStore()
	svc := intune.AuthServiceOpenID
	stale := s.Add(svc, intunetest.UserOID, intunetest.Profile{Email: "y@contoso.com"})
	email := func() string { return s.User(svc, intunetest.UserOID).Profile.(intunetest.Profile).Email }

	_, err := s.SyncUser(t.Context(), stale, &intune.Claims{ObjectID: intunetest.UserOID, Email: "x@contoso.com"})
	require.NoError(t, err)
	assert.Equal(t, "x@contoso.com", email())

	// The second sign-in read the user before the first synced it.
	got, err := s.SyncUser(t.Context(), stale, &intune.Claims{ObjectID: intunetest.UserOID, Email: "y@contoso.com"})
	require.NoError(t, err)
	assert.Equal(t, "y@contoso.com", email(), "the stored row said x: y is a change")
	assert.Equal(t, "y@contoso.com", got.Profile.(intunetest.Profile).Email)

	stored := s.User(svc, intunetest.UserOID)
	got, err = s.SyncUser(t.Context(), stale, &intune.Claims{ObjectID: intunetest.UserOID, Email: "y@contoso.com"})
	require.NoError(t, err)
	assert.Same(t, stored, got, "nothing changed: the stored user, not a new one")
	assert.EqualValues(t, 3, s.Syncs.Load())
}
