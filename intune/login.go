package intune

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/mamlogin/mamlogin/internal/strictjson"
)

// Bounds on the request. A real body is a 1.5-4 KB token and two short ids.
const (
	MaxBodyBytes    = MaxTokenBytes + 8<<10
	MaxDeviceIDLen  = 512
	RequestIDHeader = "X-Request-ID"
)

// HandlerOption configures NewLoginHandler.
type HandlerOption func(*LoginHandler)

// WithLogger sets the admin log (default slog.Default()).
func WithLogger(l *slog.Logger) HandlerOption { return func(h *LoginHandler) { h.log = l } }

// WithAvailability: false means this build or licence lacks the feature: not_available (501).
func WithAvailability(ok func(ctx context.Context) bool) HandlerOption {
	return func(h *LoginHandler) { h.available = ok }
}

// WithProviderCheck: false means the enforced provider is not itself configured in the
// host: ent.intune.login.not_configured (403).
func WithProviderCheck(ok func(ctx context.Context, s AuthService) bool) HandlerOption {
	return func(h *LoginHandler) { h.providerOK = ok }
}

// WithRetryStatus sets the status of the `retry once` rows (invalid_token, token_expired,
// extract_auth_data); default 400 as documented; the shipping app retries only on 401.
// ID, message and body are unchanged.
func WithRetryStatus(code int) HandlerOption { return func(h *LoginHandler) { h.retryStatus = code } }

// WithMessages localises user messages per request (e.g. by Accept-Language): it gets the
// error ID and the documented English text ("" for silent rows); returning "" keeps English.
// Silent rows stay silent whatever it returns.
func WithMessages(msg func(r *http.Request, id, english string) string) HandlerOption {
	return func(h *LoginHandler) { h.messages = msg }
}

// LoginHandler is the sign-in endpoint: an http.Handler the host mounts
// where the shipping app posts.
type LoginHandler struct {
	cfg         Config
	v           *Validator
	store       UserStore
	sessions    SessionIssuer
	log         *slog.Logger
	available   func(context.Context) bool
	providerOK  func(context.Context, AuthService) bool
	retryStatus int
	messages    func(r *http.Request, id, english string) string
	// notConfigured is why Intune MAM is off for this handler ("" when it is
	// enabled, complete and has a Validator); the config never changes.
	notConfigured string
}

// NewLoginHandler returns the sign-in endpoint. Mount it where the shipping
// app posts (POST /oauth/intune) and at POST /api/v4/users/login/intune. It
// applies the contract's gates in order (available, enabled and complete,
// provider configured), validates the token with v, resolves the user by oid
// through store and opens the session through sessions. v may be nil while
// Intune MAM is disabled. Every failure is answered with its app_error and
// logged once.
func NewLoginHandler(cfg Config, v *Validator, store UserStore, sessions SessionIssuer, opts ...HandlerOption) *LoginHandler {
	h := &LoginHandler{cfg: cfg, v: v, store: store, sessions: sessions, log: slog.Default()}
	for _, o := range opts {
		o(h)
	}
	switch {
	case !cfg.Enable:
		h.notConfigured = "Intune MAM is disabled (Enable is false)"
	case !cfg.complete():
		h.notConfigured = fmt.Sprintf("configuration is incomplete or invalid: %v", cfg.Check())
	case v == nil:
		h.notConfigured = "the host passed no Validator to NewLoginHandler"
	}
	return h
}

// request is the app's body: {"device_id", "voip_device_id", "access_token"}.
type request struct {
	accessToken, deviceID, voipDeviceID string
	hasToken                            bool
}

func (h *LoginHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusMethodNotAllowed)
		_ = json.NewEncoder(w).Encode(appErrorJSON{ID: "api.context.method_not_allowed.app_error",
			RequestID: requestID(r), StatusCode: http.StatusMethodNotAllowed})
		return
	}
	rid := requestID(r)
	w.Header().Set(RequestIDHeader, rid)
	w.Header().Set("Cache-Control", "no-store")
	start := time.Now()
	u, c, body, e := h.signIn(w, r)
	if e != nil {
		e.RequestID = rid
		h.fail(w, r, e, time.Since(start))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
	h.log.LogAttrs(r.Context(), slog.LevelInfo, "intune: signed in",
		slog.String("request_id", rid), slog.String("user_id", u.ID), slog.String("oid", c.ObjectID),
		slog.String("tid", c.TenantID), slog.String("auth_service", string(h.cfg.AuthService)))
}

