package intuneprom_test

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mamlogin/mamlogin/intune"
	"github.com/mamlogin/mamlogin/intune/intuneprom"
)

// t0 is the fixed clock of these tests.
var t0 = time.Date(2024, 6, 17, 8, 0, 0, 0, time.UTC)

func newMetrics(t *testing.T, o intuneprom.Options) (*intuneprom.Metrics, *prometheus.Registry, *time.Time) {
	t.Helper()
	reg := prometheus.NewRegistry()
	now := t0
	o.Registerer = reg
	if o.Now == nil {
		o.Now = func() time.Time { return now }
	}
	m, err := intuneprom.New(o)
	require.NoError(t, err)
	return m, reg, &now
}

// series flattens what reg exports into "name{label="value",...}" -> value,
// histograms as their _bucket, _sum and _count series, for the families
// whose names start with prefix. It also checks every family has Help text.
func series(t *testing.T, reg prometheus.Gatherer, prefix string) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	out := map[string]float64{}
	for _, mf := range mfs {
		name := mf.GetName()
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		assert.NotEmpty(t, mf.GetHelp(), name)
		for _, m := range mf.GetMetric() {
			labels := labelText(m.GetLabel(), "")
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				out[name+labels] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[name+labels] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				h := m.GetHistogram()
				out[name+"_count"+labels] = float64(h.GetSampleCount())
				out[name+"_sum"+labels] = h.GetSampleSum()
				for _, b := range h.GetBucket() {
					out[name+"_bucket"+labelText(m.GetLabel(), fmt.Sprint(b.GetUpperBound()))] = float64(b.GetCumulativeCount())
				}
			default:
				t.Fatalf("%s: unexpected type %v", name, mf.GetType())
			}
		}
	}
	return out
}

