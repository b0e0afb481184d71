package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/mamlogin/mamlogin/intune"
)

// Profile is a user as the store keeps it and as sign-in returns it (the
// response body's user JSON): the fields of intunetest.Profile, plus the
// creation and update times in Unix milliseconds, as Mattermost's.
type Profile struct {
	ID          string `json:"id"`
	Username    string `json:"username"`
	Email       string `json:"email"`
	FirstName   string `json:"first_name"`
	LastName    string `json:"last_name"`
	AuthService string `json:"auth_service"`
	AuthData    string `json:"auth_data"` // the Entra objectId
	IsBot       bool   `json:"is_bot"`
	DeleteAt    int64  `json:"delete_at"` // 0: active; else when it was deactivated
	CreateAt    int64  `json:"create_at"`
	UpdateAt    int64  `json:"update_at"`
}

// Users is the store's [intune.UserStore], plus the provisioning and lookup
// helpers the example server and tests use.
type Users struct{ db *DB }

var _ intune.UserStore = (*Users)(nil)

// Users returns the user store.
func (db *DB) Users() *Users { return &Users{db: db} }

// userColumns lists the users columns scanUser reads, each prefixed (a
// table alias for joins, or "").
func userColumns(prefix string) string {
	cols := []string{"id", "username", "email", "first_name", "last_name", "auth_service", "auth_data",
		"is_bot", "delete_at", "create_at", "update_at"}
	for i, c := range cols {
		cols[i] = prefix + c
		if c == "auth_data" {
			cols[i] = "COALESCE(" + prefix + c + ", '')" // NULL: a user without an objectId
		}
	}
	return strings.Join(cols, ", ")
}

func scanUser(row interface{ Scan(...any) error }) (*intune.User, error) {
	var p Profile
	err := row.Scan(&p.ID, &p.Username, &p.Email, &p.FirstName, &p.LastName, &p.AuthService, &p.AuthData,
		&p.IsBot, &p.DeleteAt, &p.CreateAt, &p.UpdateAt)
	if err != nil {
		return nil, err
	}
	return toUser(p), nil
}

func toUser(p Profile) *intune.User {
	return &intune.User{ID: p.ID, IsBot: p.IsBot, Deactivated: p.DeleteAt != 0, Profile: p}
}

// UserByObjectID returns the user whose (auth_service, auth_data) is exactly
// (service, oid), or intune.ErrUserNotFound. Deactivated users and bots are
// returned as such: sign-in refuses them with their own errors.
func (s *Users) UserByObjectID(ctx context.Context, service intune.AuthService, oid string) (*intune.User, error) {
	if oid == "" {
		return nil, intune.ErrUserNotFound // NULL auth_data is "no objectId", never a match
	}
	u, err := scanUser(s.db.sql.QueryRowContext(ctx,
		`SELECT `+userColumns("")+` FROM users WHERE auth_service = $1 AND auth_data = $2`, string(service), oid))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, intune.ErrUserNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: user by objectId: %w", err)
	}
	return u, nil
}

