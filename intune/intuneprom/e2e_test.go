package intuneprom_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mamlogin/mamlogin/intune"
	"github.com/mamlogin/mamlogin/intune/intuneprom"
	"github.com/mamlogin/mamlogin/intune/intunetest"
)

// signInServer is a real LoginHandler over the fake tenant, reporting to m,
// and a /metrics endpoint over reg.
type signInServer struct {
	login, metrics *httptest.Server
}

func startSignInServer(t *testing.T, tenant *intunetest.Tenant, m *intuneprom.Metrics, reg *prometheus.Registry, opts ...intune.Option) *signInServer {
	t.Helper()
	quiet := slog.New(slog.DiscardHandler)
	cfg := tenant.Config()
	opts = append([]intune.Option{intune.WithKeySetEvents(m.KeySet), intune.WithKeySetLogger(quiet)}, opts...)
	v, err := intune.NewValidator(t.Context(), cfg, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = v.Close() })
	h := intune.NewLoginHandler(cfg, v, intunetest.NewStore(), &intunetest.Sessions{},
		intune.WithEvents(m.SignIn), intune.WithLogger(quiet),
		intune.WithValidatorOptions(intune.WithKeySetEvents(m.KeySet), intune.WithKeySetLogger(quiet)))
	t.Cleanup(func() { _ = h.Close() })
	s := &signInServer{login: httptest.NewServer(h), metrics: httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))}
	t.Cleanup(s.login.Close)
	t.Cleanup(s.metrics.Close)
	return s
}

// signIn posts a token as the app does and returns the status.
func (s *signInServer) signIn(t *testing.T, token string) int {
	t.Helper()
	resp, err := http.DefaultClient.Do(intunetest.NewAppLogin(token).Request(t.Context(), s.login.URL+"/oauth/intune"))
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode
}

func (s *signInServer) scrape(t require.TestingT) string {
	resp, err := http.Get(s.metrics.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

// value reads one sample of the text exposition; ok is false when the
// series is absent.
func value(text, series string) (float64, bool) {
	for line := range strings.SplitSeq(text, "\n") {
		if rest, found := strings.CutPrefix(line, series+" "); found {
			v, err := strconv.ParseFloat(rest, 64)
			return v, err == nil
		}
	}
	return 0, false
}

func TestEndToEnd(t *testing.T) {
	tenant := intunetest.NewTenant()
	defer tenant.Close()
	reg := prometheus.NewRegistry()
	m, err := intuneprom.New(intuneprom.Options{Registerer: reg})
	require.NoError(t, err)
	s := startSignInServer(t, tenant, m, reg)

	assert.Equal(t, http.StatusOK, s.signIn(t, tenant.Token()))
	assert.Equal(t, http.StatusBadRequest, s.signIn(t, tenant.Token(intunetest.WithExpiry(time.Now().Add(-time.Hour)))))
	assert.Equal(t, http.StatusBadRequest, s.signIn(t, tenant.Token(intunetest.WithClaim("aud", "00000003-0000-0000-c000-000000000000"))))
	assert.Equal(t, http.StatusBadRequest, s.signIn(t, "garbage"))

	// The events arrive on goroutines of their own: poll until they show.
	want := map[string]float64{
		`intune_signins_total{outcome="success",provider="openid"}`:                                           1,
		`intune_signins_total{outcome="ent.intune.validate_token.token_expired.app_error",provider="openid"}`: 1,
		`intune_signins_total{outcome="ent.intune.validate_token.invalid_token.app_error",provider="openid"}`: 2,
		`intune_signin_duration_seconds_count{result="success"}`:                                              1,
		`intune_signin_duration_seconds_count{result="failure"}`:                                              3,
		`intune_keyset_fetches_total{result="success",trigger="start"}`:                                       1,
		`intune_keyset_fetches_total{result="failure",trigger="start"}`:                                       0,
		`intune_keyset_keys`:                               1,
		`intune_keyset_skipped_keys`:                       0,
		`intune_keyset_rotated_keys_total{change="added"}`: 0,
	}
	var text string
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		text = s.scrape(c)
		for series, v := range want {
			got, ok := value(text, series)
			if assert.True(c, ok, "%s absent", series) {
				assert.Equal(c, v, got, series)
			}
		}
	}, 10*time.Second, 10*time.Millisecond)

	// Age and offset are live values: a fresh fetch, two clocks on one machine.
	age, ok := value(text, "intune_keyset_last_success_age_seconds")
	require.True(t, ok)
	assert.GreaterOrEqual(t, age, 0.0)
	assert.Less(t, age, 60.0)
	offset, ok := value(text, "intune_entra_clock_offset_seconds")
	require.True(t, ok)
	assert.LessOrEqual(t, offset, 1.0)
	assert.GreaterOrEqual(t, offset, -1.0)
	assert.Regexp(t, regexp.MustCompile(`(?m)^# HELP intune_signins_total Intune MAM mobile sign-in attempts`), text)
	assert.Regexp(t, regexp.MustCompile(`(?m)^# TYPE intune_signin_duration_seconds histogram$`), text)
	t.Logf("scraped:\n%s", sample(text))
}

// Rotation through the real key cache: a token naming a new key triggers an
// unknown_kid fetch that adds it.
func TestEndToEndRotation(t *testing.T) {
	tenant := intunetest.NewTenant()
	defer tenant.Close()
	reg := prometheus.NewRegistry()
	m, err := intuneprom.New(intuneprom.Options{Registerer: reg})
	require.NoError(t, err)
	// Refreshes for unknown kids at most once a millisecond (default once a
	// minute, which the start-up fetch would use up).
	s := startSignInServer(t, tenant, m, reg, intune.WithKeyRefresh(time.Hour, time.Millisecond))
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		got, _ := value(s.scrape(c), `intune_keyset_fetches_total{result="success",trigger="start"}`)
		assert.Equal(c, 1.0, got)
	}, 10*time.Second, 10*time.Millisecond)

	tenant.Rotate()
	assert.Equal(t, http.StatusOK, s.signIn(t, tenant.Token()))
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		text := s.scrape(c)
		for series, v := range map[string]float64{
			`intune_keyset_fetches_total{result="success",trigger="unknown_kid"}`: 1,
			`intune_keyset_rotated_keys_total{change="added"}`:                    1,
			`intune_keyset_keys`: 2,
			`intune_signins_total{outcome="success",provider="openid"}`: 1,
		} {
			got, _ := value(text, series)
			assert.Equal(c, v, got, series)
		}
	}, 10*time.Second, 10*time.Millisecond)
}

// sample is the scrape without the Go runtime's series: what the report shows.
func sample(text string) string {
	var b strings.Builder
	for line := range strings.SplitSeq(text, "\n") {
		if strings.Contains(line, "intune_") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}
