// Package jwkscache keeps a tenant's Entra signing keys: it discovers the key
// set, fetches it at start, refreshes it on a schedule and, rate-limited and
// de-duplicated, when a token names a key it does not hold. Lookups of a
// cached key never wait on the network or on a lock.
//
// The design answers two failure modes of general-purpose caches: fetching on
// every unknown kid (an attacker with random kids makes the server hammer
// Entra), and a rate limiter that makes requests wait, or that holds back a
// genuinely rotated key for minutes. Here an unknown kid starts at most one
// fetch per MinInterval, all lookups that miss meanwhile share that one fetch,
// and a miss outside it answers at once.
package jwkscache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mamlogin/mamlogin/internal/clock"
)

// Defaults for Options.
const (
	DefaultRefreshEvery = time.Hour
	DefaultMinInterval  = time.Minute
	DefaultTimeout      = 10 * time.Second
	DefaultMaxBytes     = 512 << 10
	// retry schedule while no fetch has succeeded, or after a failure
	firstRetry = time.Second
	maxRetry   = time.Minute
)

// Options configure a Cache. Exactly one of DiscoveryURL and JWKSURL is set.
type Options struct {
	DiscoveryURL   string // the tenant's v2 openid-configuration (with ?appid=)
	ExpectedIssuer string // the discovery document's issuer must equal this ("" skips the check)
	JWKSURL        string // a fixed key-set URL instead of discovery

	Client       *http.Client  // default: a client with Timeout
	RefreshEvery time.Duration // scheduled refresh; default 1h
	MinInterval  time.Duration // least time between two fetches for unknown kids; default 1m
	Timeout      time.Duration // bound on one fetch (discovery + key set); default 10s
	MaxBytes     int64         // bound on the key-set body; default 512 KiB
	Clock        clock.Clock   // default: the system clock
	Logger       *slog.Logger  // default: slog.Default()
}

// ErrUnknownKID is returned (wrapped, with detail) when a kid is not in the set.
var ErrUnknownKID = errors.New("kid not in the key set")

// Cache holds the current key set. It is safe for concurrent use.
type Cache struct {
	o      Options
	keys   atomic.Pointer[Set]
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	mu          sync.Mutex
	inflight    *call
	lastAttempt time.Time
	jwksURL     string // discovered (or fixed) key-set URL

	fetches, failures, unknownKID, rateLimited atomic.Uint64
	lastSuccess, lastFailure                   atomic.Pointer[time.Time]
	lastError                                  atomic.Pointer[string]
}

type call struct {
	done chan struct{}
	err  error
}

