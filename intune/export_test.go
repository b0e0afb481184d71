package intune

import (
	"time"

	"github.com/mamlogin/mamlogin/internal/clock"
)

// WithCacheClock drives the key cache's refresh schedule from a test clock.
func WithCacheClock(c clock.Clock) Option { return func(o *options) { o.cacheClock = c } }

// SetDropSummaryEvery shortens the wait before dropped failure records are
// summarised, and returns a function that restores it.
func SetDropSummaryEvery(d time.Duration) func() {
	old := dropSummaryEvery
	dropSummaryEvery = d
	return func() { dropSummaryEvery = old }
}

// Refreshing reports whether v's key cache still runs its refresh loop: the
// lifetime of this Validator alone, whatever other Validators the process
// holds or is closing.
func Refreshing(v *Validator) bool {
	select {
	case <-v.cache.Stopped():
		return false
	default:
		return true
	}
}
