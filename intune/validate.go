package intune

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/MicahParks/keyfunc/v3"

	"github.com/mamlogin/mamlogin/internal/clock"
	"github.com/mamlogin/mamlogin/internal/dispatch"
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
	keySetEvents func(KeySetEvent)
	store        UserStore   // Diagnose: answer for the user too
	cacheClock   clock.Clock // tests of the refresh schedule
}

// WithClock sets the clock for exp/nbf (tests; diagnosing a captured token).
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithKeyRefresh sets how often the key set is refreshed on schedule (default
// 1h) and the least time between two refreshes triggered by tokens naming an
// unknown key (default 1m): the most an attacker can make this server fetch,
// and the longest a genuinely new key waits. Diagnose fetches once and
// ignores it.
func WithKeyRefresh(every, minInterval time.Duration) Option {
	return func(o *options) { o.refreshEvery, o.minInterval = every, minInterval }
}

// WithFetchTimeout bounds one fetch of the discovery document and key set (default 10s).
func WithFetchTimeout(d time.Duration) Option { return func(o *options) { o.fetchTimeout = d } }

// WithKeySetLogger sets where key-set events are logged: fetch failures, keys
// skipped, rotations (default slog.Default()).
func WithKeySetLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithUserStore makes Diagnose answer what the checklist asks first: does a
// user with the token's oid exist for the enforced provider (and who), or
// would the first sign-in create one, or would it answer 428 (SAML), 403 (a
// bot) or 409 (a locked account). It adds the check "user" after
// "object_id". Diagnose calls only UserByObjectID, and CheckNewUser when
// the store is a NewUserChecker: it never creates or changes a user.
// NewValidator ignores it.
func WithUserStore(s UserStore) Option { return func(o *options) { o.store = s } }

func buildOptions(opts []Option) options {
	o := options{now: time.Now, logger: slog.Default()}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// Validator verifies Entra v2 access tokens for one tenant and server API
// app. It is safe for concurrent use.
//
// A Validator lives until Close: it refreshes the tenant's key set on a
// schedule and when a token names a key it does not hold, in a goroutine
// that only Close stops. Close it when you replace or drop it.
type Validator struct {
	verifier
	cache  *jwkscache.Cache
	report *keySetReport
}

// NewValidator checks cfg, fetches the tenant's signing keys once and starts
// refreshing them until Close. ctx bounds that first fetch only; cancelling
// it later changes nothing. TenantID and ClientID are required even when
// cfg.Enable is false.
//
// If Entra cannot be reached the Validator is still returned: it logs the
// failure, answers ErrJWKSInit (a 500: the fault is the server's) until a
// fetch succeeds, retries with backoff, and from the first success on keeps
// its last good keys through any outage.
func NewValidator(ctx context.Context, cfg Config, opts ...Option) (*Validator, error) {
	cfg = cfg.clone() // the Validator's own: the caller may change theirs
	o := buildOptions(opts)
	if err := cfg.checkForValidator(); err != nil {
		return nil, err
	}
	v := &Validator{verifier: newVerifier(cfg, o)}
	ko := keySetOptions(cfg, o)
	v.report = &keySetReport{log: o.logger, tenant: v.tenant, stats: KeySetStats{
		JWKSURL: jwkscache.Redact(ko.JWKSURL + ko.DiscoveryURL), RefreshEvery: ko.RefreshEvery, MinInterval: ko.MinInterval}}
	v.verifier.report = v.report
	v.report.events = newDispatcher(o.keySetEvents, func(p any) {
		o.logger.Error("intune: the key-set event receiver panicked; the event was dropped", "panic", p)
	})
	ko.OnFetch = v.report.fetched
	cache, err := jwkscache.New(ctx, ko)
	if err != nil {
		v.report.close()
		return nil, err
	}
	v.cache, v.keys = cache, cache
	v.keyfunc, err = keyfunc.New(keyfunc.Options{Storage: cache})
	if err != nil {
		_ = v.Close()
		return nil, err
	}
	return v, nil
}

// checkForValidator is Check, plus the two IDs a validator needs even while
// Intune MAM is disabled.
func (c Config) checkForValidator() error {
	if err := c.Check(); err != nil {
		return err
	}
	if c.TenantID == "" {
		return &ConfigError{Field: "TenantID", Reason: "missing: the validator needs the Directory (tenant) ID"}
	}
	if c.ClientID == "" {
		return &ConfigError{Field: "ClientID", Reason: "missing: the validator needs the Application (client) ID"}
	}
	return nil
}

// newVerifier derives the expected values from cfg; it does no I/O.
func newVerifier(cfg Config, o options) verifier {
	tenant := strings.ToLower(cfg.TenantID)
	v := verifier{
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
func keySetOptions(cfg Config, o options) jwkscache.Options {
	ko := jwkscache.Options{
		JWKSURL: cfg.JWKSURL, Client: cfg.HTTPClient, Clock: o.cacheClock,
		RefreshEvery: o.refreshEvery, MinInterval: o.minInterval, Timeout: o.fetchTimeout,
	}
	if ko.RefreshEvery <= 0 { // resolved here, so that KeySetStats says what the cache does
		ko.RefreshEvery = jwkscache.DefaultRefreshEvery
	}
	if ko.MinInterval <= 0 {
		ko.MinInterval = jwkscache.DefaultMinInterval
	}
	if ko.JWKSURL == "" {
		ko.DiscoveryURL, ko.ExpectedIssuer = cfg.discoveryURL(), cfg.issuer(strings.ToLower(cfg.TenantID))
	}
	return ko
}

// keySetReport turns the key cache's fetch reports into the admin's log,
// the host's key-set events and the counters of KeySetStats, and counts the
// tokens that name a kid the set does not hold.
type keySetReport struct {
	log        *slog.Logger
	tenant     string
	events     *dispatch.Dispatcher[KeySetEvent] // nil without WithKeySetEvents
	skewLogged atomic.Bool

	mu                      sync.Mutex
	stats                   KeySetStats // the counters fetched updates; Keys is read from the set
	unknownKID, rateLimited atomic.Uint64
}

// maxQuietSkew is how far this server's clock may be from Entra's before it
// is logged: five minutes fail tokens (nbf), one is worth a warning.
const maxQuietSkew = time.Minute

func (r *keySetReport) close() {
	if r.events != nil {
		r.events.Close()
	}
}

func (r *keySetReport) fetched(f jwkscache.Fetch) {
	ev := keySetEvent(r.tenant, f)
	r.record(ev)
	if r.events != nil {
		r.events.Send(ev)
	}
	r.logFetch(f)
	if skew := ev.ClockOffset; (skew > maxQuietSkew || skew < -maxQuietSkew) && r.skewLogged.CompareAndSwap(false, true) {
		r.log.LogAttrs(context.Background(), slog.LevelWarn, "intune: this server's clock differs from Entra's",
			slog.Duration("behind_entra_by", skew), slog.Time("entra_date", ev.ServerDate),
			slog.String("next_step", "Synchronise this server's clock (NTP): tokens fail once it is 5 minutes behind Entra's, and expire early when it is ahead."))
	}
}

// record counts one fetch in the stats.
func (r *keySetReport) record(ev KeySetEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := &r.stats
	s.Fetches++
	if ev.Err != nil {
		s.Failures++
		s.LastFailure, s.LastError = ev.At, ev.Err.Error()
	} else {
		s.LastSuccess = ev.At
	}
	if ev.URL != "" {
		s.JWKSURL = ev.URL
	}
	if !ev.ServerDate.IsZero() {
		s.ServerDate, s.ClockOffset = ev.ServerDate, ev.ClockOffset
	}
}

// missed counts a token naming a kid the set does not hold, and whether
// the refresh it could trigger was rate-limited.
func (r *keySetReport) missed(m *jwkscache.MissError) {
	r.unknownKID.Add(1)
	if m.Refresh == jwkscache.RefreshLimited {
		r.rateLimited.Add(1)
	}
}

// logFetch says what an admin needs of one fetch: failures, keys skipped,
// rotations.
func (r *keySetReport) logFetch(f jwkscache.Fetch) {
	ctx := context.Background()
	if f.Err != nil {
		level, msg := slog.LevelWarn, "intune: Entra key set fetch failed; keeping the last good keys"
		if f.Keys == 0 {
			level, msg = slog.LevelError, "intune: no Entra signing keys: sign-ins answer "+errJWKSInit.ID+" until a fetch succeeds"
		}
		r.log.LogAttrs(ctx, level, msg, slog.String("error", f.Err.Error()), slog.String("trigger", string(f.Trigger)),
			slog.Int("keys", f.Keys), slog.String("next_step", keySetNextStep(f.Err)))
		return
	}
	if f.Trigger == jwkscache.TriggerStart || len(f.Added) > 0 {
		for _, k := range f.Skipped {
			r.log.LogAttrs(ctx, slog.LevelWarn, "intune: Entra key not used", slog.String("kid", k.KID), slog.String("reason", k.Reason))
		}
	}
	if len(f.Added) > 0 || len(f.Removed) > 0 {
		r.log.LogAttrs(ctx, slog.LevelInfo, "intune: Entra rotated its signing keys", slog.String("url", f.URL),
			slog.Any("added", f.Added), slog.Any("removed", f.Removed), slog.Int("keys", f.Keys))
	}
}

// keySetNextStep fits the admin's next step to why a fetch failed.
func keySetNextStep(err error) string {
	step, _ := keySetFault(err)
	return step
}

// keySetFault reads why a key-set fetch failed: the admin's next step, and
// whether the fault is the tenant's (Entra does not know it, or its
// discovery document is another tenant's) rather than the network's or the
// key-set URL's. The log, the jwks_init answer and a refused SetConfig all
// read it here.
func keySetFault(err error) (nextStep string, tenant bool) {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "discovery issuer is"):
		return "Tenant ID or the authority is wrong: the discovery document belongs to another tenant or cloud", true
	case strings.Contains(msg, "status 400"), strings.Contains(msg, "status 404"):
		return "Entra does not know this tenant: check Tenant ID (the Directory (tenant) ID GUID) and the authority", true
	case errors.Is(err, jwkscache.ErrInsecureURL):
		return "key material must come over https: fix the authority, the key-set URL or the proxy that redirects to http", false
	case strings.Contains(msg, "key set from"), strings.Contains(msg, "not a JWKS"):
		return "the key-set URL does not serve a usable Entra key set: check JWKSURL or the proxy in front of Entra", false
	}
	return "check that this server reaches the Entra authority over https (proxy, firewall, DNS); run intune-doctor check on the server", false
}

// Close stops the key refresh (and the key-set events). Validate keeps
// working with the keys it has. Close is idempotent.
func (v *Validator) Close() error {
	if v.cache != nil {
		_ = v.cache.Close()
	}
	v.report.close()
	return nil
}

// KeySetStats are the key set's counters, for the host's metrics.
type KeySetStats struct {
	Fetches      uint64        // fetch attempts (start-up, scheduled, for unknown kids, manual)
	Failures     uint64        // attempts that failed (the last good keys were kept)
	UnknownKID   uint64        // tokens naming a kid not in the set
	RateLimited  uint64        // of those, answered without a fetch (one ran less than the interval ago)
	Keys         int           // usable keys now
	LastSuccess  time.Time     // zero if never
	LastFailure  time.Time     // zero if never
	LastError    string        // of the last failed fetch
	JWKSURL      string        // where the keys come from (discovered or configured), without query
	RefreshEvery time.Duration // the scheduled refresh interval
	MinInterval  time.Duration // the least time between two refreshes for unknown kids
	// ServerDate is the Date header of Entra's last answer, and ClockOffset
	// that date minus this server's clock when it arrived (to the second):
	// positive when this server's clock is behind Entra's.
	ServerDate  time.Time     // zero until Entra has sent a Date
	ClockOffset time.Duration // zero while unknown
}

// KeySetStats returns a snapshot of the key set's counters.
func (v *Validator) KeySetStats() KeySetStats {
	r := v.report
	r.mu.Lock()
	s := r.stats
	r.mu.Unlock()
	s.UnknownKID, s.RateLimited = r.unknownKID.Load(), r.rateLimited.Load()
	s.Keys = v.cache.Set().Len()
	return s
}

// RefreshKeys fetches the key set now (not rate-limited: for an admin action).
func (v *Validator) RefreshKeys(ctx context.Context) error { return v.cache.Refresh(ctx) }

// Validate verifies rawToken and returns its claims, or an *AppError with the
// documented ID of the first failed check (in the order of the Check*
// constants) and the concrete reason for the admin's log. It waits on the
// network only when the token names a key the cache does not hold and a
// refresh is allowed, or when no key set has been fetched yet.
func (v *Validator) Validate(ctx context.Context, rawToken string) (*Claims, error) {
	c, e := v.validate(&attempt{ctx: ctx, raw: rawToken})
	if e != nil {
		e.readUnverified()
		return nil, e
	}
	return c, nil
}
