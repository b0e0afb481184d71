package intune

import (
	"log/slog"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// dropSummaryEvery is how long after the first dropped failure record the
// count of dropped records is logged.
var dropSummaryEvery = 10 * time.Second

// failureLog bounds the failure records: one per failure up to a rate, then
// a periodic count of what was dropped. A flood of garbage costs a counter
// increment per request, not a log line.
type failureLog struct {
	log       *slog.Logger
	summary   string // the message of the count of dropped records
	nextStep  string // and what the admin does about them
	limit     *rate.Limiter
	every     time.Duration
	dropped   atomic.Int64
	scheduled atomic.Bool
}

func newFailureLog(log *slog.Logger, perSecond rate.Limit, burst int) *failureLog {
	return &failureLog{log: log, limit: rate.NewLimiter(perSecond, burst), every: dropSummaryEvery,
		summary:  "intune: sign-in failure records dropped: more failures than the log limit",
		nextStep: "A flood of failed sign-ins: check the metrics or events for their error IDs, and the network in front of the server."}
}

// newReceiverLog bounds the records of a WithEvents receiver that panics,
// at the failure-log rate: a receiver that panics on every event (a broken
// audit writer) must not log once per sign-in.
func newReceiverLog(log *slog.Logger, perSecond rate.Limit, burst int) *failureLog {
	f := newFailureLog(log, perSecond, burst)
	f.summary = "intune: sign-in event receiver panics not logged: more than the log limit"
	f.nextStep = "Fix the WithEvents receiver: it panics on many events, and their records are lost."
	return f
}

// panicked logs one recovered panic of the events receiver, within the limit.
func (f *failureLog) panicked(p any) {
	if f.allow() {
		f.log.Error("intune: the sign-in event receiver panicked; the event was dropped", "panic", p,
			"next_step", "Fix the WithEvents receiver: it must not panic (its events are lost).")
	}
}

// allow reports whether a failure may be logged now; if not, it counts it
// and makes sure a summary follows.
func (f *failureLog) allow() bool {
	if f.limit.Allow() {
		return true
	}
	f.dropped.Add(1)
	if f.scheduled.CompareAndSwap(false, true) {
		time.AfterFunc(f.every, f.summarise)
	}
	return false
}

func (f *failureLog) summarise() {
	f.scheduled.Store(false)
	if n := f.dropped.Swap(0); n > 0 {
		f.log.Warn(f.summary, "dropped", n, "window", f.every, "next_step", f.nextStep)
	}
}
