// Package intuneadmin is a test page for the administrator of Intune MAM
// mobile sign-in: paste an access token captured from the app (or from
// MSAL), and see, check by check, whether this server would sign it in,
// as whom, or which error ID the app would get and what to fix.
//
// # It does no authentication: mount it behind yours
//
// THE PAGE NEVER AUTHENTICATES ANYONE. Page is a plain http.Handler. The
// host MUST mount it behind its own administrator authentication and
// authorisation (a system-admin session, as for the rest of the system
// console). Mounted bare, it lets anyone on the network probe the
// configuration, learn whether a user exists for an objectId, and make the
// server fetch the tenant's key set. Its cross-origin check (below) is not
// authentication either.
//
// # What it does
//
// GET answers an HTML form: a labelled text area for the access token, a
// button that checks the token, and one that checks only the configuration
// and the tenant's key set. It needs no JavaScript and loads nothing from
// elsewhere (its little CSS is inline, allowed by hash in its
// Content-Security-Policy, which forbids every script).
//
// POST runs [intune.Diagnose] on the token against the live configuration
// (Page.Config, e.g. (*intune.LoginHandler).Config) with Page.Options (e.g.
// [intune.WithUserStore], so that the page says which user the token signs
// in as), or [intune.DiagnoseConfig] when no token was given or the
// configuration-only action was chosen. It answers with a one-line verdict
// and every check in the order sign-in runs them: OK up to the first FAIL,
// which decides the error sign-in answers and comes with its next step, and
// the checks after it as not run (sign-in stops at the first FAIL), with
// what they would have found marked as such. That is the HTML page; the
// JSON ([Result]), given when the body was JSON or the request's Accept
// prefers application/json, carries every check's own result. Each run
// is bounded by Page.Timeout (15 s by default): Diagnose fetches the
// tenant's discovery document and key set.
//
// The body is either a form (application/x-www-form-urlencoded, field
// "token", and "action" = "config" for the configuration-only check) or JSON
// with Content-Type application/json:
//
//	{"token": "<access token>", "config_only": false}
//
// ("access_token" is accepted for "token", so that a captured sign-in body
// can be posted as it is; other members are ignored). Whitespace around the
// token and a leading "Bearer " are removed, with a note. A body over
// [MaxBodyBytes] is refused with 413, a token over [intune.MaxTokenBytes]
// with 400, each with a message saying so.
//
// # The token is not kept
//
// The token is never written back: not into the page (the form always comes
// back empty), not into the JSON, not into the log. Only its length is
// logged, with the verdict. What the checks say of it (claims, which the
// page may show) is escaped by html/template. Every answer carries
// Cache-Control: no-store.
//
// # Cross-site posts are refused
//
// A page on another site could make an administrator's browser post a form
// here (with the administrator's cookies), to probe users or the
// configuration. A POST is therefore refused with 403 when the browser says
// it is cross-origin: Sec-Fetch-Site is present and is neither "same-origin"
// nor "none", or, without it, Origin is present and its host is not the
// request's Host. This is net/http's CrossOriginProtection (Page.CrossOrigin,
// where a host behind a proxy that rewrites Host adds its trusted origins).
// Requests with neither header are not from a browser and are allowed. A
// body must also be a form or JSON with Content-Type application/json: a
// text/plain or multipart post is refused with 415, so a JSON body can only
// come from a same-origin script or a non-browser client (a cross-origin
// application/json request needs a CORS preflight, which this page never
// grants). The host's administrator authentication is still required.
//
// # The verdict
//
// The verdict is the error ID sign-in would answer: the first failing
// check's, as [intune.Report.Verdict], or
// api.user.login_by_intune.not_configured.app_error when every check passes
// but Intune MAM is disabled (Enable is false); "" when the token would sign
// in. What the host decides outside the library (WithAvailability,
// WithProviderCheck) is not known here. The status is the one sign-in
// answers when Page.Status is the handler's (LoginHandler.Status, which
// knows WithRetryStatus), else the documented one.
//
// # The app registration
//
// Below the token form, a second form takes the server API app's manifest
// (the Entra admin center's App registrations > Manifest, either format) and
// answers [intune.CheckAppRegistration]'s report against the live
// configuration: each requirement OK or FAIL (or not run, after an
// unreadable manifest) with what was found, the next step and the JSON that
// fixes it, then the whole corrected fragment. It posts to the page's own
// URL with the query check=app: a form with the field "manifest", or JSON
// {"manifest": <the manifest, or a string holding it>} (answered as an
// [intune.AppReport]), bounded by [MaxAppBodyBytes]; the same cross-origin
// rule applies. The token form posts with check=token, which is also what a
// POST without the query is; another value is refused with 400. The
// manifest is neither stored, logged nor shown back, beyond the members the
// fixes name.
package intuneadmin
