// Package intune is the server side of Microsoft Intune MAM mobile sign-in.
//
// The mobile app signs the user in with MSAL against Microsoft Entra ID,
// obtains a v2 access token for the customer's own Entra "server API" app
// (scope api://<client-id>/login.mattermost, see Config.Scope) and posts it
// to the chat server. This package
//
//   - verifies that token (Validator): RS256 against the tenant's Entra key
//     set, fetched over https, cached and refreshed safely, then expiry,
//     tenant, issuer, audience, scope and oid, in the order of the Check*
//     constants;
//   - resolves the user by oid through the host's UserStore and opens a
//     session through its SessionIssuer (NewLoginHandler);
//   - answers every failure with the documented app_error ID, status and
//     user message (the *AppError catalog, Catalog), and logs for the admin
//     the cause, the next step and the concrete reason;
//   - explains a failing token check by check (Diagnose), with the same
//     checks Validate runs.
//
// A Validator lives until Close: the context given to NewValidator bounds
// its first key fetch only.
//
// Package intunetest is a fake Entra tenant for tests.
//
// # Errors
//
// Every failure is one row of the catalog, an *AppError answered with its ID,
// status and user message; errors.Is(err, ErrX) matches a row whatever its
// reason. Rows returns them all; the documented rows, in the order of
// Catalog (WithRetryStatus turns the 400 of the rows the app retries into
// 401):
//
//   - [ErrNotAvailable]: api.user.login_by_intune.not_available.app_error, 501
//   - [ErrNotConfigured]: api.user.login_by_intune.not_configured.app_error, 400
//   - [ErrBotLoginForbidden]: api.user.login_by_intune.bot_login_forbidden.app_error, 403
//   - [ErrAccountLocked]: api.user.login_by_intune.account_locked.app_error, 409
//   - [ErrProviderNotConfigured]: ent.intune.login.not_configured.app_error, 403
//   - [ErrExtractAuthData]: ent.intune.login.extract_auth_data.app_error, 400
//   - [ErrAccountNotFound]: ent.intune.login.account_not_found.app_error, 428
//   - [ErrInvalidToken]: ent.intune.validate_token.invalid_token.app_error, 400
//   - [ErrTokenExpired]: ent.intune.validate_token.token_expired.app_error, 400
//   - [ErrMissingClaims]: ent.intune.validate_token.missing_claims.app_error, 400
//   - [ErrInvalidTenant]: ent.intune.validate_token.invalid_tenant_id.app_error, 400
//   - [ErrJWKSInit]: ent.intune.validate_token.jwks_init.app_error, 500
//   - [ErrInvalidParam]: api.context.invalid_param.app_error, 400
//
// The host's own rows, outside the documented catalog (LookupError finds
// them too):
//
//   - [ErrStoreFailed]: ent.intune.login.store_failed.app_error, 500
//   - [ErrSessionFailed]: ent.intune.login.session_failed.app_error, 500
//   - [ErrEmailInUse]: ent.intune.login.email_in_use.app_error, 409
//   - [ErrNotReady]: ent.intune.login.not_ready.app_error, 503
//
// A UserStore answers "no such user" with ErrUserNotFound and a lost race
// to create one with ErrUserExists (plain errors, never sent to the app).
//
// # Security
//
// Only RS256 is accepted, whatever the header says. Header jku, x5u, jwk and
// x5c are never used: keys come only from the tenant's key set, resolved by
// keyfunc over this package's key cache, and fetched over https only. The
// header, claims and key set are parsed strictly: one JSON object each, no
// duplicate member, names matched exactly. Claims are read only after the
// signature verifies. Tokens, key sets and discovery documents are bounded
// in size and time. Internal reasons are logged, never sent to the client.
package intune
