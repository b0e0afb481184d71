package intune

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mamlogin/mamlogin/internal/jwkscache"
)

// AuthService is the sign-in provider Intune MAM is enforced for.
type AuthService string

const (
	AuthServiceOpenID    AuthService = "openid"    // OpenID Connect, Entra-backed
	AuthServiceOffice365 AuthService = "office365" // Entra sign-in through the host's Office 365 provider (Mattermost's name); behaves as OpenID
	AuthServiceSAML      AuthService = "saml"      // SAML 2.0, Entra-backed
)

// createsUsers reports whether a first mobile sign-in may create the user
// (OpenID Connect and Office 365 do; SAML never does).
func (s AuthService) createsUsers() bool {
	return s == AuthServiceOpenID || s == AuthServiceOffice365
}

func (s AuthService) known() bool { return s == AuthServiceSAML || s.createsUsers() }

// The Entra authorities of the clouds this package knows. Set Config.Authority
// to one of them for a national cloud; the default is the public cloud.
const (
	AuthorityPublic       = "https://login.microsoftonline.com"
	AuthorityUSGovernment = "https://login.microsoftonline.us"
	AuthorityChina        = "https://login.chinacloudapi.cn"
)

// cloud is what a known authority implies for tokens: the host in their iss
// and the cloud_instance_name Entra puts on its signing keys.
type cloud struct {
	issuerHost string // "" means: the authority's own host
	instance   string // "" means: unknown, the key's cloud_instance_name is not checked
}

var clouds = map[string]cloud{
	AuthorityPublic:       {instance: "microsoftonline.com"},
	AuthorityUSGovernment: {instance: "microsoftonline.us"},
	// 21Vianet serves its endpoints on login.chinacloudapi.cn and issues
	// tokens from login.partner.microsoftonline.cn.
	AuthorityChina: {issuerHost: "https://login.partner.microsoftonline.cn", instance: "partner.microsoftonline.cn"},
}

// Config is the Intune MAM configuration (System Console > Environment >
// Mobile Security). The zero value is "disabled".
type Config struct {
	Enable      bool        // Intune MAM sign-in is on
	AuthService AuthService // the enforced provider: AuthServiceOpenID, AuthServiceOffice365 or AuthServiceSAML; users are keyed by it and oid, so changing it splits them
	TenantID    string      // Directory (tenant) ID
	ClientID    string      // Application (client) ID of the server API app
	// optional
	Authority        string        // default "https://login.microsoftonline.com"; national clouds differ
	JWKSURL          string        // overrides discovery of the key set (tests, proxies)
	AllowedClientIDs []string      // allowed azp (mobile client app IDs); empty: any
	Leeway           time.Duration // clock skew allowed on exp/nbf, at most MaxLeeway
	HTTPClient       *http.Client  // for Entra (proxy, TLS); copied, never changed; default: a client with a 10 s timeout
}

// MaxLeeway bounds Config.Leeway: more skew than this hides a broken clock.
const MaxLeeway = 5 * time.Minute

// scopeName is the scope the server API app exposes for mobile sign-in.
const scopeName = "login.mattermost"

// ConfigError names the configuration field that is wrong.
type ConfigError struct {
	Field  string // e.g. "TenantID"
	Reason string // what is wrong with it, and what a good value looks like
}

// Error says which field is wrong and why.
func (e *ConfigError) Error() string { return "intune: config " + e.Field + ": " + e.Reason }

// Check returns a *ConfigError naming the first bad or missing field. Fields
// that are set must be well formed even when Intune MAM is disabled; Enable
// also requires AuthService, TenantID and ClientID.
func (c Config) Check() error {
	bad := func(field, format string, args ...any) error {
		return &ConfigError{Field: field, Reason: fmt.Sprintf(format, args...)}
	}
	switch {
	case c.AuthService == "" && c.Enable:
		return bad("AuthService", "missing: choose %q, %q or %q", AuthServiceOpenID, AuthServiceOffice365, AuthServiceSAML)
	case c.AuthService != "" && !c.AuthService.known():
		return bad("AuthService", "%q is not a provider: use %q, %q or %q", string(c.AuthService), AuthServiceOpenID, AuthServiceOffice365, AuthServiceSAML)
	case c.TenantID == "" && c.Enable:
		return bad("TenantID", "missing: set the Directory (tenant) ID of the Entra tenant")
	case c.TenantID != "" && !isGUID(c.TenantID):
		return bad("TenantID", "%q is not a GUID (the Directory (tenant) ID looks like 72f988bf-86f1-41af-91ab-2d7cd011db47; a domain name is not accepted)", c.TenantID)
	case c.ClientID == "" && c.Enable:
		return bad("ClientID", "missing: set the Application (client) ID of the server API app")
	case c.ClientID != "" && !isGUID(c.ClientID):
		return bad("ClientID", "%q is not a GUID (the Application (client) ID, not the api:// URI)", c.ClientID)
	}
	for i, id := range c.AllowedClientIDs {
		if !isGUID(id) {
			return bad(fmt.Sprintf("AllowedClientIDs[%d]", i), "%q is not a GUID", id)
		}
	}
	if c.Authority != "" {
		if err := checkBaseURL(c.Authority, false); err != nil {
			return bad("Authority", "%v", err)
		}
	}
	if c.JWKSURL != "" {
		if err := checkBaseURL(c.JWKSURL, true); err != nil {
			return bad("JWKSURL", "%v", err)
		}
	}
	if c.Leeway < 0 || c.Leeway > MaxLeeway {
		return bad("Leeway", "%v is outside 0 to %v", c.Leeway, MaxLeeway)
	}
	return nil
}

