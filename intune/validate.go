package intune

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/mamlogin/mamlogin/internal/clock"
	"github.com/mamlogin/mamlogin/internal/jwkscache"
)

// Option configures NewValidator and Diagnose.
type Option func(*options)

type options struct {
	now          func() time.Time
	refreshEvery time.Duration
	minInterval  time.Duration
	fetchTimeout time.Duration
	logger       *slog.Logger
	cacheClock   clock.Clock // tests of the refresh schedule
}

// WithClock sets the clock for exp/nbf (tests; diagnosing a captured token).
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithKeyRefresh sets how often the key set is refreshed on schedule (default
// 1h) and the least time between two refreshes triggered by tokens naming an
// unknown key (default 1m): the most an attacker can make this server fetch,
// and the longest a genuinely new key waits.
func WithKeyRefresh(every, minInterval time.Duration) Option {
	return func(o *options) { o.refreshEvery, o.minInterval = every, minInterval }
}

// WithFetchTimeout bounds one fetch of the discovery document and key set (default 10s).
func WithFetchTimeout(d time.Duration) Option { return func(o *options) { o.fetchTimeout = d } }

// WithKeySetLogger sets where key-set fetch problems are logged (default slog.Default()).
func WithKeySetLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// Validator verifies Entra v2 access tokens for one tenant and server API
// app. It is safe for concurrent use; Close stops its key refresh.
type Validator struct {
	cfg      Config
	tenant   string // lower case
	client   string // lower case
	issuer   string
	cloud    string
	allowAZP []string
	now      func() time.Time
	keys     *jwkscache.Cache
}

// NewValidator checks cfg, fetches the tenant's signing keys once and starts
// refreshing them until ctx is done or Close is called. TenantID and ClientID
// are required even when cfg.Enable is false. If Entra cannot be reached the
// Validator is still returned: it logs the failure, rejects tokens as
// invalid_token meanwhile, and recovers as soon as Entra answers.
func NewValidator(ctx context.Context, cfg Config, opts ...Option) (*Validator, error) {
	o := buildOptions(opts)
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	if cfg.TenantID == "" {
		return nil, &ConfigError{Field: "TenantID", Reason: "missing: the validator needs the Directory (tenant) ID"}
	}
	if cfg.ClientID == "" {
		return nil, &ConfigError{Field: "ClientID", Reason: "missing: the validator needs the Application (client) ID"}
	}
	v := newValidator(cfg, o)
	keys, err := jwkscache.New(ctx, v.keySetOptions(o))
	if err != nil {
		return nil, err
	}
	v.keys = keys
	return v, nil
}

func buildOptions(opts []Option) options {
	o := options{now: time.Now, logger: slog.Default()}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// newValidator derives the expected values; it does no I/O.
func newValidator(cfg Config, o options) *Validator {
	tenant := strings.ToLower(cfg.TenantID)
	v := &Validator{
		cfg: cfg, tenant: tenant, client: strings.ToLower(cfg.ClientID),
		issuer: cfg.issuer(tenant), cloud: cfg.cloudInstance(), now: o.now,
	}
	for _, id := range cfg.AllowedClientIDs {
		v.allowAZP = append(v.allowAZP, strings.ToLower(id))
	}
	return v
}

// keySetOptions says where the tenant's keys come from (the configured
// JWKSURL, or discovery with the expected issuer) and how they are fetched.
func (v *Validator) keySetOptions(o options) jwkscache.Options {
	co := jwkscache.Options{
		JWKSURL: v.cfg.JWKSURL, Client: v.cfg.HTTPClient, Clock: o.cacheClock, Logger: o.logger,
		RefreshEvery: o.refreshEvery, MinInterval: o.minInterval, Timeout: o.fetchTimeout,
	}
	if co.JWKSURL == "" {
		co.DiscoveryURL, co.ExpectedIssuer = v.cfg.discoveryURL(), v.issuer
	}
	return co
}

// Close stops the key refresh. Validate keeps working with the keys it has.
func (v *Validator) Close() error { return v.keys.Close() }

// KeySetStats are the key cache's counters, for the host's metrics.
type KeySetStats struct {
	Fetches      uint64    // fetch attempts (start-up, scheduled and for unknown kids)
	Failures     uint64    // attempts that failed (the last good keys were kept)
	UnknownKID   uint64    // tokens naming a kid not in the set
	RateLimited  uint64    // of those, answered without a fetch (one ran less than the interval ago)
	Keys         int       // usable keys now
	LastSuccess  time.Time // zero if never
	LastFailure  time.Time // zero if never
	LastError    string    // of the last failed fetch
	JWKSURL      string    // where the keys come from (discovered or configured), without query
	RefreshEvery time.Duration
	MinInterval  time.Duration
}

// KeySetStats returns a snapshot of the key cache's counters.
func (v *Validator) KeySetStats() KeySetStats { return KeySetStats(v.keys.Stats()) }

// RefreshKeys fetches the key set now (not rate-limited: for an admin action).
func (v *Validator) RefreshKeys(ctx context.Context) error { return v.keys.Refresh(ctx) }

// Validate verifies rawToken and returns its claims, or an *AppError with the
// documented ID of the first failed check, in the contract's order, and the
// concrete reason for the admin's log. It waits on the network only when the
// token names a key the cache does not hold and a refresh is allowed.
func (v *Validator) Validate(ctx context.Context, rawToken string) (*Claims, error) {
	c, err := v.validate(ctx, rawToken)
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (v *Validator) validate(ctx context.Context, raw string) (*Claims, *AppError) {
	t, e := parseToken(raw)
	if e != nil {
		return nil, e
	}
	if e := t.checkAlg(); e != nil {
		return nil, withFacts(e, t, nil)
	}
	key, e := v.key(ctx, t)
	if e != nil {
		return nil, withFacts(e, t, nil)
	}
	if e := verify(t, key); e != nil {
		return nil, withFacts(e, t, nil)
	}
	// Claims are parsed only once the signature has proved Entra wrote them.
	c, e := decodeClaims(t.payload64)
	if e != nil {
		return nil, withFacts(e, t, nil)
	}
	now := v.now()
	for _, chk := range claimChecks {
		if e := chk.run(v, c, key, now); e != nil {
			e.Facts = c.facts(t.kid)
			return nil, e
		}
	}
	return c, nil
}

// withFacts attaches what can be safely said about a token that failed before
// its claims were verified: its kid and, read without trust, its tid, aud,
// azp and exp (helpful when the token was meant for another tenant or app).
func withFacts(e *AppError, t *token, c *Claims) *AppError {
	if c == nil {
		c, _ = decodeClaims(t.payload64)
	}
	e.Facts = c.facts(t.kid)
	return e
}

// key finds the token's signing key (check "key").
func (v *Validator) key(ctx context.Context, t *token) (*jwkscache.Key, *AppError) {
	if e := t.checkKID(); e != nil {
		return nil, e
	}
	k, err := v.keys.Lookup(ctx, t.kid)
	if err != nil {
		return nil, ErrInvalidToken.because("kid %q: %v. If the server API app has a claims-mapping policy it signs with its own keys, listed only at the discovery URL with ?appid=<ClientID> (this validator uses it unless JWKSURL is set)", t.kid, err)
	}
	return k, nil
}

// verify checks the RS256 signature (check "signature"). The algorithm is
// pinned here: whatever the header said, only RSASSA-PKCS1-v1_5 with SHA-256
// is computed.
func verify(t *token, k *jwkscache.Key) *AppError {
	sig, err := b64.DecodeString(t.sig64)
	if err != nil {
		return ErrInvalidToken.because("signature is not base64url: %v", err)
	}
	if want := k.Public.Size(); len(sig) != want {
		return ErrInvalidToken.because("signature is %d bytes, key %q needs %d", len(sig), k.ID, want)
	}
	if err := jwt.SigningMethodRS256.Verify(t.signingInput, sig, k.Public); err != nil {
		return ErrInvalidToken.because("signature does not verify with key %q: %v", k.ID, err)
	}
	return nil
}

// claimCheck is one step of the contract after the signature, named as in
// Diagnose's report.
type claimCheck struct {
	name string
	run  func(v *Validator, c *Claims, k *jwkscache.Key, now time.Time) *AppError
}

// claimChecks are the contract's steps 4 to 8, in order.
var claimChecks = []claimCheck{
	{"expiry", (*Validator).checkExpiry},
	{"not_before", (*Validator).checkNotBefore},
	{"tenant", (*Validator).checkTenant},
	{"version", (*Validator).checkVersion},
	{"issuer", (*Validator).checkIssuer},
	{"audience", (*Validator).checkAudience},
	{"scope", (*Validator).checkScope},
	{"client", (*Validator).checkClient},
	{"object_id", (*Validator).checkObjectID},
}

func (v *Validator) checkExpiry(c *Claims, _ *jwkscache.Key, now time.Time) *AppError {
	if p, ok := c.bad["exp"]; ok {
		return ErrInvalidToken.because("exp: %s", p)
	}
	if c.ExpiresAt.IsZero() {
		return ErrTokenExpired.because("token has no exp claim")
	}
	if !now.Before(c.ExpiresAt.Add(v.cfg.Leeway)) {
		return ErrTokenExpired.because("token expired at %s, %s ago (leeway %s, server time %s)",
			c.ExpiresAt.UTC().Format(time.RFC3339), now.Sub(c.ExpiresAt).Round(time.Second), v.cfg.Leeway, now.UTC().Format(time.RFC3339))
	}
	return nil
}

func (v *Validator) checkNotBefore(c *Claims, _ *jwkscache.Key, now time.Time) *AppError {
	for _, claim := range []string{"nbf", "iat"} {
		if p, ok := c.bad[claim]; ok {
			return ErrInvalidToken.because("%s: %s", claim, p)
		}
	}
	if !c.NotBefore.IsZero() && now.Add(v.cfg.Leeway).Before(c.NotBefore) {
		return ErrInvalidToken.because("token is not valid before %s, %s from now (leeway %s): check the server's clock",
			c.NotBefore.UTC().Format(time.RFC3339), c.NotBefore.Sub(now).Round(time.Second), v.cfg.Leeway)
	}
	return nil
}

func (v *Validator) checkTenant(c *Claims, _ *jwkscache.Key, _ time.Time) *AppError {
	if p, ok := c.bad["tid"]; ok {
		return ErrInvalidToken.because("tid: %s", p)
	}
	if c.TenantID == "" {
		return ErrMissingClaims.because("token has no tid claim")
	}
	if c.TenantID != v.tenant {
		return ErrInvalidTenant.because("tid is %q, expected the configured Tenant ID %q", c.TenantID, v.tenant)
	}
	return nil
}

const v1Fix = "set accessTokenAcceptedVersion = 2 in the server API app's manifest (api.requestedAccessTokenVersion = 2 in the newer manifest format), then sign in again on the device"

func (v *Validator) checkVersion(c *Claims, _ *jwkscache.Key, _ time.Time) *AppError {
	if c.Version == "1.0" || strings.HasPrefix(c.Issuer, "https://sts.windows.net/") {
		return ErrExtractAuthData.because("token is a v1 access token (ver %q, iss %q); %s", c.Version, c.Issuer, v1Fix)
	}
	if p, ok := c.bad["ver"]; ok {
		return ErrInvalidToken.because("ver: %s", p)
	}
	if c.Version != "" && c.Version != "2.0" {
		return ErrInvalidToken.because("ver is %q, expected \"2.0\"", c.Version)
	}
	return nil
}

func (v *Validator) checkIssuer(c *Claims, k *jwkscache.Key, _ time.Time) *AppError {
	if p, ok := c.bad["iss"]; ok {
		return ErrInvalidToken.because("iss: %s", p)
	}
	if c.Issuer != v.issuer {
		return ErrInvalidToken.because("iss is %q, expected %q", c.Issuer, v.issuer)
	}
	if k == nil { // Diagnose without a key
		return nil
	}
	if k.Issuer != "" {
		if bound := strings.ReplaceAll(k.Issuer, "{tenantid}", c.TenantID); bound != c.Issuer {
			return ErrInvalidToken.because("signing key %q is bound to issuer %q, the token's iss is %q: that key never signs for this tenant", k.ID, bound, c.Issuer)
		}
	}
	if k.Cloud != "" && v.cloud != "" && k.Cloud != v.cloud {
		return ErrInvalidToken.because("signing key %q belongs to cloud %q, the configured authority is %q (%s)", k.ID, k.Cloud, v.cfg.authority(), v.cloud)
	}
	return nil
}

// graphAppID is Microsoft Graph: a token for it means the app asked MSAL for
// a Graph scope instead of IntuneScope.
const graphAppID = "00000003-0000-0000-c000-000000000000"

func (v *Validator) checkAudience(c *Claims, _ *jwkscache.Key, _ time.Time) *AppError {
	if p, ok := c.bad["aud"]; ok {
		return ErrInvalidToken.because("%s", p)
	}
	if c.Audience == v.client || c.Audience == "api://"+v.client {
		return nil
	}
	hint := "check ClientID: it must be the server API app that exposes login.mattermost"
	if c.Audience == graphAppID || c.Audience == "https://graph.microsoft.com" {
		hint = "the token is for Microsoft Graph: the app requested the wrong scope (it must request " + v.cfg.Scope() + ")"
	}
	return ErrInvalidToken.because("aud is %q, expected %q or %q; %s", c.Audience, v.client, "api://"+v.client, hint)
}

func (v *Validator) checkScope(c *Claims, _ *jwkscache.Key, _ time.Time) *AppError {
	if p, ok := c.bad["scp"]; ok {
		return ErrInvalidToken.because("scp: %s", p)
	}
	if slices.Contains(c.Scopes, scopeName) {
		return nil
	}
	if !c.hasScp && c.roles != "" {
		return ErrInvalidToken.because("token has roles and no scp: it is an app-only token, not a user's delegated token")
	}
	return ErrInvalidToken.because("scp is %q, it must contain %q: expose the scope on the server API app, pre-authorize the mobile app and grant admin consent", c.scp, scopeName)
}

func (v *Validator) checkClient(c *Claims, _ *jwkscache.Key, _ time.Time) *AppError {
	if len(v.allowAZP) == 0 {
		return nil
	}
	if p, ok := c.bad["azp"]; ok {
		return ErrInvalidToken.because("azp: %s", p)
	}
	if !slices.Contains(v.allowAZP, c.AuthorizedParty) {
		return ErrInvalidToken.because("azp is %q, not one of the allowed mobile client IDs %v", c.AuthorizedParty, v.allowAZP)
	}
	return nil
}

func (v *Validator) checkObjectID(c *Claims, _ *jwkscache.Key, _ time.Time) *AppError {
	if p, ok := c.bad["oid"]; ok {
		return ErrExtractAuthData.because("oid: %s", p)
	}
	if c.ObjectID == "" {
		return ErrMissingClaims.because("token has no oid claim (or it is empty); v2 tokens for users always carry one")
	}
	if !isCanonicalGUID(c.ObjectID) {
		return ErrExtractAuthData.because("oid %q is not a lower-case GUID, so it cannot be mapped to objectId", c.ObjectID)
	}
	return nil
}

// asAppError returns err's *AppError, if it has one.
func asAppError(err error) (*AppError, bool) {
	var e *AppError
	ok := errors.As(err, &e)
	return e, ok
}
