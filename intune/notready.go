package intune

import "net/http"

// A handler whose configuration is still on its way is not "disabled".
//
// A host that loads its configuration from a store (a database shared by
// replicas) has no configuration when it builds the handler. Built with the
// zero Config, the handler would answer every early sign-in not_configured,
// which tells the app that Intune is off (it falls back to web sign-in), and
// would log the false reason "Intune MAM is disabled". WithConfigPending
// says what is true instead: the configuration is pending. Until the first
// SetConfig that succeeds, every sign-in is answered ErrNotReady (503 with
// Retry-After: retry no, fallback none, so the app shows the message with
// its Retry button) and logged with its own reason.

// WithConfigPending makes the handler wait for its configuration: the Config
// and Validator given to NewLoginHandler are not served (Config reports the
// Config meanwhile), and every sign-in is answered ErrNotReady (503,
// Retry-After) until SetConfig first succeeds. A refused SetConfig leaves it
// pending. ClientConfig meanwhile says Intune MAM is off, like any
// configuration that cannot serve: a host should not publish its client
// configuration before the handler is ready either.
func WithConfigPending() HandlerOption { return func(h *LoginHandler) { h.pending = true } }

// notReadyRetryAfter is the Retry-After of ErrNotReady, in seconds: a
// configuration is normally applied within a moment of start.
const notReadyRetryAfter = "1"

// pendingBinding is the state of a handler built WithConfigPending, until
// its first SetConfig.
func pendingBinding(cfg Config) *binding {
	b := &binding{cfg: cfg, off: errNotReady.because("the host has not yet applied its configuration: the handler was built WithConfigPending and no SetConfig has succeeded since")}
	return b
}

// setRetryAfter tells a client when to try again after e, when e is ErrNotReady.
func setRetryAfter(hdr http.Header, e *AppError) {
	if e.ID == errNotReady.ID {
		hdr["Retry-After"] = []string{notReadyRetryAfter}
	}
}
