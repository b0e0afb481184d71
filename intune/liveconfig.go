package intune

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/mamlogin/mamlogin/internal/jwkscache"
)

// binding is one configuration with the Validator built for it. A sign-in
// loads the binding once and runs on it to the end, so a change made
// meanwhile (SetConfig) applies from the next sign-in on.
type binding struct {
	cfg   Config
	v     *Validator
	owned bool // built by SetConfig: the handler closes it when replaced
	// off is why sign-in answers not_configured (nil when it is on);
	// mismatch says so when the Validator was built for another configuration.
	off      *AppError
	mismatch string
}

// bind pairs cfg with v and decides whether sign-in is on.
func bind(cfg Config, v *Validator, owned bool) *binding {
	b := &binding{cfg: cfg, v: v, owned: owned}
	switch err := cfg.Check(); {
	case err != nil:
		b.off = errNotConfigured.because("configuration is invalid: %v", err)
	case !cfg.Enable:
		b.off = errNotConfigured.because("Intune MAM is disabled (Enable is false)")
	case v == nil:
		b.off = errNotConfigured.because("the host passed no Validator for this configuration")
	default:
		if field := differs(v.cfg, cfg); field != "" {
			b.mismatch = fmt.Sprintf("the Validator was built for %s %s, the configuration says %s", field, show(v.cfg, field), show(cfg, field))
			b.off = errNotConfigured.because("%s", b.mismatch).fixedBy("Build the Validator from the handler's own Config, or apply configuration changes with LoginHandler.SetConfig.")
		}
	}
	return b
}

// differs names the first field that a token is checked against on which a
// and b differ, or "" when a Validator built for a serves b. Enable and
// AuthService are not among them: they change no check of the token.
func differs(a, b Config) string {
	switch {
	case !strings.EqualFold(a.TenantID, b.TenantID):
		return "TenantID"
	case !strings.EqualFold(a.ClientID, b.ClientID):
		return "ClientID"
	case a.authority() != b.authority():
		return "Authority"
	case a.JWKSURL != b.JWKSURL:
		return "JWKSURL"
	case !slices.EqualFunc(a.AllowedClientIDs, b.AllowedClientIDs, strings.EqualFold):
		return "AllowedClientIDs"
	case a.Leeway != b.Leeway:
		return "Leeway"
	case !sameClient(a.HTTPClient, b.HTTPClient):
		return "HTTPClient"
	}
	return ""
}

func show(c Config, field string) string {
	switch field {
	case "TenantID":
		return fmt.Sprintf("%q", c.TenantID)
	case "ClientID":
		return fmt.Sprintf("%q", c.ClientID)
	case "Authority":
		return fmt.Sprintf("%q", c.authority())
	case "JWKSURL":
		return fmt.Sprintf("%q", jwkscache.Redact(c.JWKSURL))
	case "AllowedClientIDs":
		return fmt.Sprintf("%q", c.AllowedClientIDs)
	case "Leeway":
		return c.Leeway.String()
	}
	return "another value"
}

// SetConfig applies an admin's change (Tenant ID, Client ID, provider,
// Enable, ...) from the next sign-in on, without a restart or a re-mount.
// Sign-ins in flight finish on the configuration they started with.
//
// A configuration that fails Check is refused with its *ConfigError (which
// names the field) and the current one keeps serving. When the fields a
// token is checked against change, SetConfig builds a new Validator (with
// WithValidatorOptions; ctx bounds its first key fetch) and refuses the
// change if that Validator cannot fetch a key set, naming the field to
// check. It closes a Validator it built once nothing uses it; a Validator
// given to NewLoginHandler is the host's to close. Changes are serialised;
// after Close, SetConfig returns an error.
func (h *LoginHandler) SetConfig(ctx context.Context, cfg Config) error {
	cfg = cfg.clone() // the caller keeps theirs: only the next SetConfig changes this one
	h.changing.Lock()
	defer h.changing.Unlock()
	if h.closed {
		return errHandlerClosed
	}
	old := h.state.Load()
	if err := cfg.Check(); err != nil {
		h.log.Warn("intune: configuration change refused; the current one keeps serving", "error", err)
		return err
	}
	var v *Validator
	owned := false
	switch {
	case !cfg.Enable:
		// Nothing to validate. A Validator the handler built stops here (no
		// key refresh for a disabled feature); the host's own is kept, to
		// serve again when the feature is re-enabled.
		if !old.owned {
			v = old.v
		}
	case old.v != nil && differs(old.v.cfg, cfg) == "":
		v, owned = old.v, old.owned
	default:
		nv, err := NewValidator(ctx, cfg, h.validatorOpts...)
		if err != nil {
			h.log.Warn("intune: configuration change refused; the current one keeps serving", "error", err)
			return err
		}
		if err := nv.keys.Ready(ctx); err != nil {
			_ = nv.Close()
			err = keySetConfigError(cfg, err)
			h.log.Warn("intune: configuration change refused; the current one keeps serving", "error", err)
			return err
		}
		v, owned = nv, true
	}
	b := bind(cfg, v, owned)
	h.state.Store(b)
	if old.owned && old.v != nil && old.v != v {
		_ = old.v.Close() // sign-ins still on it answer from the keys it holds
	}
	h.log.LogAttrs(ctx, slog.LevelInfo, "intune: configuration applied", slog.Bool("enable", cfg.Enable),
		slog.String("auth_service", string(cfg.AuthService)), slog.String("tenant_id", cfg.TenantID),
		slog.String("client_id", cfg.ClientID), slog.Bool("new_validator", owned && v != old.v))
	return nil
}

// errHandlerClosed refuses SetConfig after Close: a Validator it built
// would never be closed, and a closed one must not be reused.
var errHandlerClosed = errors.New("intune: the LoginHandler is closed")

// keySetConfigError names the field to check when a new configuration's key
// set cannot be fetched.
func keySetConfigError(cfg Config, err error) error {
	field := "Authority"
	switch _, tenant := keySetFault(err); {
	case cfg.JWKSURL != "":
		field = "JWKSURL"
	case tenant:
		field = "TenantID"
	}
	return &ConfigError{Field: field, Reason: "the tenant's signing keys cannot be fetched with this configuration: " + err.Error()}
}

// Config returns a copy of the configuration sign-ins run on now: changing
// it changes nothing until it is given to SetConfig.
func (h *LoginHandler) Config() Config { return h.state.Load().cfg.clone() }

// Validator returns the Validator sign-ins run on now (nil while disabled).
func (h *LoginHandler) Validator() *Validator { return h.state.Load().v }

// ClientConfig is Config().ClientConfig(), with IntuneMAMEnabled "false"
// while sign-in is refused (a Validator built for another configuration):
// what the host publishes to the app now.
func (h *LoginHandler) ClientConfig() map[string]string {
	b := h.state.Load()
	if b.off != nil {
		return Config{}.ClientConfig()
	}
	return b.cfg.ClientConfig()
}
