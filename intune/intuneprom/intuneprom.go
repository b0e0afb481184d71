// Package intuneprom exports Prometheus metrics of Intune MAM mobile sign-ins
// and of the Entra tenant's key set, from the events of package intune.
// Package intune itself does not depend on Prometheus: a host that wants
// these metrics imports this package, one that does not pays nothing.
//
//	m, err := intuneprom.New(intuneprom.Options{}) // registers on prometheus.DefaultRegisterer
//	...
//	v, _ := intune.NewValidator(ctx, cfg, intune.WithKeySetEvents(m.KeySet))
//	h := intune.NewLoginHandler(cfg, v, store, sessions,
//		intune.WithEvents(m.SignIn),
//		intune.WithValidatorOptions(intune.WithKeySetEvents(m.KeySet)))
//
// The series, with the default namespace "intune":
//
//	intune_signins_total{outcome,provider}           counter
//	intune_signin_duration_seconds{result}           histogram
//	intune_keyset_fetches_total{trigger,result}      counter
//	intune_keyset_keys                               gauge
//	intune_keyset_skipped_keys                       gauge
//	intune_keyset_last_success_age_seconds           gauge, computed at scrape time
//	intune_keyset_rotated_keys_total{change}         counter
//	intune_entra_clock_offset_seconds                gauge
//
// Every label is bounded: outcome is "success", the ID of a row the library
// answers with (intune.Rows: the catalog and the host rows), one of
// Options.Outcomes, or one of at most Options.MaxOutcomes other IDs seen;
// anything else is counted as "other". The HTTP status is not a label: it
// follows from the outcome (and the handler's WithRetryStatus).
//
// The event methods never block on I/O and never panic; they are meant for
// the goroutines package intune delivers events on, and may also be called
// from a host's own receiver.
package intuneprom

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mamlogin/mamlogin/intune"
)

// DefaultNamespace prefixes every series name unless Options.Namespace is set.
const DefaultNamespace = "intune"

// DefaultMaxOutcomes is how many distinct outcome IDs outside the catalog
// and Options.Outcomes get a label value of their own.
const DefaultMaxOutcomes = 16

// Other is the label value of an outcome, provider or trigger beyond the
// bounds: an unexpected value, or one past the cap.
const Other = "other"

// Label values of the result labels and the change label.
const (
	ResultSuccess = "success"
	ResultFailure = "failure"
	ChangeAdded   = "added"
	ChangeRemoved = "removed"
)

// DefaultBuckets are the sign-in duration buckets, in seconds: 1 ms to 10 s.
// A sign-in on held keys takes a few milliseconds plus the host's store and
// session; one that fetches the key set takes a network round trip to Entra.
var DefaultBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// Options configures New. The zero value is usable.
type Options struct {
	// Namespace prefixes every series name (default "intune"). It must be a
	// legacy Prometheus name: letters, digits and underscores, not starting
	// with a digit.
	Namespace string
	// Registerer receives the collectors (default prometheus.DefaultRegisterer).
	Registerer prometheus.Registerer
	// Buckets are the upper bounds, in seconds, of the sign-in duration
	// histogram, strictly increasing (default DefaultBuckets).
	Buckets []float64
	// Outcomes are the host's own error IDs (the rows its UserStore returns
	// with intune.NewAppError): each always gets its own outcome label value,
	// beside the catalog's.
	Outcomes []string
	// MaxOutcomes caps the other distinct outcome IDs that get a label value
	// of their own, first seen first served (default DefaultMaxOutcomes; a
	// negative value admits none). Past the cap, and for anything that does
	// not look like an error ID, the outcome is "other".
	MaxOutcomes int
	// Now is the clock the key-set age is computed with at scrape time
	// (default time.Now; tests).
	Now func() time.Time
}

// Metrics holds the collectors. Its methods are safe for concurrent use.
type Metrics struct {
	signIns    *prometheus.CounterVec
	durations  *prometheus.HistogramVec
	durSuccess prometheus.Observer
	durFailure prometheus.Observer
	fetches    *prometheus.CounterVec
	keys       prometheus.Gauge
	skipped    prometheus.Gauge
	keyChanges *prometheus.CounterVec
	added      prometheus.Counter
	removed    prometheus.Counter

	registerer prometheus.Registerer
	collectors []prometheus.Collector

	now         func() time.Time
	lastSuccess atomic.Int64  // Unix nanoseconds of the latest good fetch; 0: none yet
	clockOffset atomic.Uint64 // float64 bits, seconds; NaN: unknown
	outcomes    *outcomeSet
}

