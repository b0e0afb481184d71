package intune

import (
	"context"
	"errors"
	"net/http"
)

// User is the host's user, as far as sign-in needs it.
type User struct {
	ID          string
	IsBot       bool
	Deactivated bool // deleted, disabled or locked
	Profile     any  // what the response body carries (the host's user JSON)
}

// ErrUserNotFound is what UserStore.UserByObjectID returns when no user has
// the objectId. Any other error is a store failure (500), never "not found".
var ErrUserNotFound = errors.New("intune: no user with this objectId")

// ErrUserExists is what UserStore.CreateUser returns (wrapped is fine) when
// another request created the same user first; the handler then re-reads it,
// so that concurrent first sign-ins of one user all succeed.
var ErrUserExists = errors.New("intune: a user with this objectId already exists")

// UserStore resolves users by Entra objectId (the token's oid). Identity is
// the oid alone: email, UPN and preferred_username never find a user.
type UserStore interface {
	UserByObjectID(ctx context.Context, service AuthService, oid string) (*User, error) // ErrUserNotFound when none
	CreateUser(ctx context.Context, service AuthService, c *Claims) (*User, error)      // OpenID JIT only
	SyncUser(ctx context.Context, u *User, c *Claims) (*User, error)                    // attribute sync at login
}

// SignIn is one successful sign-in, handed to the host to open a session.
type SignIn struct {
	User         *User
	Claims       *Claims
	DeviceID     string // push device id from the request, e.g. "apple_rn-v2:<token>"; may be empty
	VoIPDeviceID string // VoIP push device id from the request; may be empty
}

// SessionIssuer opens the host's session.
type SessionIssuer interface {
	// IssueSession creates the host's session and writes its credentials to w
	// (in a Mattermost-like host: header Token, cookies MMAUTHTOKEN, MMUSERID, MMCSRF).
	// It sets headers and cookies only; the handler writes status and body.
	// If it fails, the handler removes the Token header and cookies it set.
	IssueSession(ctx context.Context, w http.ResponseWriter, r *http.Request, s *SignIn) error
}
