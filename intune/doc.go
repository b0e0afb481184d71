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