// New makes the collectors and registers them on o.Registerer. It returns
// an error, and registers nothing, when the options are invalid or a series
// of the same name is already registered (a second Metrics with the same
// namespace on the same registry).
func New(o Options) (*Metrics, error) {
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	if !legacyName(o.Namespace) {
		return nil, fmt.Errorf("intuneprom: namespace %q: use letters, digits and underscores, not starting with a digit", o.Namespace)
	}
	if o.Registerer == nil {
		o.Registerer = prometheus.DefaultRegisterer
	}
	if o.Buckets == nil {
		o.Buckets = DefaultBuckets
	}
	o.Buckets = slices.Clone(o.Buckets)
	if err := checkBuckets(o.Buckets); err != nil {
		return nil, err
	}
	switch {
	case o.MaxOutcomes == 0:
		o.MaxOutcomes = DefaultMaxOutcomes
	case o.MaxOutcomes < 0:
		o.MaxOutcomes = 0
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	outcomes, err := newOutcomeSet(o.Outcomes, o.MaxOutcomes)
	if err != nil {
		return nil, err
	}

	ns := o.Namespace
	m := &Metrics{now: o.Now, outcomes: outcomes}
	m.clockOffset.Store(math.Float64bits(math.NaN()))
	m.signIns = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Name: "signins_total",
		Help: `Intune MAM mobile sign-in attempts the server answered, by outcome ("success", or the app_error ID the app was answered with; IDs past the cap count as "other") and enforced provider (openid, office365, saml; "none" when Intune MAM was not configured). The server log has each failure's reason under the same ID.`,
	}, []string{"outcome", "provider"})
	m.durations = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: ns, Name: "signin_duration_seconds",
		Help:    "Time the server took to answer an Intune MAM mobile sign-in, in seconds, by result (success or failure). Slow successes point at the user or session store; slow failures at a key-set fetch from Entra for a token naming an unknown key.",
		Buckets: o.Buckets,
	}, []string{"result"})
	m.fetches = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Name: "keyset_fetches_total",
		Help: "Fetches of the Entra tenant's signing key set (discovery document and JWKS), by trigger (start, schedule, unknown_kid, manual) and result (success, failure). A failure keeps the last good keys; while no key was ever fetched, sign-ins answer ent.intune.validate_token.jwks_init.app_error.",
	}, []string{"trigger", "result"})
	m.keys = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: ns, Name: "keyset_keys",
		Help: "Usable Entra signing keys held after the last key-set fetch. 0 means no token can be verified: sign-ins answer ent.intune.validate_token.jwks_init.app_error.",
	})
	m.skipped = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: ns, Name: "keyset_skipped_keys",
		Help: "Keys of the last successfully fetched Entra key set that are not used (not for signing, too weak, or a certificate that does not match); the server log names each kid and why.",
	})
	age := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: ns, Name: "keyset_last_success_age_seconds",
		Help: "Seconds since the Entra key set was last fetched successfully, computed at scrape time; NaN until the first success. Refreshes run hourly by default: a value well past the refresh interval means this server cannot reach Entra (it keeps using the last good keys, but will miss a key rotation).",
	}, m.keySetAge)
	m.keyChanges = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Name: "keyset_rotated_keys_total",
		Help: "Entra signing keys that appeared in (change=\"added\") or left (change=\"removed\") the held key set on a refresh: key rotations seen. The first fetch counts none.",
	}, []string{"change"})
	offset := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: ns, Name: "entra_clock_offset_seconds",
		Help: "Entra's clock minus this server's, in seconds, from the Date header of the last key-set fetch (1 s resolution); positive when this server is behind. NaN until known. Fresh tokens fail once this server is 5 minutes behind Entra: synchronise the clock (NTP) when it passes a minute either way.",
	}, func() float64 { return math.Float64frombits(m.clockOffset.Load()) })

	// Series known up front start at 0, so that rate() and increase() see
	// their first event.
	m.durSuccess = m.durations.WithLabelValues(ResultSuccess)
	m.durFailure = m.durations.WithLabelValues(ResultFailure)
	for _, t := range triggers {
		m.fetches.WithLabelValues(t, ResultSuccess)
		m.fetches.WithLabelValues(t, ResultFailure)
	}
	m.added = m.keyChanges.WithLabelValues(ChangeAdded)
	m.removed = m.keyChanges.WithLabelValues(ChangeRemoved)

	m.registerer = o.Registerer
	m.collectors = []prometheus.Collector{m.signIns, m.durations, m.fetches, m.keys, m.skipped, age, m.keyChanges, offset}
	if err := registerAll(m.registerer, m.collectors...); err != nil {
		return nil, err
	}
	return m, nil
}

// Unregister removes the collectors from the Registerer New registered them
// on, so that a host that rebuilds its Metrics (a plugin restarted in the
// same process) can call New again. Events given to m afterwards are still
// counted, but no longer exported. Unregister is idempotent.
func (m *Metrics) Unregister() {
	if m == nil {
		return
	}
	for _, c := range m.collectors {
		m.registerer.Unregister(c)
	}
}

// registerAll registers every collector, or none: on a failure it takes back
// those it registered.
func registerAll(r prometheus.Registerer, cs ...prometheus.Collector) error {
	for i, c := range cs {
		if err := r.Register(c); err != nil {
			for _, done := range cs[:i] {
				r.Unregister(done)
			}
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return fmt.Errorf("intuneprom: a collector of the same name is already registered (a second intuneprom.New with the same Namespace on this registry?): %w", err)
			}
			return fmt.Errorf("intuneprom: registering: %w", err)
		}
	}
	return nil
}

