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
