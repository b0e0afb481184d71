package intune

import (
	"fmt"
	"net/http"
)

// Retry says whether the app may try the sign-in again after an error.
type Retry string

// Fallback says where the app sends the user after an error.
type Fallback string

const (
	RetryNo   Retry = "no"   // do not retry
	RetryOnce Retry = "once" // retry once, with a fresh token

	FallbackNone   Fallback = "none"    // stop; show the message
	FallbackWebSSO Fallback = "web_sso" // send the user to web sign-in
)

// AppError is one documented sign-in failure: the catalog row (ID, status, user
// message, retry and fallback hints, admin cause and next step) plus, on the
// copies this package returns, the concrete internal Reason and the safe token
// Facts. Only ID, Message and StatusCode ever reach the client.
//
// errors.Is(err, ErrTokenExpired) holds for any *AppError with that ID;
// errors.As(err, &appErr) yields the copy with its Reason.
type AppError struct {
	ID         string // e.g. "ent.intune.validate_token.token_expired.app_error"
	StatusCode int    // the HTTP status answered (WithRetryStatus may make the retry-once rows 401)
	Message    string // user message; "" for silent errors

	Retry         Retry    // whether the app may try again
	Fallback      Fallback // where the app sends the user
	AdminCause    string   // what is wrong, for the admin
	AdminNextStep string   // what the admin should do

	// Reason is the concrete internal cause ("aud is X, expected Y"). It is
	// logged for the admin and never sent to the client.
	Reason string
	// RequestID goes into MarshalJSON's body. The login handler writes its
	// own request id and leaves this field alone.
	RequestID string
	// Facts are safe token facts (tid, oid, aud, azp, kid, exp) gathered up to
	// the failure, for the admin's log. Never the raw token.
	Facts TokenFacts

	fix      string // the next step that fits this failure's reason; "" means AdminNextStep
	identity bool   // the fix concerns mapping the user's identity (the host's IdAttribute)
	// unverified is the token whose key was not found: its few facts are
	// read (clipped) only if the failure is logged, not for every flood.
	unverified *token
}

// TokenFacts are the parts of a token that are safe to log: identifiers and
// times, never the token, its signature or personal attributes.
type TokenFacts struct {
	TenantID        string // tid
	ObjectID        string // oid
	Audience        string // aud
	AuthorizedParty string // azp (appid in a v1 token)
	KeyID           string // kid of the header
	Issuer          string // iss
	Version         string // ver
	ExpiresAt       int64  // exp, Unix seconds; 0 when unknown
	// Verified is true when the facts come from claims whose signature
	// verified. Unverified facts (the token named a key not in the set) are
	// what the token claims, clipped: an attacker's words, not facts.
	Verified bool
}

// Error returns the ID and, when set, the internal reason. It is for logs and
// tests; clients get MarshalJSON.
func (e *AppError) Error() string {
	if e == nil {
		return "intune: <nil *AppError>"
	}
	if e.Reason == "" {
		return e.ID
	}
	return e.ID + ": " + e.Reason
}

// Is reports whether target is an *AppError with the same ID, so that
// errors.Is(err, ErrInvalidToken) matches any copy carrying a reason. A
// sentinel is compared by its row's ID, whatever its contents.
func (e *AppError) Is(target error) bool {
	t, ok := target.(*AppError)
	return ok && t != nil && e != nil && t.row().ID == e.row().ID
}

// Silent reports whether the app shows no message for this error.
func (e *AppError) Silent() bool { return e.Message == "" }

// NextStep is the admin's next step for this failure: one that fits its
// reason where the reason says more than the row (a malformed body is a
// client or proxy problem, not a Tenant ID one), else AdminNextStep.
func (e *AppError) NextStep() string {
	if e.fix != "" {
		return e.fix
	}
	return e.AdminNextStep
}