// signIn runs the gates, validation and user resolution, and opens the
// session; it returns the user, the claims and the response body.
func (h *LoginHandler) signIn(w http.ResponseWriter, r *http.Request) (*User, *Claims, []byte, *AppError) {
	ctx := r.Context()
	if h.available != nil && !h.available(ctx) {
		return nil, nil, nil, ErrNotAvailable.because("the host reports Intune MAM unavailable in this build or licence")
	}
	if h.notConfigured != "" {
		return nil, nil, nil, ErrNotConfigured.because("%s", h.notConfigured)
	}
	if h.providerOK != nil && !h.providerOK(ctx, h.cfg.AuthService) {
		return nil, nil, nil, ErrProviderNotConfigured.because("the enforced provider %q is not configured in the host", h.cfg.AuthService)
	}
	req, e := readRequest(w, r)
	if e != nil {
		return nil, nil, nil, e
	}
	c, e := h.v.validate(ctx, req.accessToken)
	if e != nil {
		return nil, nil, nil, e
	}
	u, e := h.resolve(ctx, c)
	if e != nil {
		e.Facts = c.facts(e.Facts.KeyID)
		return nil, nil, nil, e
	}
	// The body is made before the session, so that no failure can follow a
	// session's credentials out of the door.
	body, err := json.Marshal(profile(u))
	if err != nil {
		e := ErrStoreFailed.because("the profile of user %q does not marshal to JSON: %v", u.ID, err)
		e.Facts = c.facts("")
		return nil, nil, nil, e
	}
	s := &SignIn{User: u, Claims: c, DeviceID: req.deviceID, VoIPDeviceID: req.voipDeviceID}
	if err := h.sessions.IssueSession(ctx, w, r, s); err != nil {
		w.Header().Del("Token")
		w.Header().Del("Set-Cookie")
		e := ErrSessionFailed.because("IssueSession: %v", err)
		e.Facts = c.facts("")
		return nil, nil, nil, e
	}
	return u, c, body, nil
}

// readRequest reads the bounded JSON body. Unknown members are ignored (a
// newer app may add some); a repeated member, a non-string value or an
// oversized id is invalid_token.
func readRequest(w http.ResponseWriter, r *http.Request) (*request, *AppError) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, ErrInvalidToken.because("request body is over the %d-byte bound", MaxBodyBytes)
		}
		return nil, ErrInvalidToken.because("reading the request body: %v", err)
	}
	return parseRequest(body)
}

func parseRequest(body []byte) (*request, *AppError) {
	req := &request{}
	err := strictjson.Each(decoded(body), func(name string, v strictjson.Value) error {
		var dst *string
		switch name {
		case "access_token":
			dst, req.hasToken = &req.accessToken, true
		case "device_id":
			dst = &req.deviceID
		case "voip_device_id":
			dst = &req.voipDeviceID
		default:
			return nil
		}
		if v.Kind == strictjson.Null {
			return nil
		}
		s, ok := v.Str()
		if !ok {
			return fmt.Errorf("%s is %s, not a string", name, v.Kind)
		}
		*dst = s
		return nil
	})
	switch {
	case err != nil:
		return nil, ErrInvalidToken.because("request body: %v", err)
	case req.accessToken == "":
		return nil, ErrInvalidToken.because("request body has no access_token")
	case len(req.deviceID) > MaxDeviceIDLen:
		return nil, ErrInvalidToken.because("device_id is %d bytes, over the %d-byte bound", len(req.deviceID), MaxDeviceIDLen)
	case len(req.voipDeviceID) > MaxDeviceIDLen:
		return nil, ErrInvalidToken.because("voip_device_id is %d bytes, over the %d-byte bound", len(req.voipDeviceID), MaxDeviceIDLen)
	}
	return req, nil
}

