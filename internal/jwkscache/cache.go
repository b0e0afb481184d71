// Package jwkscache keeps a tenant's Entra signing keys as a jwkset.Storage,
// for keyfunc to resolve a token's kid over. Cache discovers the key set,
// fetches it at start, refreshes it on a schedule and, rate-limited and
// de-duplicated, when a token names a key it does not hold; FetchOnce is the
// key set of a single fetch, for a one-off diagnosis.
//
// The design answers two failure modes of general-purpose caches: fetching
// on every unknown kid (an attacker with random kids makes the server hammer
// Entra), and a rate limiter that makes requests wait, or that holds back a
// genuinely rotated key for minutes (keyfunc's default HTTP storage does
// both). Here an unknown kid starts at most one fetch per MinInterval, all
// lookups that miss meanwhile share that one fetch, and a miss outside it is
// answered at once. A lookup of a held key never waits on the network or on
// a lock.
//
// The package returns errors and reports fetches through Options.OnFetch (its
// owner counts them); it logs nothing and gives no advice: the public package
// speaks to the admin.
package jwkscache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/MicahParks/jwkset"

	"github.com/mamlogin/mamlogin/internal/clock"
)

// Defaults for Options.
const (
	DefaultRefreshEvery = time.Hour
	DefaultMinInterval  = time.Minute
	DefaultTimeout      = 10 * time.Second
	DefaultMaxBytes     = 512 << 10
	// the retry schedule after a failure: from 1s, doubling, up to a minute
	firstRetry = time.Second
	maxRetry   = time.Minute
)

// Options configure where keys come from and how they are fetched. Exactly
// one of DiscoveryURL and JWKSURL is set.
type Options struct {
	DiscoveryURL   string // the tenant's v2 openid-configuration (with ?appid=)
	ExpectedIssuer string // the discovery document's issuer must equal this ("" skips the check)
	JWKSURL        string // a fixed key-set URL instead of discovery

	Client       *http.Client  // the host's client (proxy, TLS); copied, never changed
	RefreshEvery time.Duration // scheduled refresh; default 1h
	MinInterval  time.Duration // least time between two fetches for unknown kids; default 1m
	Timeout      time.Duration // bound on one fetch (discovery + key set); default 10s
	MaxBytes     int64         // bound on the key-set body; default 512 KiB
	Clock        clock.Clock   // default: the system clock

	// OnFetch, when set, is called after every fetch, on the goroutine that
	// fetched. It must not block: lookups may be waiting for that fetch.
	OnFetch func(Fetch)
}

// Trigger says why a fetch ran.
type Trigger string

const (
	TriggerStart      Trigger = "start"       // the first fetch, or FetchOnce
	TriggerSchedule   Trigger = "schedule"    // the refresh every RefreshEvery (or the retry after a failure)
	TriggerUnknownKID Trigger = "unknown_kid" // a token named a kid not held, or no keys were held
	TriggerManual     Trigger = "manual"      // Refresh
)

// Fetch is the outcome of one fetch of the key set.
type Fetch struct {
	Trigger Trigger
	URL     string // the key-set URL without its query; "" when discovery failed first
	Err     error  // nil on success; then the held set was replaced
	Keys    int    // usable keys held after the fetch
	// Skipped are the keys of the fetched document that are not used.
	Skipped []Rejected
	// Added and Removed are the kids that appeared in, or left, the held set:
	// Entra rotating its keys. Both are empty on the first fetch.
	Added, Removed []string
	// ServerDate is the Date header of the last response; zero if absent.
	ServerDate time.Time
	At         time.Time // the local clock when the fetch ended
	Took       time.Duration
}

// ClockOffset is ServerDate minus the local clock at the answer: how far
// this server's clock is behind Entra's (negative: ahead), to the second;
// zero when Entra sent no Date.
func (f Fetch) ClockOffset() time.Duration {
	if f.ServerDate.IsZero() {
		return 0
	}
	// Date has a resolution of one second: round the local time too.
	return f.ServerDate.Sub(f.At.Truncate(time.Second))
}

// Source is what a validator resolves keys through: a jwkset.Storage for
// keyfunc, plus what keyfunc does not model.
type Source interface {
	jwkset.Storage
	// Ready returns nil when a usable key set is held, else an *InitError
	// saying what could not be fetched from where.
	Ready(ctx context.Context) error
	// Binding returns Entra's issuer and cloud_instance_name published with
	// the key kid, when pub is that key.
	Binding(kid string, pub any) (issuer, cloud string, ok bool)
}