func labelText(ls []*dto.LabelPair, le string) string {
	var parts []string
	for _, l := range ls {
		parts = append(parts, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
	}
	if le != "" {
		parts = append(parts, fmt.Sprintf("le=%q", le))
	}
	sort.Strings(parts)
	if len(parts) == 0 {
		return ""
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// only keeps the series of s whose names start with prefix.
func only(s map[string]float64, prefix string) map[string]float64 {
	out := map[string]float64{}
	for k, v := range s {
		if strings.HasPrefix(k, prefix) {
			out[k] = v
		}
	}
	return out
}

func TestSignInSeries(t *testing.T) {
	m, reg, _ := newMetrics(t, intuneprom.Options{})
	m.SignIn(intune.SignInEvent{Outcome: intune.OutcomeSuccess, Status: 200, Provider: intune.AuthServiceOpenID, Duration: 3 * time.Millisecond})
	for _, e := range intune.Rows() {
		m.SignIn(intune.SignInEvent{Outcome: e.ID, Status: e.StatusCode, Provider: intune.AuthServiceOpenID, Duration: 20 * time.Millisecond})
	}
	// A sign-in refused before any configuration was in force.
	m.SignIn(intune.SignInEvent{Outcome: intune.ErrNotConfigured.ID, Status: 400, Duration: 2 * time.Second})

	want := map[string]float64{
		`intune_signins_total{outcome="success",provider="openid"}`:                                          1,
		`intune_signins_total{outcome="api.user.login_by_intune.not_available.app_error",provider="openid"}`: 1,
		`intune_signins_total{outcome="api.user.login_by_intune.not_configured.app_error",provider="none"}`:  1,
	}
	for _, e := range intune.Rows() {
		want[fmt.Sprintf(`intune_signins_total{outcome=%q,provider="openid"}`, e.ID)] = 1
	}
	assert.Len(t, want, 19, "success, 13 catalog rows, 4 host rows, one without a provider")
	got := series(t, reg, "intune_")
	assert.Equal(t, want, only(got, "intune_signins_total"))

	n := float64(len(intune.Rows()))
	assert.Equal(t, map[string]float64{
		`intune_signin_duration_seconds_count{result="success"}`: 1,
		`intune_signin_duration_seconds_count{result="failure"}`: n + 1,
	}, only(got, "intune_signin_duration_seconds_count"))
	assert.InDelta(t, 0.003, got[`intune_signin_duration_seconds_sum{result="success"}`], 1e-9)
	assert.InDelta(t, n*0.02+2, got[`intune_signin_duration_seconds_sum{result="failure"}`], 1e-9)
	for le, want := range map[string]float64{"0.001": 0, "0.0025": 0, "0.005": 1, "10": 1} {
		assert.Equal(t, want, got[fmt.Sprintf(`intune_signin_duration_seconds_bucket{le=%q,result="success"}`, le)], le)
	}
	for le, want := range map[string]float64{"0.01": 0, "0.025": n, "1": n, "2.5": n + 1, "10": n + 1} {
		assert.Equal(t, want, got[fmt.Sprintf(`intune_signin_duration_seconds_bucket{le=%q,result="failure"}`, le)], le)
	}
	assert.Len(t, only(got, "intune_signin_duration_seconds_bucket"), 2*len(intuneprom.DefaultBuckets))
}

func TestKeySetSeries(t *testing.T) {
	m, reg, now := newMetrics(t, intuneprom.Options{})

	// Before any fetch: every fetch series at 0, age and offset unknown.
	got := series(t, reg, "intune_keyset_")
	for _, tr := range []string{"start", "schedule", "unknown_kid", "manual"} {
		for _, r := range []string{"success", "failure"} {
			v, ok := got[fmt.Sprintf(`intune_keyset_fetches_total{result=%q,trigger=%q}`, r, tr)]
			assert.True(t, ok && v == 0, "%s %s pre-initialised", tr, r)
		}
	}
	assert.True(t, math.IsNaN(got["intune_keyset_last_success_age_seconds"]))
	assert.True(t, math.IsNaN(series(t, reg, "intune_entra_")["intune_entra_clock_offset_seconds"]))

	// Start: two usable keys, one skipped; Entra 3 s ahead.
	m.KeySet(intune.KeySetEvent{Trigger: "start", Keys: 2, Skipped: 1, At: t0, ServerDate: t0.Add(3 * time.Second), ClockOffset: 3 * time.Second})
	// An hour later the scheduled refresh fails; the keys are kept.
	m.KeySet(intune.KeySetEvent{Trigger: "schedule", Err: errors.New("dial tcp: i/o timeout"), Keys: 2, At: t0.Add(time.Hour)})
	// A token names a new key: Entra rotated; this server is now 2 s ahead.
	m.KeySet(intune.KeySetEvent{Trigger: "unknown_kid", Keys: 2, At: t0.Add(90 * time.Minute),
		Added: []string{"k3"}, Removed: []string{"k1"}, ServerDate: t0.Add(90*time.Minute - 2*time.Second), ClockOffset: -2 * time.Second})
	// A manual refresh that fails before any key was ever held elsewhere.
	m.KeySet(intune.KeySetEvent{Trigger: "manual", Err: errors.New("status 404"), Keys: 2, At: t0.Add(100 * time.Minute)})
	*now = t0.Add(2 * time.Hour)

	want := map[string]float64{
		`intune_keyset_fetches_total{result="success",trigger="start"}`:       1,
		`intune_keyset_fetches_total{result="failure",trigger="start"}`:       0,
		`intune_keyset_fetches_total{result="success",trigger="schedule"}`:    0,
		`intune_keyset_fetches_total{result="failure",trigger="schedule"}`:    1,
		`intune_keyset_fetches_total{result="success",trigger="unknown_kid"}`: 1,
		`intune_keyset_fetches_total{result="failure",trigger="unknown_kid"}`: 0,
		`intune_keyset_fetches_total{result="success",trigger="manual"}`:      0,
		`intune_keyset_fetches_total{result="failure",trigger="manual"}`:      1,
		`intune_keyset_keys`:                                 2,
		`intune_keyset_skipped_keys`:                         0,
		`intune_keyset_last_success_age_seconds`:             30 * 60,
		`intune_keyset_rotated_keys_total{change="added"}`:   1,
		`intune_keyset_rotated_keys_total{change="removed"}`: 1,
	}
	assert.Equal(t, want, series(t, reg, "intune_keyset_"))
	assert.Equal(t, map[string]float64{"intune_entra_clock_offset_seconds": -2}, series(t, reg, "intune_entra_"))

	// A failed fetch with no keys held: the gauge says so, the age goes on.
	m.KeySet(intune.KeySetEvent{Trigger: "schedule", Err: errors.New("no keys"), Keys: 0, At: t0.Add(2 * time.Hour)})
	got = series(t, reg, "intune_keyset_")
	assert.Equal(t, 0.0, got["intune_keyset_keys"])
	assert.Equal(t, 30*60.0, got["intune_keyset_last_success_age_seconds"])

	// The exposition format of one family, as a scrape shows it.
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP intune_keyset_rotated_keys_total Entra signing keys that appeared in (change="added") or left (change="removed") the held key set on a refresh: key rotations seen. The first fetch counts none.
# TYPE intune_keyset_rotated_keys_total counter
intune_keyset_rotated_keys_total{change="added"} 1
intune_keyset_rotated_keys_total{change="removed"} 1
`), "intune_keyset_rotated_keys_total"))
}

// A success reported late (another Validator) never moves the age back.
func TestKeySetAgeKeepsLatestSuccess(t *testing.T) {
	m, reg, now := newMetrics(t, intuneprom.Options{})
	m.KeySet(intune.KeySetEvent{Trigger: "start", Keys: 1, At: t0.Add(time.Hour)})
	m.KeySet(intune.KeySetEvent{Trigger: "start", Keys: 1, At: t0})
	*now = t0.Add(time.Hour + time.Minute)
	assert.Equal(t, 60.0, series(t, reg, "intune_keyset_last_success_age_seconds")["intune_keyset_last_success_age_seconds"])
}

func TestOutcomeLabelsAreBounded(t *testing.T) {
	const hostRow = "ent.intune.login.account_creation_blocked.app_error"
	m, reg, _ := newMetrics(t, intuneprom.Options{Outcomes: []string{hostRow}, MaxOutcomes: 2})
	for _, outcome := range []string{
		hostRow, hostRow,
		"host.row.one", "host.row.two", // admitted: the cap is 2
		"host.row.three",          // past the cap
		"host.row.one",            // already admitted
		"",                        // not an ID
		"has space",               // not an ID
		"\xff\xfe",                // not UTF-8: would fail the exposition
		strings.Repeat("a", 129),  // too long
		intune.ErrInvalidToken.ID, // the catalog never counts against the cap
		"other",
	} {
		m.SignIn(intune.SignInEvent{Outcome: outcome, Provider: intune.AuthServiceSAML})
	}
	// Providers and triggers outside the documented values.
	m.SignIn(intune.SignInEvent{Outcome: intune.OutcomeSuccess, Provider: intune.AuthServiceOffice365})
	m.SignIn(intune.SignInEvent{Outcome: intune.OutcomeSuccess, Provider: "ldap"})
	m.KeySet(intune.KeySetEvent{Trigger: "cosmic_ray", Keys: 1})

	got := series(t, reg, "intune_")
	assert.Equal(t, map[string]float64{
		`intune_signins_total{outcome="ent.intune.login.account_creation_blocked.app_error",provider="saml"}`: 2,
		`intune_signins_total{outcome="host.row.one",provider="saml"}`:                                        2,
		`intune_signins_total{outcome="host.row.two",provider="saml"}`:                                        1,
		`intune_signins_total{outcome="other",provider="saml"}`:                                               6,
		`intune_signins_total{outcome="ent.intune.validate_token.invalid_token.app_error",provider="saml"}`:   1,
		`intune_signins_total{outcome="success",provider="office365"}`:                                        1,
		`intune_signins_total{outcome="success",provider="other"}`:                                            1,
	}, only(got, "intune_signins_total"))
	assert.Equal(t, 1.0, got[`intune_keyset_fetches_total{result="success",trigger="other"}`])
}

func TestMaxOutcomesNegativeAdmitsNone(t *testing.T) {
	m, reg, _ := newMetrics(t, intuneprom.Options{MaxOutcomes: -1})
	m.SignIn(intune.SignInEvent{Outcome: "host.row", Provider: intune.AuthServiceOpenID})
	m.SignIn(intune.SignInEvent{Outcome: intune.ErrStoreFailed.ID, Provider: intune.AuthServiceOpenID})
	assert.Equal(t, map[string]float64{
		`intune_signins_total{outcome="other",provider="openid"}`:                                   1,
		`intune_signins_total{outcome="ent.intune.login.store_failed.app_error",provider="openid"}`: 1,
	}, series(t, reg, "intune_signins_total"))
}

func TestNamespaceAndBuckets(t *testing.T) {
	m, reg, _ := newMetrics(t, intuneprom.Options{Namespace: "chat_mam", Buckets: []float64{0.01, 0.1}})
	m.SignIn(intune.SignInEvent{Outcome: intune.OutcomeSuccess, Provider: intune.AuthServiceOpenID, Duration: 50 * time.Millisecond})
	got := series(t, reg, "")
	assert.Equal(t, 1.0, got[`chat_mam_signins_total{outcome="success",provider="openid"}`])
	assert.Equal(t, 0.0, got[`chat_mam_signin_duration_seconds_bucket{le="0.01",result="success"}`])
	assert.Equal(t, 1.0, got[`chat_mam_signin_duration_seconds_bucket{le="0.1",result="success"}`])
	for name := range got {
		assert.True(t, strings.HasPrefix(name, "chat_mam_"), name)
	}
}

func TestNewRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    intuneprom.Options
		want string
	}{
		{"namespace with a dash", intuneprom.Options{Namespace: "chat-mam"}, "namespace"},
		{"namespace starting with a digit", intuneprom.Options{Namespace: "1intune"}, "namespace"},
		{"empty buckets", intuneprom.Options{Buckets: []float64{}}, "empty"},
		{"unsorted buckets", intuneprom.Options{Buckets: []float64{1, 0.5}}, "increasing"},
		{"NaN bucket", intuneprom.Options{Buckets: []float64{math.NaN()}}, "NaN"},
		{"host outcome not an ID", intuneprom.Options{Outcomes: []string{"no spaces please"}}, "not an error ID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			tc.o.Registerer = reg
			m, err := intuneprom.New(tc.o)
			require.Error(t, err)
			assert.Nil(t, m)
			assert.Contains(t, err.Error(), tc.want)
			mfs, _ := reg.Gather()
			assert.Empty(t, mfs, "nothing registered")
		})
	}
}

func TestNewConflictRegistersNothing(t *testing.T) {
	reg := prometheus.NewRegistry()
	_, err := intuneprom.New(intuneprom.Options{Registerer: reg})
	require.NoError(t, err)
	_, err = intuneprom.New(intuneprom.Options{Registerer: reg})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "already registered")

	// A conflict on a later collector takes back the earlier ones.
	reg = prometheus.NewRegistry()
	squatter := prometheus.NewGauge(prometheus.GaugeOpts{Name: "intune_entra_clock_offset_seconds", Help: "someone else's"})
	reg.MustRegister(squatter)
	_, err = intuneprom.New(intuneprom.Options{Registerer: reg})
	require.Error(t, err)
	mfs, err := reg.Gather()
	require.NoError(t, err)
	require.Len(t, mfs, 1)
	assert.Equal(t, "intune_entra_clock_offset_seconds", mfs[0].GetName())
	// And another namespace on the same registry is fine.
	_, err = intuneprom.New(intuneprom.Options{Registerer: reg, Namespace: "intune2"})
	assert.NoError(t, err)
}

func TestDefaultRegisterer(t *testing.T) {
	m, err := intuneprom.New(intuneprom.Options{Namespace: "intuneprom_default_test"})
	require.NoError(t, err)
	defer m.Unregister()
	m.SignIn(intune.SignInEvent{Outcome: intune.OutcomeSuccess, Provider: intune.AuthServiceOpenID})
	got := series(t, prometheus.DefaultGatherer, "intuneprom_default_test_signins_total")
	assert.Equal(t, 1.0, got[`intuneprom_default_test_signins_total{outcome="success",provider="openid"}`])
}

// A host that rebuilds its Metrics (a plugin restarted in one process)
// unregisters the old one first.
func TestUnregisterThenNewAgain(t *testing.T) {
	m, reg, _ := newMetrics(t, intuneprom.Options{})
	m.SignIn(intune.SignInEvent{Outcome: intune.OutcomeSuccess, Provider: intune.AuthServiceOpenID})
	_, err := intuneprom.New(intuneprom.Options{Registerer: reg})
	require.Error(t, err)

	m.Unregister()
	m.Unregister() // idempotent
	assert.Empty(t, series(t, reg, "intune_"))
	m2, err := intuneprom.New(intuneprom.Options{Registerer: reg})
	require.NoError(t, err)
	m2.SignIn(intune.SignInEvent{Outcome: intune.ErrTokenExpired.ID, Provider: intune.AuthServiceOpenID})
	assert.Equal(t, map[string]float64{
		`intune_signins_total{outcome="ent.intune.validate_token.token_expired.app_error",provider="openid"}`: 1,
	}, series(t, reg, "intune_signins_total"))
}

func TestNilMetricsIsInert(t *testing.T) {
	var m *intuneprom.Metrics
	assert.NotPanics(t, func() {
		m.SignIn(intune.SignInEvent{Outcome: "x"})
		m.KeySet(intune.KeySetEvent{Trigger: "start"})
		m.Unregister()
	})
}

// Events from many goroutines while scrapes run: counts add up, the race
// detector stays quiet, and the outcome label stays within its cap.
func TestConcurrentEventsAndScrapes(t *testing.T) {
	m, reg, _ := newMetrics(t, intuneprom.Options{MaxOutcomes: 4})
	const workers, each = 8, 500
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				m.SignIn(intune.SignInEvent{Outcome: fmt.Sprintf("host.row.%d", (w*each+i)%50), Provider: intune.AuthServiceOpenID, Duration: time.Millisecond})
				if i%100 == 0 {
					m.KeySet(intune.KeySetEvent{Trigger: "schedule", Keys: 2, At: t0.Add(time.Duration(i) * time.Second)})
				}
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			_, _ = reg.Gather()
		}
	})
	wg.Wait()
	got := series(t, reg, "intune_signins_total")
	assert.Len(t, got, 5, "4 admitted IDs and other")
	total := 0.0
	for _, v := range got {
		total += v
	}
	assert.Equal(t, float64(workers*each), total)
}
