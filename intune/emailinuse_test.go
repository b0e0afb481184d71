package intune_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mamlogin/mamlogin/intune"
	it "github.com/mamlogin/mamlogin/intune/intunetest"
)

// heldAddressStore is a store whose addresses are unique, as a Mattermost
// users table: CreateUser refuses an address another account holds with
// ErrEmailInUse, wrapped with the holder's name.
type heldAddressStore struct {
	*it.Store
	holder string
}

func (s *heldAddressStore) CreateUser(_ context.Context, service intune.AuthService, c *intune.Claims) (*intune.User, error) {
	return nil, fmt.Errorf("insert user %s/%s: address %s held by user %s: %w", service, c.ObjectID, c.Email, s.holder, intune.ErrEmailInUse)
}

// TestEmailInUseThroughTheReread: the handler re-reads the user after any
// failed create (a lost race may have made it); when the re-read finds no
// user with the oid, the store's own row is the answer: 409 email_in_use
// with its message, the store's reason (naming the holder) in the log, no
// session, and no 500, whether the re-read says "not found" or fails.
func TestEmailInUseThroughTheReread(t *testing.T) {
	for _, tc := range []struct {
		name    string
		reread  error // what the re-read returns; nil: ErrUserNotFound
		logPart string
	}{
		{"the re-read finds no user", nil, "held by user 4ccountholder"},
		{"the re-read fails too", errors.New("connection reset"), "re-reading it failed too: connection reset"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, intune.AuthServiceOpenID)
			store := &heldAddressStore{Store: r.store, holder: "4ccountholder"}
			var lookups int
			h := intune.NewLoginHandler(r.cfg, r.v, lookupCounter{store, &lookups, tc.reread}, r.sessions,
				intune.WithLogger(slog.New(slog.NewJSONHandler(lockedWriter{r.logMu, r.logs}, nil))),
				intune.WithRetryStatus(http.StatusUnauthorized))
			rec := post(h, appBody(r.tenant.Token()))
			require.Equal(t, http.StatusConflict, rec.Code, rec.Body.String())
			e := decodeErr(t, rec)
			assert.Equal(t, intune.ErrEmailInUse.ID, e.ID)
			assert.Equal(t, intune.ErrEmailInUse.Message, e.Message)
			assert.Empty(t, e.DetailedError)
			assert.NotContains(t, rec.Body.String(), "4ccountholder", "the holder is for the admin's log")
			assert.Empty(t, rec.Header().Get("Token"))
			assert.Empty(t, r.sessions.SignIns())
			assert.Equal(t, 2, lookups, "the first lookup and the re-read")
			assert.Contains(t, r.logs.String(), tc.logPart)
			assert.Contains(t, r.logs.String(), intune.ErrEmailInUse.ID)
		})
	}
}

// lookupCounter counts UserByObjectID calls and makes the second (the
// re-read after the failed create) return reread when set.
type lookupCounter struct {
	*heldAddressStore
	n      *int
	reread error
}

func (l lookupCounter) UserByObjectID(ctx context.Context, service intune.AuthService, oid string) (*intune.User, error) {
	*l.n++
	if *l.n == 2 && l.reread != nil {
		return nil, l.reread
	}
	return l.heldAddressStore.UserByObjectID(ctx, service, oid)
}