// New builds a Cache, fetches the key set once (bounded by Timeout) and starts
// the refresh loop, which lives until ctx is done or Close is called. A failed
// first fetch is not an error: the cache starts empty, logs it, and retries
// with backoff (and on the first unknown kid) until Entra answers.
func New(ctx context.Context, o Options) (*Cache, error) {
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
	if o.Client == nil {
		o.Client = &http.Client{Timeout: o.Timeout}
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	c := &Cache{o: o, done: make(chan struct{}), jwksURL: o.JWKSURL}
	c.ctx, c.cancel = context.WithCancel(context.WithoutCancel(ctx))
	go func() {
		select {
		case <-ctx.Done():
			c.cancel()
		case <-c.ctx.Done():
		}
	}()
	first := c.start()
	<-first.done
	go c.loop(first.err)
	return c, nil
}

// Close stops the refresh loop and waits for it. Lookups keep answering from
// the last key set.
func (c *Cache) Close() error {
	c.cancel()
	<-c.done
	return nil
}

// Set returns the current key set (nil before the first successful fetch).
func (c *Cache) Set() *Set { return c.keys.Load() }

// Lookup returns the key with kid. A cached key is returned without waiting.
// A miss joins the fetch in flight, or starts one if MinInterval has passed
// since the last; otherwise it fails at once. The error wraps ErrUnknownKID
// (or ctx's error) and says which.
func (c *Cache) Lookup(ctx context.Context, kid string) (*Key, error) {
	if k := c.keys.Load().Key(kid); k != nil {
		return k, nil
	}
	c.unknownKID.Add(1)
	c.mu.Lock()
	cl := c.inflight
	if cl == nil {
		if since := c.o.Clock.Now().Sub(c.lastAttempt); !c.lastAttempt.IsZero() && since < c.o.MinInterval {
			c.mu.Unlock()
			c.rateLimited.Add(1)
			return nil, fmt.Errorf("%w (%d keys; no refresh: the last was %s ago, refreshes for unknown kids are at most one per %s)",
				ErrUnknownKID, c.keys.Load().Len(), since.Round(time.Second), c.o.MinInterval)
		}
		cl = c.startLocked()
	}
	c.mu.Unlock()
	select {
	case <-cl.done:
	case <-ctx.Done():
		return nil, fmt.Errorf("%w (waiting for a key-set refresh: %w)", ErrUnknownKID, ctx.Err())
	}
	if k := c.keys.Load().Key(kid); k != nil {
		return k, nil
	}
	if cl.err != nil {
		return nil, fmt.Errorf("%w (%d keys; the refresh it triggered failed: %v)", ErrUnknownKID, c.keys.Load().Len(), cl.err)
	}
	return nil, fmt.Errorf("%w (%d keys, freshly fetched)", ErrUnknownKID, c.keys.Load().Len())
}

// Refresh fetches now, joining a fetch in flight, and waits for it. It is
// not rate-limited: it is for the host (an admin action), not for requests.
func (c *Cache) Refresh(ctx context.Context) error {
	cl := c.start()
	select {
	case <-cl.done:
		return cl.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// start joins the fetch in flight or begins one.
func (c *Cache) start() *call {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inflight != nil {
		return c.inflight
	}
	return c.startLocked()
}

// startLocked begins one shared fetch; c.mu is held.
func (c *Cache) startLocked() *call {
	cl := &call{done: make(chan struct{})}
	c.inflight = cl
	c.lastAttempt = c.o.Clock.Now()
	go func() {
		cl.err = c.fetch()
		c.mu.Lock()
		c.inflight = nil
		c.mu.Unlock()
		close(cl.done)
	}()
	return cl
}

// loop refreshes every RefreshEvery; after a failure it retries sooner, with
// backoff from 1s up to a minute (never more often than that: Entra is not
// hammered while it is down).
func (c *Cache) loop(lastErr error) {
	defer close(c.done)
	retry := firstRetry
	for {
		wait := c.o.RefreshEvery
		if lastErr != nil {
			wait = min(retry, c.o.RefreshEvery)
			retry = min(retry*2, maxRetry)
		} else {
			retry = firstRetry
		}
		select {
		case <-c.ctx.Done():
			return
		case <-c.o.Clock.After(wait):
		}
		cl := c.start()
		select {
		case <-cl.done:
			lastErr = cl.err
		case <-c.ctx.Done():
			return
		}
	}
}

// fetch discovers (when configured) and fetches the key set, replacing the
// current set only with a good one.
func (c *Cache) fetch() (err error) {
	c.fetches.Add(1)
	ctx, cancel := context.WithTimeout(c.ctx, c.o.Timeout)
	defer cancel()
	defer func() {
		now := c.o.Clock.Now()
		if err != nil {
			c.failures.Add(1)
			c.lastFailure.Store(&now)
			msg := err.Error()
			c.lastError.Store(&msg)
			c.o.Logger.Warn("intune: Entra key set fetch failed; keeping the last good keys",
				"error", err, "keys", c.keys.Load().Len(), "next_step", "check that this server reaches the Entra authority and that Tenant ID is right")
			return
		}
		c.lastSuccess.Store(&now)
	}()
	url := c.o.JWKSURL
	if url == "" {
		body, err := get(ctx, c.o.Client, c.o.DiscoveryURL, MaxDiscoveryBytes)
		if err != nil {
			return fmt.Errorf("discovery: %w", err)
		}
		d, err := ParseDiscovery(body, c.o.DiscoveryURL, c.o.ExpectedIssuer)
		if err != nil {
			return err
		}
		url = d.JWKSURI
		c.mu.Lock()
		c.jwksURL = url
		c.mu.Unlock()
	}
	body, err := get(ctx, c.o.Client, url, c.o.MaxBytes)
	if err != nil {
		return fmt.Errorf("key set: %w", err)
	}
	set, err := Parse(body)
	if err != nil {
		return fmt.Errorf("key set from %s: %w", redact(url), err)
	}
	for _, r := range set.Rejected {
		c.o.Logger.Warn("intune: Entra key skipped", "kid", r.KID, "reason", r.Reason)
	}
	c.keys.Store(set)
	return nil
}

// Stats are counters the host can export.
type Stats struct {
	Fetches      uint64    // fetch attempts (scheduled, start-up and for unknown kids)
	Failures     uint64    // attempts that failed (the last good keys were kept)
	UnknownKID   uint64    // lookups of a kid not in the set
	RateLimited  uint64    // of those, answered without a fetch because one ran less than MinInterval ago
	Keys         int       // usable keys now
	LastSuccess  time.Time // zero if never
	LastFailure  time.Time // zero if never
	LastError    string    // of the last failed fetch
	JWKSURL      string    // where keys come from (discovered or fixed), without query
	RefreshEvery time.Duration
	MinInterval  time.Duration
}

// Stats returns a snapshot of the counters.
func (c *Cache) Stats() Stats {
	s := Stats{
		Fetches: c.fetches.Load(), Failures: c.failures.Load(), UnknownKID: c.unknownKID.Load(),
		RateLimited: c.rateLimited.Load(), Keys: c.keys.Load().Len(),
		RefreshEvery: c.o.RefreshEvery, MinInterval: c.o.MinInterval,
	}
	if t := c.lastSuccess.Load(); t != nil {
		s.LastSuccess = *t
	}
	if t := c.lastFailure.Load(); t != nil {
		s.LastFailure = *t
	}
	if e := c.lastError.Load(); e != nil {
		s.LastError = *e
	}
	c.mu.Lock()
	s.JWKSURL = redact(c.jwksURL)
	c.mu.Unlock()
	return s
}
