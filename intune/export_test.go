package intune

import "github.com/mamlogin/mamlogin/internal/clock"

// WithCacheClock drives the key cache's refresh schedule from a test clock.
func WithCacheClock(c clock.Clock) Option { return func(o *options) { o.cacheClock = c } }
