package intune

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// User is the host's user, as far as sign-in needs it.
type User struct {
	// ID is the host's user ID; it must not be empty.
	ID string
	// IsBot marks a bot account: it never signs in here (bot_login_forbidden).
	IsBot bool
	// Deactivated marks a deleted, disabled or locked account (account_locked).
	Deactivated bool
	// Profile is what the success body carries: the host's user JSON. It
	// must marshal to an object with "id" and "auth_service" equal (ignoring
	// case) to Config.AuthService; the app skips MAM enrollment otherwise,
	// so the handler answers 500 instead. nil sends {"id", "auth_service"}.
	Profile any
}

// ErrUserNotFound is what UserStore.UserByObjectID returns when no user has
// the objectId. Any other error is a store failure (500), never "not found".
var ErrUserNotFound = errors.New("intune: no user with this objectId")

// ErrUserExists may be returned (wrapped is fine) by UserStore.CreateUser
// when another request created the same user first. It is not required: the
// handler re-reads the user after any failed create, so a database's own
// unique-violation error works as well.
var ErrUserExists = errors.New("intune: a user with this objectId already exists")

// UserStore resolves users by Entra objectId (the token's oid) for the
// enforced provider. Identity is the oid alone: email, UPN and
// preferred_username never find a user.
//
// Every method may return an *AppError (or an error wrapping one): the
// handler then answers with that row, for example ErrAccountNotFound when
// the host has JIT creation switched off, or a row of the host's own made
// with NewAppError. Any other error is a 500 that leaks nothing to the app.
// A method that returns neither a user nor an error, (nil, nil), has failed
// to say what it found: that too is a 500, logged as a store bug.
//
// The claims passed in are verified. ObjectID, TenantID, Issuer and
// Audience are always set; Email, PreferredUsername, UPN and the names may
// be empty (Email needs the optional claim "email" on the server API app).
type UserStore interface {
	// UserByObjectID returns the user whose objectId is oid for service, or
	// ErrUserNotFound. It is called first on every sign-in, and once more
	// after a CreateUser that failed (a concurrent first sign-in may have
	// created the user meanwhile).
	UserByObjectID(ctx context.Context, service AuthService, oid string) (*User, error)
	// CreateUser creates the user from the claims (just-in-time) and returns
	// it. It is called only for OpenID Connect and Office 365, never SAML,
	// only when UserByObjectID found no user, and only when the token
	// carries an address (Email, or a UPN or preferred_username that is
	// one). Rely on a unique constraint on (service, objectId): when it
	// reports a lost race, return that error as it is.
	CreateUser(ctx context.Context, service AuthService, c *Claims) (*User, error)
	// SyncUser updates the attributes the token carries (email, names,
	// preferred_username or upn) of an existing user, as a login does, and
	// returns the user as stored now. It is called after UserByObjectID
	// found an active, non-bot user; the user it returns is checked again
	// (a bot or deactivated user gets no session).
	SyncUser(ctx context.Context, u *User, c *Claims) (*User, error)
}

// NewUserChecker is an optional interface of a UserStore, for the doctor
// (Diagnose, the test page): a store whose CreateUser refuses some first
// sign-ins (ErrEmailInUse: another account holds the address) says so
// without creating anything, so that the doctor's verdict is what sign-in
// answers. Without it, the doctor cannot tell, and says that the store may
// still refuse the first sign-in.
type NewUserChecker interface {
	// CheckNewUser returns the error CreateUser would return now for a
	// first sign-in with c (an *AppError row such as ErrEmailInUse,
	// wrapped with the reason), or nil. It creates and changes nothing. Its
	// answer is of this moment: CreateUser decides.
	CheckNewUser(ctx context.Context, service AuthService, c *Claims) error
}

// SignIn is one successful sign-in, handed to the host to open a session.
type SignIn struct {
	User         *User   // the user signing in, as the store returned it
	Claims       *Claims // the token's verified claims
	DeviceID     string  // push device id from the request, e.g. "apple_rn-v2:<token>"; may be empty
	VoIPDeviceID string  // VoIP push device id from the request; may be empty
}

// SessionIssuer opens the host's session.
type SessionIssuer interface {
	// IssueSession creates the host's session and writes its credentials to w
	// (in a Mattermost-like host: header Token, cookies MMAUTHTOKEN, MMUSERID, MMCSRF).
	// It sets headers and cookies only; the handler writes status and body.
	// It is called last, once the user and the response body are settled.
	// If it fails, the handler restores the response headers as they were
	// before the call and answers 500: create nothing that outlives a failure.
	IssueSession(ctx context.Context, w http.ResponseWriter, r *http.Request, s *SignIn) error
}