// NewAppError returns a row of the host's own for a UserStore to return:
// the handler answers it with this ID, status and user message (the shipping
// app knows, for example, a 428 "ent.intune.login.account_creation_blocked.app_error"
// for a host that blocks account creation). The admin's cause and next step
// go to the log; the app may not retry and has no fallback. Wrap it, or set
// Reason on it, to say why in the log.
//
//	return nil, intune.NewAppError("ent.intune.login.account_creation_blocked.app_error",
//		http.StatusPreconditionRequired, "Your account cannot be created here. Please contact your administrator.",
//		"Account creation is blocked for mobile sign-in.", "Create the account first, then retry.")
func NewAppError(id string, status int, message, adminCause, adminNextStep string) *AppError {
	return &AppError{ID: id, StatusCode: status, Message: message, Retry: RetryNo, Fallback: FallbackNone,
		AdminCause: adminCause, AdminNextStep: adminNextStep}
}

// because returns a copy of the catalog row e (errX, never a sentinel)
// carrying an internal reason, formatted now: that costs a
// rejection at most 0.02x an RSA verify (measured), so nothing is deferred.
func (e *AppError) because(format string, args ...any) *AppError {
	return e.becauseText(fmt.Sprintf(format, args...))
}

// becauseText is because with a reason already made.
func (e *AppError) becauseText(reason string) *AppError {
	c := *e
	c.Reason = reason
	return &c
}

// fixedBy sets the next step that fits this failure and returns e.
func (e *AppError) fixedBy(step string) *AppError {
	e.fix = step
	return e
}

// MarshalJSON writes the app_error body the app reads, as the login handler
// writes it. detailed_error is always empty: validation internals are
// logged, never sent.
func (e *AppError) MarshalJSON() ([]byte, error) {
	return appErrorBody(nil, e.ID, e.Message, e.RequestID, e.StatusCode), nil
}