// SignIn counts one sign-in attempt. Give it to intune.WithEvents.
func (m *Metrics) SignIn(e intune.SignInEvent) {
	if m == nil {
		return
	}
	m.signIns.WithLabelValues(m.outcomes.label(e.Outcome), providerLabel(e.Provider)).Inc()
	if e.Outcome == intune.OutcomeSuccess {
		m.durSuccess.Observe(e.Duration.Seconds())
	} else {
		m.durFailure.Observe(e.Duration.Seconds())
	}
}

// KeySet records one fetch of the tenant's key set. Give it to
// intune.WithKeySetEvents, for the host's Validator and, through
// intune.WithValidatorOptions, for those a LoginHandler builds. When several
// Validators report to one Metrics, the gauges show the latest fetch.
func (m *Metrics) KeySet(e intune.KeySetEvent) {
	if m == nil {
		return
	}
	result := ResultSuccess
	if e.Err != nil {
		result = ResultFailure
	}
	m.fetches.WithLabelValues(triggerLabel(e.Trigger), result).Inc()
	m.keys.Set(float64(e.Keys))
	if e.Err == nil {
		m.skipped.Set(float64(e.Skipped))
		m.noteSuccess(e.At)
	}
	m.added.Add(float64(len(e.Added)))
	m.removed.Add(float64(len(e.Removed)))
	if !e.ServerDate.IsZero() {
		m.clockOffset.Store(math.Float64bits(e.ClockOffset.Seconds()))
	}
}

// noteSuccess keeps the latest success time (Validators may report out of
// order).
func (m *Metrics) noteSuccess(at time.Time) {
	if at.IsZero() {
		at = m.now()
	}
	n := at.UnixNano()
	for {
		old := m.lastSuccess.Load()
		if old >= n || m.lastSuccess.CompareAndSwap(old, n) {
			return
		}
	}
}

func (m *Metrics) keySetAge() float64 {
	n := m.lastSuccess.Load()
	if n == 0 {
		return math.NaN()
	}
	return m.now().Sub(time.Unix(0, n)).Seconds()
}

// triggers are KeySetEvent.Trigger's documented values.
var triggers = [...]string{"start", "schedule", "unknown_kid", "manual"}

func triggerLabel(t string) string {
	for _, k := range triggers {
		if t == k {
			return k
		}
	}
	return Other
}

func providerLabel(p intune.AuthService) string {
	switch p {
	case intune.AuthServiceOpenID, intune.AuthServiceOffice365, intune.AuthServiceSAML:
		return string(p)
	case "":
		return "none"
	}
	return Other
}

// outcomeSet bounds the outcome label's values.
type outcomeSet struct {
	fixed map[string]bool // success, the catalog and the host's own: read-only
	max   int

	mu    sync.Mutex
	extra map[string]struct{} // admitted other IDs, at most max
}

func newOutcomeSet(host []string, maxExtra int) (*outcomeSet, error) {
	s := &outcomeSet{fixed: map[string]bool{intune.OutcomeSuccess: true}, max: maxExtra, extra: map[string]struct{}{}}
	for _, e := range intune.Rows() {
		s.fixed[e.ID] = true
	}
	for _, id := range host {
		if !isID(id) {
			return nil, fmt.Errorf("intuneprom: Outcomes: %q is not an error ID (1 to %d letters, digits, '.', '_' or '-')", id, maxIDLen)
		}
		s.fixed[id] = true
	}
	return s, nil
}

// label is id's label value: id itself when it is known, or admitted under
// the cap; Other otherwise.
func (s *outcomeSet) label(id string) string {
	if s.fixed[id] {
		return id
	}
	if !isID(id) {
		return Other
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.extra[id]; ok {
		return id
	}
	if len(s.extra) >= s.max {
		return Other
	}
	s.extra[id] = struct{}{}
	return id
}

// maxIDLen bounds an admitted ID; catalog IDs are under 60 bytes.
const maxIDLen = 128

// isID reports whether s looks like an app_error ID: ASCII letters, digits,
// '.', '_' and '-', at most maxIDLen bytes.
func isID(s string) bool {
	if s == "" || len(s) > maxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '.' || c == '_' || c == '-' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// legacyName reports whether s is a classic Prometheus metric name part.
func legacyName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9') {
			return false
		}
	}
	return s != ""
}

// checkBuckets refuses what prometheus.NewHistogramVec would panic on when
// the first sign-in is observed.
func checkBuckets(b []float64) error {
	if len(b) == 0 {
		return errors.New("intuneprom: Buckets is empty (leave it nil for DefaultBuckets)")
	}
	for i, v := range b {
		if math.IsNaN(v) {
			return fmt.Errorf("intuneprom: Buckets[%d] is NaN", i)
		}
		if i > 0 && v <= b[i-1] {
			return fmt.Errorf("intuneprom: Buckets must be strictly increasing: %g follows %g", v, b[i-1])
		}
	}
	return nil
}
