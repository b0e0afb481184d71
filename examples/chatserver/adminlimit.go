package main

import (
	"math"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Failed admin-token attempts are rate-limited per client address: a few
// mistakes are free, a guesser is answered 429 with Retry-After before its
// guess is even compared. Only failures spend the allowance: an admin who
// gives the right token is never slowed, unless their address has just
// spent it (then the right token waits too, or the limit would tell a
// guesser which guess was right).
const (
	adminFailBurst   = 5                // failed attempts allowed at once
	adminFailEvery   = 12 * time.Second // then one more per interval (5 a minute)
	adminFailClients = 10000            // addresses tracked at most
)

// failLimiter holds one limiter per client address that failed recently.
type failLimiter struct {
	now func() time.Time // the clock; tests set it

	mu      sync.Mutex
	clients map[netip.Addr]*rate.Limiter
}

func newFailLimiter() *failLimiter {
	return &failLimiter{now: time.Now, clients: map[netip.Addr]*rate.Limiter{}}
}

// blocked reports whether a has no failed attempt left, and when it has one
// again.
func (l *failLimiter) blocked(a netip.Addr) (retryAfter time.Duration, blocked bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, ok := l.clients[a]
	if !ok && len(l.clients) >= adminFailClients {
		lim, ok = l.clients[netip.Addr{}] // the shared allowance of the overflow (see failed)
	}
	if !ok {
		return 0, false
	}
	tokens := lim.TokensAt(l.now())
	if tokens >= 1 {
		return 0, false
	}
	wait := time.Duration((1 - tokens) * float64(adminFailEvery))
	return wait, true
}

// failed spends one attempt of a.
func (l *failLimiter) failed(a netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	lim, ok := l.clients[a]
	if !ok {
		if len(l.clients) >= adminFailClients {
			l.prune(now)
		}
		if len(l.clients) >= adminFailClients {
			// Too many addresses failing at once: an attack from many
			// addresses. The newest share one allowance (the zero address):
			// the tracked ones keep theirs.
			a = netip.Addr{}
			lim = l.clients[a]
		}
		if lim == nil {
			lim = rate.NewLimiter(rate.Every(adminFailEvery), adminFailBurst)
			l.clients[a] = lim
		}
	}
	lim.AllowN(now, 1)
}

// prune forgets the addresses whose allowance is whole again.
func (l *failLimiter) prune(now time.Time) {
	for a, lim := range l.clients {
		if lim.TokensAt(now) >= adminFailBurst {
			delete(l.clients, a)
		}
	}
}

// retryAfterSeconds is d as Retry-After says it: whole seconds, rounded up.
func retryAfterSeconds(d time.Duration) int { return max(1, int(math.Ceil(d.Seconds()))) }