// The library's rows: what it answers. The IDs, statuses and messages are
// what the shipping app knows: they never change. The package's code names
// these, never the exported sentinels, so that no caller can change an
// answer (TestSentinelsCannotChangeAnswers).
var (
	errNotAvailable = &AppError{
		ID: "api.user.login_by_intune.not_available.app_error", StatusCode: http.StatusNotImplemented,
		Retry: RetryNo, Fallback: FallbackWebSSO,
		AdminCause:    "The server does not support Intune MAM: the feature is not available in this build or not enabled (licensed) for this deployment.",
		AdminNextStep: "Confirm the server build includes Intune MAM support and that the deployment is licensed for it; users sign in via web or desktop meanwhile.",
	}
	errNotConfigured = &AppError{
		ID: "api.user.login_by_intune.not_configured.app_error", StatusCode: http.StatusBadRequest,
		Retry: RetryNo, Fallback: FallbackWebSSO,
		AdminCause:    "Intune MAM is not enabled, or Tenant ID, Application (Client) ID or Auth Provider is missing.",
		AdminNextStep: "Enable Microsoft Intune MAM and set Tenant ID, Application (Client) ID and Auth Provider; confirm the provider is Entra-backed and admin consent is granted.",
	}
	errBotLoginForbidden = &AppError{
		ID: "api.user.login_by_intune.bot_login_forbidden.app_error", StatusCode: http.StatusForbidden,
		Message: "Bot accounts cannot sign in using this method.",
		Retry:   RetryNo, Fallback: FallbackNone,
		AdminCause:    "Bot accounts may not authenticate through Intune MAM.",
		AdminNextStep: "Use a human user account for Intune MAM sign-in.",
	}
	errAccountLocked = &AppError{
		ID: "api.user.login_by_intune.account_locked.app_error", StatusCode: http.StatusConflict,
		Message: "Your account has been deactivated. Please contact your administrator.",
		Retry:   RetryNo, Fallback: FallbackNone,
		AdminCause:    "The user is deleted, disabled or locked in the chat server.",
		AdminNextStep: "Re-enable or restore the account, then have the user retry sign-in.",
	}
	errProviderNotConfigured = &AppError{
		ID: "ent.intune.login.not_configured.app_error", StatusCode: http.StatusForbidden,
		Retry: RetryNo, Fallback: FallbackWebSSO,
		AdminCause:    "Intune MAM is not configured for the requested authentication path (incomplete configuration or mismatched provider selection).",
		AdminNextStep: "Confirm Intune MAM is enabled and configured and that the selected Auth Provider (OIDC or SAML) matches how users authenticate.",
	}
	errExtractAuthData = &AppError{
		ID: "ent.intune.login.extract_auth_data.app_error", StatusCode: http.StatusBadRequest,
		Message: "We couldn't complete your sign in. Please try again.",
		Retry:   RetryOnce, Fallback: FallbackNone,
		AdminCause:    "The identity attribute could not be extracted or mapped: IdAttribute is not objectId, or the token is not an MSAL v2 token.",
		AdminNextStep: "Set IdAttribute = objectId for the enforced provider, confirm objectId <-> oid alignment, and set accessTokenAcceptedVersion = 2 on the Entra app.",
	}
	errAccountNotFound = &AppError{
		ID: "ent.intune.login.account_not_found.app_error", StatusCode: http.StatusPreconditionRequired,
		Message: "Your account isn't fully set up yet. Please sign in to Mattermost via the web or desktop app first.",
		Retry:   RetryNo, Fallback: FallbackNone,
		AdminCause:    "With SAML enforced, mobile sign-in cannot create a user.",
		AdminNextStep: "Have the user sign in once via web or desktop (or provision via LDAP/SAML JIT), then retry on mobile.",
	}
	errInvalidToken = &AppError{
		ID: "ent.intune.validate_token.invalid_token.app_error", StatusCode: http.StatusBadRequest,
		Message: "We couldn't verify your sign in. Please try again.",
		Retry:   RetryOnce, Fallback: FallbackNone,
		AdminCause:    "Token validation failed: malformed token, signature or key mismatch, wrong issuer or audience, or an Entra configuration or consent problem.",
		AdminNextStep: "Check that Tenant ID and Application (Client) ID match the Entra app that issued the token; confirm tenant-wide admin consent and accessTokenAcceptedVersion = 2.",
	}
	errTokenExpired = &AppError{
		ID: "ent.intune.validate_token.token_expired.app_error", StatusCode: http.StatusBadRequest,
		Message: "Your sign in session has expired. Please try signing in again.",
		Retry:   RetryOnce, Fallback: FallbackNone,
		AdminCause:    "The access token or interactive session expired during sign-in or enrollment.",
		AdminNextStep: "Have the user sign in again promptly; if it repeats, check the device reaches Entra/Intune endpoints and server and device clocks are right.",
	}
	errMissingClaims = &AppError{
		ID: "ent.intune.validate_token.missing_claims.app_error", StatusCode: http.StatusBadRequest,
		Message: "We couldn't complete your sign in. Please contact your IT administrator.",
		Retry:   RetryNo, Fallback: FallbackNone,
		AdminCause:    "Required claims are missing from the access token, most commonly oid.",
		AdminNextStep: "Confirm the Entra app issues v2 tokens (accessTokenAcceptedVersion = 2) that carry oid, that the enforced provider uses IdAttribute = objectId, and objectId <-> oid alignment.",
	}
	errInvalidTenant = &AppError{
		ID: "ent.intune.validate_token.invalid_tenant_id.app_error", StatusCode: http.StatusBadRequest,
		Message: "There was a configuration issue. Please contact your IT administrator.",
		Retry:   RetryNo, Fallback: FallbackNone,
		AdminCause:    "The token's tenant differs from the Tenant ID configured on the server.",
		AdminNextStep: "Set Tenant ID to the Entra tenant that issues the users' MSAL tokens, and confirm the app points at the right environment.",
	}
	errJWKSInit = &AppError{
		ID: "ent.intune.validate_token.jwks_init.app_error", StatusCode: http.StatusInternalServerError,
		Message: "Sign in is temporarily unavailable. Please try again later.",
		Retry:   RetryNo, Fallback: FallbackNone,
		AdminCause:    "The server has never fetched the tenant's signing keys from Entra (network, proxy, DNS, firewall or a wrong authority).",
		AdminNextStep: "Check that the server reaches the Entra authority over HTTPS (proxy, firewall, DNS) and that Tenant ID is right; run intune-doctor check on the server.",
	}
	// 400 whatever WithRetryStatus says: a 401 would make the app run MSAL
	// again for a request that cannot succeed.
	errInvalidParam = &AppError{
		ID: "api.context.invalid_param.app_error", StatusCode: http.StatusBadRequest,
		Message: "We couldn't read the sign-in request. Please update the app and try again.",
		Retry:   RetryNo, Fallback: FallbackNone,
		AdminCause:    "The request body was malformed: not JSON, without access_token, or with a device id that is too long or not in the <platform>:<token> format. A proxy that rewrites or truncates bodies, or an outdated client, is the usual cause.",
		AdminNextStep: "Check proxies between the app and the server (body rewriting, size limits) and that users run the current Mattermost app; the log record names the malformed part.",
	}
)

