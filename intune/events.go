package intune

import (
	"time"

	"github.com/mamlogin/mamlogin/internal/dispatch"
	"github.com/mamlogin/mamlogin/internal/jwkscache"
)

// OutcomeSuccess is SignInEvent.Outcome for a sign-in that opened a session.
const OutcomeSuccess = "success"

// SignInEvent is one sign-in attempt as the handler answered it: for
// metrics, alerting and audit. Every attempt that reaches the handler with
// POST gives exactly one.
type SignInEvent struct {
	RequestID string        // the X-Request-ID answered (the client's, when sane)
	Start     time.Time     // when the handler began
	Duration  time.Duration // until the answer was written
	// Outcome is OutcomeSuccess or the error ID answered.
	Outcome string
	// Status is the HTTP status answered.
	Status int
	// Provider is the enforced provider of the configuration the attempt
	// ran on ("" when Intune MAM was not configured).
	Provider AuthService
	// HasDeviceID and HasVoIPDeviceID say whether the request carried the
	// push device ids (the app sends them on a real device).
	HasDeviceID, HasVoIPDeviceID bool
	// UserID is the signed-in user on success; Created is true when this
	// sign-in created that user (OpenID Connect JIT).
	UserID  string // "" on failure
	Created bool   // this sign-in created the user
	// Token holds what is known of the token. Token.Verified is false when
	// these are a rejected token's claims (clipped), not facts.
	Token TokenFacts
	// Reason is the internal reason of a failure: for the audit trail, never
	// for the client.
	Reason string

	failure *AppError // until complete: the failure whose Reason and Token are still to be read
}

// complete fills Reason and Token from the failure, on the dispatcher's
// goroutine: a flood's requests do not read rejected tokens' claims for
// events, and events the receiver is too slow for never read them at all.
func (ev *SignInEvent) complete() {
	if e := ev.failure; e != nil {
		e.readUnverified()
		ev.Reason, ev.Token, ev.failure = e.Reason, e.Facts, nil
	}
}

// WithEvents receives one SignInEvent per sign-in attempt, on a goroutine of
// the handler's: it never blocks or fails a sign-in. A receiver that falls
// behind by more than 1024 events loses the excess (counted in
// LoginHandler.EventsDropped); a panic in it is recovered and logged, at
// most at the failure-log rate (WithFailureLogLimit), then counted.
func WithEvents(receive func(SignInEvent)) HandlerOption {
	return func(h *LoginHandler) { h.events = receive }
}

// KeySetEvent is one fetch of the tenant's key set.
type KeySetEvent struct {
	TenantID string // the tenant whose keys were fetched
	URL      string // the key-set URL, without query; "" when discovery failed first
	Trigger  string // "start", "schedule", "unknown_kid" or "manual"
	Err      error  // nil when the fetch succeeded
	// Keys is the number of usable keys held after the fetch; Skipped the
	// number of keys of the fetched set that are not used.
	Keys, Skipped int
	// Added and Removed are the kids that appeared in, or left, the held
	// set: a rotation seen. Both are empty on the first fetch.
	Added, Removed []string
	// ServerDate is Entra's Date header; ClockOffset is that date minus this
	// server's clock (positive: this server is behind). Zero when unknown.
	ServerDate  time.Time     // zero when Entra sent no Date
	ClockOffset time.Duration // zero when unknown
	At          time.Time     // when the fetch ended
	Took        time.Duration // how long it took (discovery and key set)
}

// WithKeySetEvents receives one KeySetEvent per fetch of the key set, on a
// goroutine of the Validator's (stopped by Close): it never delays a fetch
// or a sign-in. Give it to the validators a LoginHandler builds with
// WithValidatorOptions.
func WithKeySetEvents(receive func(KeySetEvent)) Option {
	return func(o *options) { o.keySetEvents = receive }
}

// eventBuffer bounds the events in flight to a slow receiver.
const eventBuffer = 1024

func keySetEvent(tenant string, f jwkscache.Fetch) KeySetEvent {
	return KeySetEvent{TenantID: tenant, URL: f.URL, Trigger: string(f.Trigger), Err: f.Err, Keys: f.Keys,
		Skipped: len(f.Skipped), Added: f.Added, Removed: f.Removed, ServerDate: f.ServerDate,
		ClockOffset: f.ClockOffset(), At: f.At, Took: f.Took}
}

// newDispatcher starts the goroutine that feeds receive, or returns nil when
// there is nothing to feed.
func newDispatcher[T any](receive func(T), onPanic func(any)) *dispatch.Dispatcher[T] {
	if receive == nil {
		return nil
	}
	return dispatch.New(eventBuffer, receive, onPanic)
}