// UserByID returns the user with the id, or intune.ErrUserNotFound.
func (s *Users) UserByID(ctx context.Context, id string) (*intune.User, error) {
	u, err := scanUser(s.db.sql.QueryRowContext(ctx, `SELECT `+userColumns("")+` FROM users WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, intune.ErrUserNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: user by id: %w", err)
	}
	return u, nil
}

// CountUsers counts the users with (auth_service, auth_data) = (service,
// oid): 0 or 1, by the unique constraint. Tests use it to prove that
// concurrent first sign-ins made one user.
func (s *Users) CountUsers(ctx context.Context, service intune.AuthService, oid string) (int, error) {
	var n int
	err := s.db.sql.QueryRowContext(ctx, `SELECT COUNT(*) FROM users WHERE auth_service = $1 AND auth_data = $2`,
		string(service), oid).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("sqlstore: count users: %w", err)
	}
	return n, nil
}

// CreateUser creates the user of a first OpenID sign-in (just in time).
//
// An address another account holds (users_email_key: one account per
// address, as Mattermost's) is intune.ErrEmailInUse, wrapped with a reason
// that names the holding account, so that the administrator's log says
// which account to link. That account is never signed into nor changed:
// identity is the objectId alone, and an address proves nothing about who
// owns an account made by another sign-in method.
//
// It does not check whether the user exists first: the INSERT relies on the
// unique (auth_service, auth_data) constraint, which is the only check that
// holds between replicas. When another request created the user first, it
// returns the driver's own unique-violation error (a *pgconn.PgError with
// code 23505, or a *sqlite.Error with code SQLITE_CONSTRAINT_UNIQUE),
// wrapped with %w. It does not translate it to intune.ErrUserExists: the
// sign-in handler re-reads the user after any failed create, and the raw
// error keeps what actually failed visible in logs.
//
// The username is the local part of preferred_username, else of upn, made
// valid (lowercase letters, digits, '.', '-', '_') and unique with a
// numeric suffix when taken. The email is the email claim, else upn or
// preferred_username when it has an '@'.
func (s *Users) CreateUser(ctx context.Context, service intune.AuthService, c *intune.Claims) (*intune.User, error) {
	now := millis(s.db.now())
	p := Profile{
		ID: newID(), AuthService: string(service), AuthData: c.ObjectID,
		Email: emailFrom(c), FirstName: c.GivenName, LastName: c.FamilyName,
		CreateAt: now, UpdateAt: now,
	}
	base := usernameFrom(c)
	// ON CONFLICT (username) DO NOTHING absorbs only a username clash, which
	// we answer with the next suffix; a clash on (auth_service, auth_data)
	// is not the conflict target, so it still fails the INSERT. Both engines
	// behave so.
	for attempt := 1; ; attempt++ {
		p.Username = usernameCandidate(base, attempt)
		res, err := s.db.exec(ctx, `INSERT INTO users
			(id, username, email, first_name, last_name, auth_service, auth_data, is_bot, delete_at, create_at, update_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, FALSE, 0, $8, $8)
			ON CONFLICT (username) DO NOTHING`,
			p.ID, p.Username, p.Email, p.FirstName, p.LastName, p.AuthService, p.AuthData, now)
		if err != nil {
			if held := s.emailHeld(ctx, p.Email, service, c.ObjectID); held != "" {
				return nil, fmt.Errorf("sqlstore: create user %s/%s: %s: %w", service, c.ObjectID, held, intune.ErrEmailInUse)
			}
			return nil, fmt.Errorf("sqlstore: create user %s/%s: %w", service, c.ObjectID, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return nil, fmt.Errorf("sqlstore: create user: %w", err)
		}
		if n == 1 {
			return toUser(p), nil
		}
		if attempt == maxUsernameAttempts {
			return nil, fmt.Errorf("sqlstore: create user %s/%s: no free username like %q", service, c.ObjectID, base)
		}
	}
}

// CheckNewUser is intune.NewUserChecker, for the doctor and the test page:
// intune.ErrEmailInUse, naming the holder, when another account holds the
// address CreateUser would give the user of c; nil otherwise (a failed
// lookup too: the doctor's UserByObjectID reports a broken database). It
// reads only; CreateUser still decides (the address may be taken meanwhile).
func (s *Users) CheckNewUser(ctx context.Context, service intune.AuthService, c *intune.Claims) error {
	if held := s.emailHeld(ctx, emailFrom(c), service, c.ObjectID); held != "" {
		return fmt.Errorf("sqlstore: a first sign-in of %s/%s: %s: %w", service, c.ObjectID, held, intune.ErrEmailInUse)
	}
	return nil
}

var _ intune.NewUserChecker = (*Users)(nil)

// emailHeld says which other account holds email, or "" when none does
// (after a failed insert: the failure was something else: the same user made
// by a concurrent sign-in, which the handler's re-read finds, or a broken
// database, whose own error then tells). A failed lookup is "" too: the
// insert's error is the one to report.
func (s *Users) emailHeld(ctx context.Context, email string, service intune.AuthService, oid string) string {
	if email == "" {
		return ""
	}
	var id, username, holderService, holderData string
	err := s.db.sql.QueryRowContext(ctx, `SELECT id, username, auth_service, COALESCE(auth_data, '') FROM users
		WHERE lower(email) = lower(CAST($1 AS TEXT)) AND email <> ''`, email).Scan(&id, &username, &holderService, &holderData)
	if err != nil || (holderService == string(service) && holderData == oid) {
		return ""
	}
	method := "auth_service " + strconv.Quote(holderService)
	if holderService == "" {
		method = "no auth_service (an email/password account)"
	}
	return fmt.Sprintf("the address %s is held by user %s (username %q, %s, auth_data %q), which is not this objectId's account for %s",
		email, id, username, method, holderData, service)
}

// AddUser provisions a user as an administrator or directory sync would:
// bots, deactivated users, users of SAML (which never creates users at
// sign-in) or of any other service. Empty ID, CreateAt and UpdateAt are
// filled in; an empty AuthData stores NULL (a user without an objectId).
// Unlike CreateUser, a taken username is an error.
func (s *Users) AddUser(ctx context.Context, p Profile) (*intune.User, error) {
	if p.ID == "" {
		p.ID = newID()
	}
	if p.CreateAt == 0 {
		p.CreateAt = millis(s.db.now())
	}
	if p.UpdateAt == 0 {
		p.UpdateAt = p.CreateAt
	}
	_, err := s.db.exec(ctx, `INSERT INTO users
		(id, username, email, first_name, last_name, auth_service, auth_data, is_bot, delete_at, create_at, update_at)
		VALUES ($1, $2, $3, $4, $5, $6, NULLIF($7, ''), $8, $9, $10, $11)`,
		p.ID, p.Username, p.Email, p.FirstName, p.LastName, p.AuthService, p.AuthData, p.IsBot, p.DeleteAt, p.CreateAt, p.UpdateAt)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: add user %q: %w", p.Username, err)
	}
	return toUser(p), nil
}

// SyncUser applies the token's non-empty attributes (email, given and
// family name) to u, bumps update_at, and returns the user as stored
// afterwards: if an administrator deactivated the user meanwhile, the
// result says so, and sign-in refuses it. A new address that another
// account holds is not applied (the user keeps the stored one, and the
// store logs why): the user is the right one, found by objectId, and a
// sign-in is no reason to fail.
//
// Whether another account holds the address is the unique index's answer,
// not a prior SELECT: under READ COMMITTED a query cannot see another
// transaction's uncommitted insert (a concurrent first sign-in with that
// address), but the index waits for it and then refuses. So the update is
// tried with the new address and, on a violation of users_email_key,
// re-run keeping the stored one.
func (s *Users) SyncUser(ctx context.Context, u *intune.User, c *intune.Claims) (*intune.User, error) {
	email := emailFrom(c)
	err := s.syncUser(ctx, u.ID, email, c)
	if email != "" && isEmailKeyViolation(err) {
		s.db.logger().Warn("sqlstore: sync user: the token's address is held by another account; the stored address is kept",
			"user_id", u.ID, "err", err)
		err = s.syncUser(ctx, u.ID, "", c)
	}
	if err != nil {
		return nil, err
	}
	return s.UserByID(ctx, u.ID)
}

// syncUser is SyncUser's UPDATE; an empty email keeps the stored one.
func (s *Users) syncUser(ctx context.Context, id, email string, c *intune.Claims) error {
	// COALESCE(NULLIF(new, ''), old): an absent claim keeps the stored value.
	res, err := s.db.exec(ctx, `UPDATE users SET
			email      = COALESCE(NULLIF($2, ''), email),
			first_name = COALESCE(NULLIF($3, ''), first_name),
			last_name  = COALESCE(NULLIF($4, ''), last_name),
			update_at  = $5
		WHERE id = $1`,
		id, email, c.GivenName, c.FamilyName, millis(s.db.now()))
	if err != nil {
		return fmt.Errorf("sqlstore: sync user %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("sqlstore: sync user %s: %w", id, intune.ErrUserNotFound)
	}
	return nil
}

// isEmailKeyViolation says whether err is either driver's unique violation
// of users_email_key (another account holds the address), and not of
// another constraint.
func isEmailKeyViolation(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "23505" /* unique_violation */ && pgErr.ConstraintName == emailKey
	}
	var sqErr *sqlite.Error
	if errors.As(err, &sqErr) {
		// SQLite names the index only in the message: "UNIQUE constraint
		// failed: index 'users_email_key'".
		return sqErr.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE && strings.Contains(sqErr.Error(), "'"+emailKey+"'")
	}
	return false
}

// emailKey is the unique index of lower(email) (schema version 3).
const emailKey = "users_email_key"

// DeactivateUser sets delete_at (Mattermost's deactivation). Its sessions
// stop resolving at once: SessionUser checks delete_at.
func (s *Users) DeactivateUser(ctx context.Context, id string) error {
	now := millis(s.db.now())
	res, err := s.db.exec(ctx, `UPDATE users SET delete_at = $2, update_at = $2 WHERE id = $1`, id, now)
	if err != nil {
		return fmt.Errorf("sqlstore: deactivate user %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("sqlstore: deactivate user %s: %w", id, intune.ErrUserNotFound)
	}
	return nil
}

// emailFrom is the email claim, else upn or preferred_username when it
// looks like an address. Lowercased, as Mattermost stores emails.
func emailFrom(c *intune.Claims) string {
	if c.Email != "" {
		return strings.ToLower(c.Email)
	}
	for _, e := range []string{c.UPN, c.PreferredUsername} {
		if strings.Contains(e, "@") {
			return strings.ToLower(e)
		}
	}
	return ""
}

// maxUsernameLen is Mattermost's username limit.
const maxUsernameLen = 64

// maxUsernameAttempts bounds CreateUser's suffix search; the last attempts
// use a random suffix.
const maxUsernameAttempts = 20

// usernameFrom makes a Mattermost-valid username from the local part of
// preferred_username, else of upn: lowercase letters, digits, '.', '-' and
// '_', starting with a letter. "user" when neither claim helps.
func usernameFrom(c *intune.Claims) string {
	name := c.PreferredUsername
	if name == "" {
		name = c.UPN
	}
	name, _, _ = strings.Cut(strings.ToLower(name), "@")
	var b strings.Builder
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	name = strings.Trim(b.String(), ".-_")
	if name == "" {
		return "user"
	}
	if name[0] < 'a' || name[0] > 'z' {
		name = "u" + name
	}
	return name
}

// usernameCandidate is base for the first attempt, then base-2, base-3...,
// and base-<random> for the last few, so that a crowd of namesakes still
// finds a free name. Truncated to keep within maxUsernameLen.
func usernameCandidate(base string, attempt int) string {
	suffix := ""
	switch {
	case attempt == 1:
	case attempt < maxUsernameAttempts-4:
		suffix = "-" + strconv.Itoa(attempt)
	default:
		suffix = "-" + strings.ToLower(rand.Text()[:8])
	}
	if len(base)+len(suffix) > maxUsernameLen {
		base = base[:maxUsernameLen-len(suffix)]
	}
	return base + suffix
}