// The host's own rows, outside the documented catalog: its failures (500s, so
// the app never mistakes a broken store for "account not found"), an address
// another account holds, and a server still loading its configuration.
var (
	errStoreFailed = &AppError{
		ID: "ent.intune.login.store_failed.app_error", StatusCode: http.StatusInternalServerError,
		Message: "We couldn't complete your sign in right now. Please try again later.",
		Retry:   RetryNo, Fallback: FallbackNone,
		AdminCause:    "The user store failed while resolving or updating the user.",
		AdminNextStep: "Check the chat server's database and the error in this log record; no user data was changed by the failed step.",
	}
	errSessionFailed = &AppError{
		ID: "ent.intune.login.session_failed.app_error", StatusCode: http.StatusInternalServerError,
		Message: "We couldn't complete your sign in right now. Please try again later.",
		Retry:   RetryNo, Fallback: FallbackNone,
		AdminCause:    "The token and user were valid but the chat server could not create a session.",
		AdminNextStep: "Check the session store and the error in this log record.",
	}
	errEmailInUse = &AppError{
		ID: "ent.intune.login.email_in_use.app_error", StatusCode: http.StatusConflict,
		Message: "An account with your email address already exists. Please sign in with the method you used before, or contact your administrator.",
		Retry:   RetryNo, Fallback: FallbackNone,
		AdminCause:    "The token's email address belongs to an existing account that is not linked to this Entra user (oid): it was created by another sign-in method.",
		AdminNextStep: "Find the account that holds the address (the log record names it) and move it to the enforced provider with the Entra user's objectId as its auth data (Mattermost: mmctl user migrate-auth), or give that account another address; then the user retries.",
	}
	errNotReady = &AppError{
		ID: "ent.intune.login.not_ready.app_error", StatusCode: http.StatusServiceUnavailable,
		Message: "Sign in is starting up. Please try again in a moment.",
		Retry:   RetryNo, Fallback: FallbackNone,
		AdminCause:    "The server received a sign-in before it had applied its Intune configuration (it is starting, or its configuration store is unreachable).",
		AdminNextStep: "Wait for start-up to finish; if it lasts, check that the server can read its stored configuration (database) and that the host calls LoginHandler.SetConfig.",
	}
)

// catalogRow is one row of the catalog.
type catalogRow struct {
	err  *AppError
	host bool // the host's own row, outside the documented catalog
}

// rows is the catalog: every row a sign-in can be answered with, the
// documented ones in the order of docs/contract.md's table, then the host's.
// Catalog, Rows, LookupError, the sentinels, intuneprom's outcome labels and
// the docs generator all range it; a new row is added here and nowhere else.
var rows = []catalogRow{
	{err: errNotAvailable}, {err: errNotConfigured}, {err: errBotLoginForbidden}, {err: errAccountLocked},
	{err: errProviderNotConfigured}, {err: errExtractAuthData}, {err: errAccountNotFound}, {err: errInvalidToken},
	{err: errTokenExpired}, {err: errMissingClaims}, {err: errInvalidTenant}, {err: errJWKSInit}, {err: errInvalidParam},
	{err: errStoreFailed, host: true}, {err: errSessionFailed, host: true}, {err: errEmailInUse, host: true}, {err: errNotReady, host: true},
}

