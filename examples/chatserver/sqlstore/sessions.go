package sqlstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/mamlogin/mamlogin/internal/mmid"
	"github.com/mamlogin/mamlogin/intune"
)

// DefaultSessionLifetime is how long a session lasts unless
// Sessions.Lifetime says otherwise: Mattermost's default for mobile
// sessions.
const DefaultSessionLifetime = 30 * 24 * time.Hour

// ErrNoSession is what SessionUser returns for a token that opens no
// session: unknown, expired, revoked, or its user deactivated. Callers
// answer 401 and the app signs in again; which of these it was is not told.
var ErrNoSession = errors.New("sqlstore: no live session for this token")

// Mattermost's session credentials.
const (
	HeaderToken  = "Token"       // the bearer token, in the sign-in response
	CookieToken  = "MMAUTHTOKEN" // the bearer token, HttpOnly
	CookieUserID = "MMUSERID"
	CookieCSRF   = "MMCSRF"
)

// Sessions is the store's [intune.SessionIssuer]: Mattermost-like sessions
// with random bearer tokens, of which only a hash is stored.
type Sessions struct {
	// Lifetime is how long a session lasts from sign-in; 0 means
	// DefaultSessionLifetime.
	Lifetime time.Duration
	// Secure says whether a request reached the server over TLS, so that
	// its cookies are Secure; nil means r.TLS != nil. A server behind a TLS
	// proxy sets it to believe that proxy's X-Forwarded-Proto (and no one
	// else's).
	Secure func(r *http.Request) bool

	db *DB
}

var _ intune.SessionIssuer = (*Sessions)(nil)

// Sessions returns a session issuer with the default lifetime.
func (db *DB) Sessions() *Sessions { return &Sessions{db: db, Lifetime: DefaultSessionLifetime} }

func (s *Sessions) lifetime() time.Duration {
	if s.Lifetime > 0 {
		return s.Lifetime
	}
	return DefaultSessionLifetime
}