// resolve finds (or, for OpenID, creates) the user by oid and syncs it.
func (h *LoginHandler) resolve(ctx context.Context, c *Claims) (*User, *AppError) {
	svc := h.cfg.AuthService
	u, err := h.store.UserByObjectID(ctx, svc, c.ObjectID)
	switch {
	case err == nil && u == nil:
		return nil, ErrStoreFailed.because("UserByObjectID returned neither a user nor an error")
	case errors.Is(err, ErrUserNotFound):
		if !svc.createsUsers() {
			return nil, ErrAccountNotFound.because("no user has objectId %q for provider %q, and mobile sign-in never creates SAML users", c.ObjectID, svc)
		}
		u, err = h.store.CreateUser(ctx, svc, c)
		if errors.Is(err, ErrUserExists) {
			// A concurrent first sign-in (the app's retry, a second device) won.
			u, err = h.store.UserByObjectID(ctx, svc, c.ObjectID)
		}
		if err != nil {
			return nil, ErrStoreFailed.because("creating the user for objectId %q: %v", c.ObjectID, err)
		}
		if u == nil {
			return nil, ErrStoreFailed.because("CreateUser returned neither a user nor an error")
		}
		if e := admissible(u); e != nil {
			return nil, e
		}
		return u, nil
	case err != nil:
		return nil, ErrStoreFailed.because("looking up objectId %q: %v", c.ObjectID, err)
	}
	if e := admissible(u); e != nil {
		return nil, e
	}
	synced, err := h.store.SyncUser(ctx, u, c)
	if err != nil {
		return nil, ErrStoreFailed.because("syncing user %q from the token: %v", u.ID, err)
	}
	if synced == nil {
		synced = u
	}
	return synced, nil
}

func admissible(u *User) *AppError {
	if u.IsBot {
		return ErrBotLoginForbidden.because("user %q is a bot", u.ID)
	}
	if u.Deactivated {
		return ErrAccountLocked.because("user %q is deleted, deactivated or locked", u.ID)
	}
	return nil
}

// profile is the success body: the host's user JSON, or its id.
func profile(u *User) any {
	if u.Profile != nil {
		return u.Profile
	}
	return map[string]string{"id": u.ID}
}

// fail answers with e's app_error and logs it once for the admin.
func (h *LoginHandler) fail(w http.ResponseWriter, r *http.Request, e *AppError, took time.Duration) {
	status := e.StatusCode
	if e.Retry == RetryOnce && h.retryStatus != 0 {
		status = h.retryStatus
	}
	out := *e
	out.StatusCode = status
	if h.messages != nil && e.Message != "" {
		if m := h.messages(r, e.ID, e.Message); m != "" {
			out.Message = m
		}
	}
	body, _ := json.Marshal(&out)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)

	level := slog.LevelWarn
	if status >= 500 && status != http.StatusNotImplemented {
		level = slog.LevelError
	}
	f := e.Facts
	h.log.LogAttrs(r.Context(), level, "intune: sign-in failed",
		slog.String("request_id", e.RequestID),
		slog.String("error_id", e.ID),
		slog.Int("status", status),
		slog.String("reason", e.Reason),
		slog.String("cause", e.AdminCause),
		slog.String("next_step", e.AdminNextStep),
		slog.String("retry", string(e.Retry)),
		slog.String("fallback", string(e.Fallback)),
		slog.Group("token",
			slog.String("tid", f.TenantID), slog.String("oid", f.ObjectID), slog.String("aud", f.Audience),
			slog.String("azp", f.AuthorizedParty), slog.String("kid", f.KeyID), slog.Int64("exp", f.ExpiresAt),
			slog.String("iss", f.Issuer), slog.String("ver", f.Version)),
		slog.String("user_agent", clipString(r.UserAgent(), 200)),
		slog.Duration("took", took),
	)
}

// requestID takes the client's X-Request-ID when it is a sane token, else
// makes one (26 characters, as Mattermost's ids).
func requestID(r *http.Request) string {
	if id := r.Header.Get(RequestIDHeader); id != "" && len(id) <= 64 {
		ok := true
		for i := 0; i < len(id) && ok; i++ {
			c := id[i]
			ok = c == '-' || c == '_' || c == '.' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
		}
		if ok {
			return id
		}
	}
	const alphabet = "ybndrfg8ejkmcpqxot1uwisza345h769"
	var b [26]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = alphabet[b[i]%32]
	}
	return string(b[:])
}

func clipString(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