// The sentinels: one per catalog row, for errors.Is(err, intune.ErrTokenExpired)
// (which holds for any *AppError with that row's ID) and for reading a row.
//
// Each is a copy of the library's own row. Changing one (its Message, its
// StatusCode, even *ErrX = AppError{}, or the variable itself) changes
// nothing the library answers, nor what Catalog, Rows or LookupError
// return: the library reads its rows, never these variables. A changed
// sentinel still matches its row's errors with errors.Is; a variable given
// another value matches what that value's ID names.
// Localise messages with WithMessages; add rows with NewAppError.
var (
	ErrNotAvailable          = sentinel(errNotAvailable)
	ErrNotConfigured         = sentinel(errNotConfigured)
	ErrBotLoginForbidden     = sentinel(errBotLoginForbidden)
	ErrAccountLocked         = sentinel(errAccountLocked)
	ErrProviderNotConfigured = sentinel(errProviderNotConfigured)
	ErrExtractAuthData       = sentinel(errExtractAuthData)
	ErrAccountNotFound       = sentinel(errAccountNotFound)
	ErrInvalidToken          = sentinel(errInvalidToken)
	ErrTokenExpired          = sentinel(errTokenExpired)
	ErrMissingClaims         = sentinel(errMissingClaims)
	ErrInvalidTenant         = sentinel(errInvalidTenant)
	ErrJWKSInit              = sentinel(errJWKSInit)
	// ErrInvalidParam is the real server's answer to a body that is not what
	// the app sends. It is 400 whatever WithRetryStatus says.
	ErrInvalidParam = sentinel(errInvalidParam)

	// ErrStoreFailed: the UserStore failed (lookup, create or sync). A host row.
	ErrStoreFailed = sentinel(errStoreFailed)
	// ErrSessionFailed: the SessionIssuer failed. A host row.
	ErrSessionFailed = sentinel(errSessionFailed)
	// ErrEmailInUse: a first sign-in would create a user whose email
	// address another account (made by another sign-in method) already
	// holds. The UserStore returns it from CreateUser; the account is never
	// taken over, since identity is the oid alone. A host row.
	ErrEmailInUse = sentinel(errEmailInUse)
	// ErrNotReady: the handler has not yet been given its configuration
	// (the host is still loading it). A 503 with Retry-After: the app shows
	// the message with its Retry button, and nothing tells it that Intune is
	// off. A host row.
	ErrNotReady = sentinel(errNotReady)
)

// sentinelRows maps each sentinel (the pointer, whatever its contents) to
// the library's row it copies.
var sentinelRows = map[*AppError]*AppError{}

// sentinel returns a copy of the library's row r for callers to hold.
func sentinel(r *AppError) *AppError {
	c := *r
	sentinelRows[&c] = r
	return &c
}

// row is the library's own row behind e: the row itself when e is a
// sentinel, else e (a row of the library's or the host's own, or a copy).
// Is compares by it, so that a sentinel's ID is its row's whatever a caller
// wrote into it.
func (e *AppError) row() *AppError {
	if r, ok := sentinelRows[e]; ok {
		return r
	}
	return e
}

// Catalog returns the documented errors, in the order of docs/contract.md's
// table: fresh copies, the caller's to change.
func Catalog() []*AppError { return copyRows(false) }

// Rows returns every row a sign-in can be answered with by the library: the
// documented Catalog, then the host's own rows (ErrStoreFailed,
// ErrSessionFailed, ErrEmailInUse, ErrNotReady). Rows a UserStore makes with
// NewAppError are the host's to list. The values are fresh copies.
func Rows() []*AppError { return copyRows(true) }

func copyRows(withHost bool) []*AppError {
	out := make([]*AppError, 0, len(rows))
	for _, r := range rows {
		if withHost || !r.host {
			c := *r.err
			out = append(out, &c)
		}
	}
	return out
}

// LookupError returns a copy of the row (documented or host) with id.
func LookupError(id string) (*AppError, bool) {
	for _, r := range rows {
		if r.err.ID == id {
			c := *r.err
			return &c, true
		}
	}
	return nil, false
}
