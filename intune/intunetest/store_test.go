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

// TestStoreOneAccountPerEmail: as Mattermost's users table, the Store holds
// one account per address, compared ignoring case: a first sign-in on a
// held address is ErrEmailInUse naming the holder (CheckNewUser says so
// first, changing nothing), a sync keeps the stored address rather than
// take another account's, and accounts without an address are many.
func TestStoreOneAccountPerEmail(t *testing.T) {
	ctx := t.Context()
	svc := intune.AuthServiceOpenID
	const carol, dave = "00000000-0000-4000-8000-0000000ca401", "00000000-0000-4000-8000-0000000da7e0"
	s := intunetest.NewStore()
	bob := s.Add(intune.AuthServiceOffice365, intunetest.UserOID, intunetest.Profile{Username: "bob", Email: "bob@contoso.com"})

	claims := &intune.Claims{ObjectID: carol, Email: "Bob@Contoso.com"}
	err := s.CheckNewUser(ctx, svc, claims)
	require.ErrorIs(t, err, intune.ErrEmailInUse)
	assert.Contains(t, err.Error(), bob.ID)
	_, err = s.CreateUser(ctx, svc, claims)
	require.ErrorIs(t, err, intune.ErrEmailInUse, "held by an account of another provider, ignoring case")
	assert.Contains(t, err.Error(), bob.ID)
	assert.Equal(t, 1, s.Len(), "nothing created")

	// A free address, then no address at all, twice.
	require.NoError(t, s.CheckNewUser(ctx, svc, &intune.Claims{ObjectID: carol, Email: "carol@contoso.com"}))
	c, err := s.CreateUser(ctx, svc, &intune.Claims{ObjectID: carol, Email: "carol@contoso.com"})
	require.NoError(t, err)
	_, err = s.CreateUser(ctx, svc, &intune.Claims{ObjectID: dave})
	require.NoError(t, err)
	_, err = s.CreateUser(ctx, svc, &intune.Claims{ObjectID: "00000000-0000-4000-8000-0000000e0001"})
	require.NoError(t, err, "accounts without an address are many")

	// Carol's token now says Bob's address: her own is kept, her name synced.
	synced, err := s.SyncUser(ctx, c, &intune.Claims{ObjectID: carol, Email: "BOB@contoso.com", GivenName: "Carol"})
	require.NoError(t, err)
	assert.Equal(t, "carol@contoso.com", synced.Profile.(intunetest.Profile).Email)
	assert.Equal(t, "Carol", synced.Profile.(intunetest.Profile).FirstName)
	// Her own address in another case is hers to take.
	synced, err = s.SyncUser(ctx, synced, &intune.Claims{ObjectID: carol, Email: "Carol@Contoso.com"})
	require.NoError(t, err)
	assert.Equal(t, "Carol@Contoso.com", synced.Profile.(intunetest.Profile).Email)
}

// TestSyncFromAStaleCopyKeepsOneAccountPerEmail: a sign-in that read the
// user before another sign-in moved it to a new address syncs from that
// stale copy. Whether the token's address is a change, and what to keep when
// another account holds it, is the stored row's answer, not the copy's: the
// copy's old address may have been taken meanwhile (as sqlstore's unique
// index would refuse it).
func TestSyncFromAStaleCopyKeepsOneAccountPerEmail(t *testing.T) {
	ctx := t.Context()
	svc := intune.AuthServiceOpenID
	const bob, carol = "00000000-0000-4000-8000-00000000b0b1", "00000000-0000-4000-8000-0000000ca402"
	s := intunetest.NewStore()
	stale := s.Add(svc, intunetest.UserOID, intunetest.Profile{Username: "alice", Email: "old@contoso.com"})
	_, err := s.CreateUser(ctx, svc, &intune.Claims{ObjectID: carol, Email: "carol@contoso.com"})
	require.NoError(t, err)
	email := func() string { return s.User(svc, intunetest.UserOID).Profile.(intunetest.Profile).Email }

	// The first sign-in moves Alice to a new address; Bob then takes her old one.
	_, err = s.SyncUser(ctx, stale, &intune.Claims{ObjectID: intunetest.UserOID, Email: "new@contoso.com"})
	require.NoError(t, err)
	_, err = s.CreateUser(ctx, svc, &intune.Claims{ObjectID: bob, Email: "Old@Contoso.com"})
	require.NoError(t, err, "Alice left the address: it is free")

	for _, tokenEmail := range []string{"old@contoso.com", "carol@contoso.com"} {
		got, err := s.SyncUser(ctx, stale, &intune.Claims{ObjectID: intunetest.UserOID, Email: tokenEmail})
		require.NoError(t, err, "a sign-in is no reason to fail")
		assert.Equal(t, "new@contoso.com", got.Profile.(intunetest.Profile).Email, "token %s: another account holds it", tokenEmail)
		assert.Equal(t, "new@contoso.com", email(), "token %s: the stored address is kept", tokenEmail)
	}
}