// InitError says that no usable key set has ever been fetched.
type InitError struct {
	URL string // discovery or key-set URL, without query
	Err error  // the last fetch failure; nil if no fetch has ended yet
}

func (e *InitError) Error() string {
	if e.Err == nil {
		return "no key set fetched yet from " + e.URL
	}
	return fmt.Sprintf("no key set has been fetched from %s: %v", e.URL, e.Err)
}

func (e *InitError) Unwrap() error { return e.Err }

// source fetches the key set of one configuration.
type source struct {
	o     Options
	start *url.URL // the discovery or key-set URL
	f     *fetcher
}

func newSource(o Options) (*source, error) {
	if (o.DiscoveryURL == "") == (o.JWKSURL == "") {
		return nil, errors.New("jwkscache: set exactly one of DiscoveryURL and JWKSURL")
	}
	if o.RefreshEvery <= 0 {
		o.RefreshEvery = DefaultRefreshEvery
	}
	if o.MinInterval <= 0 {
		o.MinInterval = DefaultMinInterval
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	raw := o.JWKSURL + o.DiscoveryURL
	start, err := CheckURL(raw)
	if err != nil {
		return nil, fmt.Errorf("jwkscache: %w", err)
	}
	return &source{o: o, start: start, f: newFetcher(o.Client, o.Timeout, o.MaxBytes)}, nil
}

// where names the start URL for errors (no query: ?appid= is not secret, but
// a configured JWKSURL might carry a key).
func (s *source) where() string { return Redact(s.start.String()) }

// fetch discovers (when configured) and fetches the key set once, bounded by
// Timeout and ctx. prev is the set held now (for carrying unchanged keys).
func (s *source) fetch(ctx context.Context, prev *Set, trig Trigger) (*Set, Fetch) {
	began := s.o.Clock.Now()
	ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	ev := Fetch{Trigger: trig}
	set, err := s.fetchSet(ctx, prev, trig == TriggerUnknownKID || trig == TriggerManual, &ev)
	ev.Err, ev.At = err, s.o.Clock.Now()
	ev.Took = ev.At.Sub(began)
	if set != nil {
		ev.Skipped = set.Rejected
	}
	if err != nil {
		return nil, ev
	}
	if prev != nil {
		ev.Added, ev.Removed = diff(set, prev), diff(prev, set)
	}
	return set, ev
}

func (s *source) fetchSet(ctx context.Context, prev *Set, noCache bool, ev *Fetch) (*Set, error) {
	keysURL := s.start
	if s.o.DiscoveryURL != "" {
		r, err := s.f.get(ctx, s.start, MaxDiscoveryBytes, noCache, s.o.Clock.Now)
		if r != nil {
			ev.ServerDate = r.date
		}
		if err != nil {
			return nil, fmt.Errorf("discovery: %w", err)
		}
		d, err := ParseDiscovery(r.body, s.start, s.o.ExpectedIssuer)
		if err != nil {
			return nil, fmt.Errorf("discovery %s: %w", s.where(), err)
		}
		keysURL, _ = url.Parse(d.JWKSURI)
	}
	ev.URL = Redact(keysURL.String())
	r, err := s.f.get(ctx, keysURL, s.o.MaxBytes, noCache, s.o.Clock.Now)
	if r != nil {
		ev.ServerDate = r.date
	}
	if err != nil {
		return nil, fmt.Errorf("key set: %w", err)
	}
	set, err := Parse(r.body, prev)
	if err != nil {
		return set, fmt.Errorf("key set from %s: %w", ev.URL, err)
	}
	return set, nil
}

// diff lists the kids of a that b lacks.
func diff(a, b *Set) []string {
	var out []string
	for _, k := range a.order {
		if b.Key(k.ID) == nil {
			out = append(out, k.ID)
		}
	}
	return out
}

// Cache is the refreshing key source of a Validator. It is safe for
// concurrent use. It lives until Close: the context given to New bounds only
// the first fetch.
type Cache struct {
	src    *source
	set    atomic.Pointer[Set]
	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	done   chan struct{}
	closed sync.Once

	mu          sync.Mutex
	inflight    *call
	lastAttempt time.Time
	lastErr     error // of the last fetch, for Ready
}

type call struct {
	done chan struct{}
	err  error
}

var _ Source = (*Cache)(nil)

// New builds a Cache, fetches the key set once, bounded by ctx and Timeout,
// and starts the refresh loop, which runs until Close whatever becomes of
// ctx. A failed first fetch is not an error: the cache starts empty, reports
// it, and retries with backoff (and when a lookup finds no keys) until Entra
// answers. New fails only on options that can never work.
func New(ctx context.Context, o Options) (*Cache, error) {
	src, err := newSource(o)
	if err != nil {
		return nil, err
	}
	c := &Cache{src: src, done: make(chan struct{})}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	// The first fetch ends when ctx does, or when the cache is closed.
	first, stop := context.WithCancel(ctx)
	defer stop()
	unhook := context.AfterFunc(c.ctx, stop)
	defer unhook()
	c.mu.Lock()
	cl := c.startLocked(first, TriggerStart)
	c.mu.Unlock()
	<-cl.done
	go c.loop(cl.err)
	return c, nil
}

// Close stops the refresh loop and waits for it. Lookups keep answering from
// the last key set. Close is idempotent.
func (c *Cache) Close() error {
	c.closed.Do(func() {
		c.cancel()
		<-c.done
	})
	return nil
}

// Stopped is closed once the refresh loop has ended (Close ends it): what a
// test observes of this cache's own lifetime.
func (c *Cache) Stopped() <-chan struct{} { return c.done }

// Set returns the current key set (nil before the first successful fetch).
func (c *Cache) Set() *Set { return c.set.Load() }

// KeyRead returns the key with kid. A held key is returned without waiting.
// A miss joins the fetch in flight, or starts one if MinInterval has passed
// since the last; otherwise it fails at once. The error is a *MissError
// (wrapping jwkset.ErrKeyNotFound) that says which.
func (c *Cache) KeyRead(ctx context.Context, kid string) (jwkset.JWK, error) {
	if k := c.set.Load().Key(kid); k != nil {
		return k.jwk, nil
	}
	cl, waited, err := c.refreshForMiss(ctx)
	if k := c.set.Load().Key(kid); k != nil {
		return k.jwk, nil
	}
	miss := &MissError{KID: kid, Keys: c.set.Load().Len()}
	switch {
	case cl == nil:
		miss.Refresh, miss.Waited, miss.Every = RefreshLimited, waited, c.src.o.MinInterval
	case err != nil:
		miss.Refresh, miss.Err = RefreshInterrupted, err
	case cl.err != nil:
		miss.Refresh, miss.Err = RefreshFailed, cl.err
	default:
		miss.Refresh = RefreshFresh
	}
	return jwkset.JWK{}, miss
}

// refreshForMiss joins the fetch in flight, or starts one when MinInterval
// has passed since the last attempt, and waits for it (bounded by ctx). cl
// is nil when no fetch was allowed; since is then the time since the last.
func (c *Cache) refreshForMiss(ctx context.Context) (cl *call, since time.Duration, err error) {
	c.mu.Lock()
	cl = c.inflight
	if cl == nil {
		since = c.src.o.Clock.Now().Sub(c.lastAttempt)
		if !c.lastAttempt.IsZero() && since < c.src.o.MinInterval {
			c.mu.Unlock()
			return nil, since, nil
		}
		cl = c.startLocked(c.ctx, TriggerUnknownKID)
	}
	c.mu.Unlock()
	select {
	case <-cl.done:
		return cl, 0, nil
	case <-ctx.Done():
		return cl, 0, ctx.Err()
	}
}

// Ready returns nil when a usable key set is held. Otherwise it tries what
// an unknown kid may (one shared, rate-limited fetch) and, if that does not
// bring keys, returns an *InitError with the last failure.
func (c *Cache) Ready(ctx context.Context) error {
	if c.set.Load() != nil {
		return nil
	}
	_, _, _ = c.refreshForMiss(ctx)
	if c.set.Load() != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return &InitError{URL: c.src.where(), Err: c.lastErr}
}

// Binding returns the issuer and cloud published with key kid, if pub is
// that key. Keys unchanged by a refresh keep their identity, so a key
// resolved before a refresh still binds after it.
func (c *Cache) Binding(kid string, pub any) (issuer, cloud string, ok bool) {
	return c.set.Load().Binding(kid, pub)
}

// Binding is Cache.Binding over a fixed set.
func (s *Set) Binding(kid string, pub any) (issuer, cloud string, ok bool) {
	k := s.Key(kid)
	if k == nil || any(k.Public) != pub {
		return "", "", false
	}
	return k.Issuer, k.Cloud, true
}

// The rest of jwkset.Storage reads the held set; writes are refused.

func (c *Cache) KeyReadAll(ctx context.Context) ([]jwkset.JWK, error) {
	return c.set.Load().KeyReadAll(ctx)
}
func (c *Cache) KeyDelete(context.Context, string) (bool, error)   { return false, ErrReadOnly }
func (c *Cache) KeyReplaceAll(context.Context, []jwkset.JWK) error { return ErrReadOnly }
func (c *Cache) KeyWrite(context.Context, jwkset.JWK) error        { return ErrReadOnly }
func (c *Cache) JSON(ctx context.Context) (json.RawMessage, error) { return c.set.Load().JSON(ctx) }
func (c *Cache) JSONPublic(ctx context.Context) (json.RawMessage, error) {
	return c.set.Load().JSONPublic(ctx)
}
func (c *Cache) JSONPrivate(ctx context.Context) (json.RawMessage, error) {
	return c.set.Load().JSONPrivate(ctx)
}
func (c *Cache) JSONWithOptions(ctx context.Context, mo jwkset.JWKMarshalOptions, vo jwkset.JWKValidateOptions) (json.RawMessage, error) {
	return c.set.Load().JSONWithOptions(ctx, mo, vo)
}
func (c *Cache) Marshal(ctx context.Context) (jwkset.JWKSMarshal, error) {
	return c.set.Load().Marshal(ctx)
}
func (c *Cache) MarshalWithOptions(ctx context.Context, mo jwkset.JWKMarshalOptions, vo jwkset.JWKValidateOptions) (jwkset.JWKSMarshal, error) {
	return c.set.Load().MarshalWithOptions(ctx, mo, vo)
}

// Refresh fetches now, joining a fetch in flight, and waits for it. It is
// not rate-limited: it is for the host (an admin action), not for requests.
func (c *Cache) Refresh(ctx context.Context) error {
	c.mu.Lock()
	cl := c.inflight
	if cl == nil {
		cl = c.startLocked(c.ctx, TriggerManual)
	}
	c.mu.Unlock()
	select {
	case <-cl.done:
		return cl.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// startLocked begins one shared fetch bounded by ctx; c.mu is held.
func (c *Cache) startLocked(ctx context.Context, trig Trigger) *call {
	cl := &call{done: make(chan struct{})}
	c.inflight = cl
	c.lastAttempt = c.src.o.Clock.Now()
	go func() {
		set, ev := c.src.fetch(ctx, c.set.Load(), trig)
		c.mu.Lock()
		if set != nil {
			c.set.Store(set)
		}
		ev.Keys = c.set.Load().Len()
		c.lastErr = ev.Err
		c.inflight = nil
		c.mu.Unlock()
		cl.err = ev.Err
		if c.src.o.OnFetch != nil {
			c.src.o.OnFetch(ev)
		}
		close(cl.done)
	}()
	return cl
}

// loop refreshes every RefreshEvery; after a failure it retries sooner, with
// backoff from 1s up to a minute (never more often: Entra is not hammered
// while it is down).
func (c *Cache) loop(lastErr error) {
	defer close(c.done)
	retry := firstRetry
	for {
		wait := c.src.o.RefreshEvery
		if lastErr != nil {
			wait = min(retry, c.src.o.RefreshEvery)
			retry = min(retry*2, maxRetry)
		} else {
			retry = firstRetry
		}
		select {
		case <-c.ctx.Done():
			return
		case <-c.src.o.Clock.After(wait):
		}
		c.mu.Lock()
		cl := c.inflight
		if cl == nil {
			cl = c.startLocked(c.ctx, TriggerSchedule)
		}
		c.mu.Unlock()
		select {
		case <-cl.done:
			lastErr = cl.err
		case <-c.ctx.Done():
			return
		}
	}
}

// Static is the key set of a single fetch: a Source with no refresh and no
// goroutine, for a one-off diagnosis.
type Static struct {
	*Set
	Fetch Fetch // what the fetch found
	where string
}

var _ Source = (*Static)(nil)

// FetchOnce fetches the key set once, bounded by ctx and o.Timeout. It fails
// only on options that can never work; a failed fetch is in Static.Fetch.Err
// and makes Ready fail.
func FetchOnce(ctx context.Context, o Options) (*Static, error) {
	src, err := newSource(o)
	if err != nil {
		return nil, err
	}
	set, ev := src.fetch(ctx, nil, TriggerStart)
	ev.Keys = set.Len()
	return &Static{Set: set, Fetch: ev, where: src.where()}, nil
}

// Ready returns nil when the fetch brought a usable key set.
func (s *Static) Ready(context.Context) error {
	if s.Set == nil {
		return &InitError{URL: s.where, Err: s.Fetch.Err}
	}
	return nil
}
