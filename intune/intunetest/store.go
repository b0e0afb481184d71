package intunetest

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/mamlogin/mamlogin/internal/mmid"
	"github.com/mamlogin/mamlogin/intune"
)

// Profile is the user JSON the Store's users carry: what a Mattermost-like
// server returns, with the fields the app reads (id, auth_service).
type Profile struct {
	ID          string `json:"id"`           // made up when empty
	Username    string `json:"username"`     // from preferred_username or upn
	Email       string `json:"email"`        // from email
	FirstName   string `json:"first_name"`   // from given_name
	LastName    string `json:"last_name"`    // from family_name
	AuthService string `json:"auth_service"` // the provider, as the app compares it with IntuneAuthService
	AuthData    string `json:"auth_data"`    // the objectId
	IsBot       bool   `json:"is_bot"`       // a bot account
	DeleteAt    int64  `json:"delete_at"`    // non-zero: deactivated
}

// Store is an in-memory intune.UserStore keyed by (service, objectId), safe
// for concurrent use. CreateUser reports intune.ErrUserExists when it loses
// a race, as a database unique index would. Like Mattermost's users table,
// it holds one account per email address (compared ignoring case; users
// without one are many): a first sign-in on an address another account
// holds is intune.ErrEmailInUse, and a sync keeps the stored address
// rather than take another account's. It is an intune.NewUserChecker. Add
// does not check: a test may set up any users.
type Store struct {
	mu    sync.Mutex
	users map[userKey]*intune.User
	// Err, when set, is returned by every method (a broken database).
	err atomic.Pointer[error]

	// Creates and Syncs count the users created and synced.
	Creates, Syncs atomic.Int64
	// BeforeCreate, when set, runs inside CreateUser before the insert (tests
	// use it to line up concurrent creations).
	BeforeCreate func()
}

// userKey is a user's unique key, as a database's unique index on
// (auth_service, auth_data).
type userKey struct {
	service intune.AuthService
	oid     string
}

// NewStore returns an empty store.
func NewStore() *Store { return &Store{users: map[userKey]*intune.User{}} }

// Fail makes every method return err (nil heals the store).
func (s *Store) Fail(err error) {
	if err == nil {
		s.err.Store(nil)
		return
	}
	s.err.Store(&err)
}

func (s *Store) failing() error {
	if e := s.err.Load(); e != nil {
		return *e
	}
	return nil
}

// Add puts a user with objectId oid for service into the store.
func (s *Store) Add(service intune.AuthService, oid string, p Profile) *intune.User {
	if p.ID == "" {
		p.ID = mmid.New()
	}
	p.AuthService, p.AuthData = string(service), oid
	u := &intune.User{ID: p.ID, IsBot: p.IsBot, Deactivated: p.DeleteAt != 0, Profile: p}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[userKey{service, oid}] = u
	return u
}

// Len is the number of users.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.users)
}

// User returns the user with objectId oid for service, or nil.
func (s *Store) User(service intune.AuthService, oid string) *intune.User {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.users[userKey{service, oid}]
}

// UserByObjectID returns the user with objectId oid for service, or
// intune.ErrUserNotFound.
func (s *Store) UserByObjectID(_ context.Context, service intune.AuthService, oid string) (*intune.User, error) {
	if err := s.failing(); err != nil {
		return nil, err
	}
	if u := s.User(service, oid); u != nil {
		return u, nil
	}
	return nil, intune.ErrUserNotFound
}

// CreateUser adds a user made from the claims, as a first sign-in does; a
// user who exists already is an error wrapping intune.ErrUserExists (a
// unique constraint's answer).
func (s *Store) CreateUser(_ context.Context, service intune.AuthService, c *intune.Claims) (*intune.User, error) {
	if err := s.failing(); err != nil {
		return nil, err
	}
	if s.BeforeCreate != nil {
		s.BeforeCreate()
	}
	p := profileFrom(Profile{ID: mmid.New(), AuthService: string(service), AuthData: c.ObjectID}, c)
	u := &intune.User{ID: p.ID, Profile: p}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := userKey{service, c.ObjectID}
	if _, ok := s.users[key]; ok {
		return nil, fmt.Errorf("insert user: %w", intune.ErrUserExists)
	}
	if err := s.emailFreeLocked(p.Email, key); err != nil {
		return nil, fmt.Errorf("insert user: %w", err)
	}
	s.users[key] = u
	s.Creates.Add(1)
	return u, nil
}