// Fitted next steps for failures of the host's store.
const (
	fixStoreNil = "Fix the UserStore: every method returns a user or an error; return intune.ErrUserNotFound when there is no user."
	fixNoEmail  = "Add the optional claim email to the server API app's access token (Token configuration in Entra), so that a new user can be created; existing users need none."
)

// resolve finds the user by oid (creating it, for OpenID Connect, on first
// sign-in) and syncs it. created is true when this sign-in created it.
func (h *LoginHandler) resolve(ctx context.Context, svc AuthService, c *Claims) (u *User, created bool, e *AppError) {
	u, err := h.store.UserByObjectID(ctx, svc, c.ObjectID)
	switch {
	case err == nil && u == nil:
		return nil, false, errStoreFailed.because("UserByObjectID(%q) returned neither a user nor an error", c.ObjectID).fixedBy(fixStoreNil)
	case errors.Is(err, ErrUserNotFound):
		return h.create(ctx, svc, c)
	case err != nil:
		return nil, false, storeError(err, "looking up objectId %q", c.ObjectID)
	}
	if e := admissible(u); e != nil {
		return nil, false, e
	}
	synced, err := h.store.SyncUser(ctx, u, c)
	switch {
	case err != nil:
		return nil, false, storeError(err, "syncing user %q from the token", u.ID)
	case synced == nil:
		return nil, false, errStoreFailed.because("SyncUser(%q) returned neither a user nor an error", u.ID).fixedBy(fixStoreNil)
	}
	if e := admissible(synced); e != nil {
		return nil, false, e
	}
	return synced, false, nil
}

// create is the first sign-in of a user: never for SAML, only with an
// address, and settled by the store's unique constraint when two sign-ins
// race (the app's retry, two devices, two replicas).
func (h *LoginHandler) create(ctx context.Context, svc AuthService, c *Claims) (*User, bool, *AppError) {
	if !svc.createsUsers() {
		return nil, false, errAccountNotFound.because("no user has objectId %q for provider %q, and mobile sign-in never creates SAML users", c.ObjectID, svc)
	}
	if !hasAddress(c) {
		return nil, false, errMissingClaims.because("objectId %q has no user yet, and the token carries no address to create one (no email claim; upn %q and preferred_username %q are not addresses)",
			c.ObjectID, clipFact(c.UPN), clipFact(c.PreferredUsername)).fixedBy(fixNoEmail)
	}
	u, err := h.store.CreateUser(ctx, svc, c)
	if err == nil && u == nil {
		return nil, false, errStoreFailed.because("CreateUser(%q) returned neither a user nor an error", c.ObjectID).fixedBy(fixStoreNil)
	}
	created := err == nil
	if err != nil {
		// Whatever the store's words for a lost race, the user may exist now.
		again, rerr := h.store.UserByObjectID(ctx, svc, c.ObjectID)
		if rerr != nil || again == nil {
			e := storeError(err, "creating the user for objectId %q", c.ObjectID) // explained
			if rerr != nil && !errors.Is(rerr, ErrUserNotFound) {
				e.Reason += "; re-reading it failed too: " + rerr.Error()
			}
			return nil, false, e
		}
		u = again
	}
	if e := admissible(u); e != nil {
		return nil, false, e
	}
	return u, created, nil
}

// storeError answers a store's error: its own row when it carries one, else
// a 500 whose reason stays in the log. Its Reason is formatted now: create
// may add to it.
func storeError(err error, format string, args ...any) *AppError {
	if row, ok := errors.AsType[*AppError](err); ok {
		if row == nil { // a typed nil: the store meant an error and said none
			return errStoreFailed.becauseText(fmt.Sprintf(format, args...) + ": the store returned a nil *AppError as its error").fixedBy(fixStoreNil)
		}
		return row.becauseText(err.Error())
	}
	return errStoreFailed.becauseText(fmt.Sprintf(format, args...) + ": " + err.Error())
}

func admissible(u *User) *AppError {
	if u.IsBot {
		return errBotLoginForbidden.because("user %q is a bot", u.ID)
	}
	if u.Deactivated {
		return errAccountLocked.because("user %q is deleted, deactivated or locked", u.ID)
	}
	return nil
}

// hasAddress reports whether a new user can be given an email: the email
// claim, or a UPN or preferred_username that is an address.
func hasAddress(c *Claims) bool {
	return c.Email != "" || isAddress(c.UPN) || isAddress(c.PreferredUsername)
}

func isAddress(s string) bool {
	local, domain, ok := strings.Cut(s, "@")
	return ok && local != "" && strings.Contains(domain, ".") && !strings.ContainsAny(s, " \t\r\n") && !strings.Contains(domain, "@")
}