// IssueSession opens a session for the signed-in user and writes its
// credentials: header Token, cookies MMAUTHTOKEN (HttpOnly), MMUSERID and
// MMCSRF, all expiring with the session, Secure when the request came over
// TLS (see Secure), SameSite Lax.
//
// A sign-in with a device id first revokes every other live session of
// that device id, whoever's, in the same transaction as the insert: the
// device id is the app's push registration on one phone, and a phone
// handed to someone else must neither keep the previous user's session
// nor receive their pushes. Mattermost does the same at every login
// (RevokeSessionsForDeviceId, for the signing-in user's own sessions; here
// also for another user's, as the app holds one account per server). One
// transaction: two sign-ins on one device settle on one live session, and
// a failed insert revokes nothing. An empty device id (a client without
// push) revokes nothing.
//
// The session row is inserted before any header is set: if the database
// fails, the response carries no token for a session that does not exist,
// and there is nothing for the handler to take back.
func (s *Sessions) IssueSession(ctx context.Context, w http.ResponseWriter, r *http.Request, in *intune.SignIn) error {
	token, csrf := newID(), newID()
	now := s.db.now()
	lifetime := s.lifetime()
	expires := now.Add(lifetime)
	var revoked int64
	err := s.db.inTx(ctx, func(tx *sql.Tx) error {
		if in.DeviceID != "" {
			if err := s.db.lockDevice(ctx, tx, in.DeviceID); err != nil {
				return err
			}
			res, err := tx.ExecContext(ctx, `UPDATE sessions SET revoked_at = $2 WHERE device_id = $1 AND revoked_at = 0`,
				in.DeviceID, millis(now))
			if err != nil {
				return fmt.Errorf("revoking the device's other sessions: %w", err)
			}
			revoked, _ = res.RowsAffected()
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO sessions
			(token_hash, user_id, csrf, device_id, voip_device_id, create_at, expires_at, revoked_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, 0)`,
			hashToken(token), in.User.ID, csrf, in.DeviceID, in.VoIPDeviceID, millis(now), millis(expires))
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlstore: issue session for user %s: %w", in.User.ID, err)
	}
	if revoked > 0 {
		// The count and the user, never the device id: it is a push token.
		s.db.logger().Info("sign-in on a device revoked its earlier sessions", "user_id", in.User.ID, "revoked", revoked)
	}

	secure := r.TLS != nil
	if s.Secure != nil {
		secure = s.Secure(r)
	}
	cookie := func(name, value string, httpOnly bool) *http.Cookie {
		return &http.Cookie{Name: name, Value: value, Path: "/", Expires: expires, MaxAge: int(lifetime.Seconds()),
			HttpOnly: httpOnly, Secure: secure, SameSite: http.SameSiteLaxMode}
	}
	w.Header().Set(HeaderToken, token)
	http.SetCookie(w, cookie(CookieToken, token, true))
	http.SetCookie(w, cookie(CookieUserID, in.User.ID, false))
	http.SetCookie(w, cookie(CookieCSRF, csrf, false))
	return nil
}

// deviceLockClass is the first key of the PostgreSQL advisory locks that
// serialise sign-ins on one device ("dev" in ASCII); the second is a hash
// of the device id. Two-key locks never meet the migration's one-key lock.
const deviceLockClass = 0x646576

// lockDevice makes concurrent sign-ins on one device take turns until the
// transaction ends, so that each revokes what the one before it inserted:
// under PostgreSQL's READ COMMITTED, two transactions that each revoke
// and then insert would otherwise both miss the other's uncommitted row
// and leave two live sessions. SQLite needs nothing: its transactions take
// the database's write lock at BEGIN (see sqliteDSN).
func (db *DB) lockDevice(ctx context.Context, tx *sql.Tx, deviceID string) error {
	if db.engine != EnginePostgres {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, int32(deviceLockClass), deviceID); err != nil {
		return fmt.Errorf("locking the device: %w", err)
	}
	return nil
}

// SessionUser returns the user of the session the bearer token opens, if
// that session is live: not expired, not revoked, and its user not
// deactivated. Otherwise ErrNoSession; any other error is a store failure.
func (s *Sessions) SessionUser(ctx context.Context, bearer string) (*intune.User, error) {
	if bearer == "" {
		return nil, ErrNoSession
	}
	u, err := scanUser(s.db.sql.QueryRowContext(ctx, `SELECT `+userColumns("u.")+`
		FROM sessions s JOIN users u ON u.id = s.user_id
		WHERE s.token_hash = $1 AND s.revoked_at = 0 AND s.expires_at > $2 AND u.delete_at = 0`,
		hashToken(bearer), millis(s.db.now())))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNoSession
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: session user: %w", err)
	}
	return u, nil
}

// RevokeSession ends the session of the bearer token (logout). It returns
// ErrNoSession when there was no unrevoked session to end.
func (s *Sessions) RevokeSession(ctx context.Context, bearer string) error {
	res, err := s.db.exec(ctx, `UPDATE sessions SET revoked_at = $2 WHERE token_hash = $1 AND revoked_at = 0`,
		hashToken(bearer), millis(s.db.now()))
	if err != nil {
		return fmt.Errorf("sqlstore: revoke session: %w", err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return ErrNoSession
	}
	return nil
}

// RevokeUserSessions ends every session of the user (e.g. when Intune
// reports the device wiped, or an administrator signs the user out).
func (s *Sessions) RevokeUserSessions(ctx context.Context, userID string) error {
	_, err := s.db.exec(ctx, `UPDATE sessions SET revoked_at = $2 WHERE user_id = $1 AND revoked_at = 0`,
		userID, millis(s.db.now()))
	if err != nil {
		return fmt.Errorf("sqlstore: revoke sessions of user %s: %w", userID, err)
	}
	return nil
}

// TokenFromRequest is the bearer token of a request, as Mattermost reads
// it: the Authorization header ("Bearer <token>"), else the MMAUTHTOKEN
// cookie. Empty when there is neither.
func TokenFromRequest(r *http.Request) string {
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return strings.TrimSpace(tok)
	}
	if c, err := r.Cookie(CookieToken); err == nil {
		return c.Value
	}
	return ""
}

// hashToken is what the sessions table stores instead of the token: its
// SHA-256, hex. A plain hash suffices (no salt, no slow hash) because the
// token is 130 random bits, not a guessable password, and the lookup must
// be by equality.
func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// newID makes a 26-character Mattermost-like id from 130 random bits; it
// serves for user ids, session tokens and CSRF tokens alike, as in
// Mattermost. (A server of your own has its own id maker.)
func newID() string { return mmid.New() }