// complete reports whether Intune MAM is enabled with every required field
// set and well formed: "enabled and complete".
func (c Config) complete() bool { return c.Enable && c.Check() == nil }

// checkBaseURL applies the transport rule (https, or http on a loopback IP
// literal or localhost, decided by parsing) and requires a plain URL.
func checkBaseURL(raw string, pathAllowed bool) error {
	u, err := jwkscache.CheckURL(raw)
	if err != nil {
		return err
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || (!pathAllowed && strings.Trim(u.Path, "/") != "") {
		return fmt.Errorf("%q must be a plain scheme://host base URL", raw)
	}
	return nil
}

// Scope is the scope the app asks MSAL for: "api://<ClientID>/login.mattermost".
// It is "" while ClientID is unset.
func (c Config) Scope() string {
	if c.ClientID == "" {
		return ""
	}
	return "api://" + strings.ToLower(c.ClientID) + "/" + scopeName
}

// ClientConfig is what the host publishes to the app in its client
// configuration, under the keys the shipping app reads. IntuneMAMEnabled is
// "true" only when Intune MAM is enabled and its configuration complete and
// well formed; otherwise it is "false" and the other two keys are empty, so
// the app never asks MSAL for a scope the server would reject.
func (c Config) ClientConfig() map[string]string {
	if !c.complete() {
		return map[string]string{"IntuneMAMEnabled": "false", "IntuneScope": "", "IntuneAuthService": ""}
	}
	return map[string]string{
		"IntuneMAMEnabled":  "true",
		"IntuneScope":       c.Scope(),
		"IntuneAuthService": string(c.AuthService),
	}
}

// authority is the configured authority without a trailing slash.
func (c Config) authority() string {
	if c.Authority == "" {
		return AuthorityPublic
	}
	return strings.TrimRight(c.Authority, "/")
}

// issuer is the iss of a v2 token issued by tenant tid in the configured cloud.
func (c Config) issuer(tid string) string {
	host := c.authority()
	if cl, ok := clouds[host]; ok && cl.issuerHost != "" {
		host = cl.issuerHost
	}
	return host + "/" + tid + "/v2.0"
}

// cloudInstance is the cloud_instance_name the configured cloud's keys carry,
// or "" for an authority this package does not know (then it is not checked).
func (c Config) cloudInstance() string { return clouds[c.authority()].instance }

// discoveryURL is the tenant's v2 discovery document for this app. The appid
// parameter matters: an app with a claims-mapping policy signs with keys that
// only its own jwks_uri lists.
func (c Config) discoveryURL() string {
	return c.authority() + "/" + strings.ToLower(c.TenantID) + "/v2.0/.well-known/openid-configuration?appid=" + url.QueryEscape(strings.ToLower(c.ClientID))
}

// isGUID reports whether s is a GUID in the 8-4-4-4-12 hex form, either case.
func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		ch := s[i]
		switch i {
		case 8, 13, 18, 23:
			if ch != '-' {
				return false
			}
		default:
			if !isHex(ch) {
				return false
			}
		}
	}
	return true
}

// isCanonicalGUID is isGUID in lower case, the only form Entra emits in tokens.
func isCanonicalGUID(s string) bool { return isGUID(s) && strings.ToLower(s) == s }

func isHex(ch byte) bool {
	return '0' <= ch && ch <= '9' || 'a' <= ch && ch <= 'f' || 'A' <= ch && ch <= 'F'
}