// SyncUser applies the token's attributes to u's profile and stores it. A
// profile the token does not change is not written again, as a database
// skips an update that changes nothing.
func (s *Store) SyncUser(_ context.Context, u *intune.User, c *intune.Claims) (*intune.User, error) {
	if err := s.failing(); err != nil {
		return nil, err
	}
	s.Syncs.Add(1)
	p, _ := u.Profile.(Profile)
	updated := profileFrom(p, c)
	key := userKey{intune.AuthService(p.AuthService), p.AuthData}
	s.mu.Lock()
	defer s.mu.Unlock()
	stored := s.users[key]
	// A new address is checked (a sign-in's sync is not a scan of the
	// users): another account's is not taken, this one's is kept. New and
	// kept are the stored row's, not u's: another sign-in may have moved
	// the user to another address since u was read, and another account
	// taken u's.
	kept := p.Email
	if stored != nil {
		if sp, ok := stored.Profile.(Profile); ok {
			kept = sp.Email
		}
	}
	if !strings.EqualFold(updated.Email, kept) && s.emailFreeLocked(updated.Email, key) != nil {
		updated.Email = kept
	}
	// Compared with the stored row, not with u: another sign-in may have
	// changed the row since u was read.
	if stored != nil && stored.IsBot == u.IsBot && stored.Deactivated == u.Deactivated {
		if sp, ok := stored.Profile.(Profile); ok && sp == updated {
			return stored, nil
		}
	}
	synced := &intune.User{ID: u.ID, IsBot: u.IsBot, Deactivated: u.Deactivated, Profile: updated}
	s.users[key] = synced
	return synced, nil
}

// CheckNewUser is intune.NewUserChecker: the error CreateUser would return
// now for a first sign-in with c (intune.ErrEmailInUse when another account
// holds the token's address), or nil. It changes nothing.
func (s *Store) CheckNewUser(_ context.Context, service intune.AuthService, c *intune.Claims) error {
	if err := s.failing(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.emailFreeLocked(profileFrom(Profile{}, c).Email, userKey{service, c.ObjectID})
}

// emailFreeLocked returns nil when no user but the one with key holds
// email (ignoring case; "" is never held), else intune.ErrEmailInUse
// naming the holder. s.mu is held.
func (s *Store) emailFreeLocked(email string, key userKey) error {
	if email == "" {
		return nil
	}
	for k, u := range s.users {
		if p, ok := u.Profile.(Profile); ok && k != key && strings.EqualFold(p.Email, email) {
			return fmt.Errorf("email %q is held by user %s: %w", email, u.ID, intune.ErrEmailInUse)
		}
	}
	return nil
}

// profileFrom applies the attributes the token carries, as a login does.
func profileFrom(p Profile, c *intune.Claims) Profile {
	if c.Email != "" {
		p.Email = c.Email
	}
	if c.PreferredUsername != "" {
		p.Username = c.PreferredUsername
	} else if c.UPN != "" {
		p.Username = c.UPN
	}
	if c.GivenName != "" {
		p.FirstName = c.GivenName
	}
	if c.FamilyName != "" {
		p.LastName = c.FamilyName
	}
	return p
}

// Sessions is an intune.SessionIssuer that records every sign-in and sets a
// Token header. Err, when set, makes it fail.
type Sessions struct {
	mu      sync.Mutex
	signIns []intune.SignIn
	Err     error // when set, IssueSession fails with it
}

// IssueSession records the sign-in and sets the Token header to
// "session-<user ID>"; with Err set it sets a Token header and fails (a
// handler must take it back).
func (s *Sessions) IssueSession(_ context.Context, w http.ResponseWriter, _ *http.Request, in *intune.SignIn) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Err != nil {
		w.Header().Set("Token", "half-made") // the handler must remove it
		return s.Err
	}
	s.signIns = append(s.signIns, *in)
	w.Header().Set("Token", "session-"+in.User.ID)
	return nil
}

// SignIns returns the sign-ins recorded so far.
func (s *Sessions) SignIns() []intune.SignIn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]intune.SignIn(nil), s.signIns...)
}
