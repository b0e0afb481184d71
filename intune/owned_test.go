package intune_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mamlogin/mamlogin/intune"
	it "github.com/mamlogin/mamlogin/intune/intunetest"
)

// anotherMobileClient is an allowed azp that no token of the tests carries.
const anotherMobileClient = "0b7e9d4c-3a2f-4e1d-9c8b-7a6f5e4d3c2b"

// ownedRig is a rig whose configuration has every reference-typed field
// set: an allow-list and an HTTP client.
func ownedRig(t *testing.T) *rig {
	r := newRig(t, intune.AuthServiceOpenID)
	r.cfg.AllowedClientIDs = []string{it.MobileClientID, anotherMobileClient}
	r.cfg.HTTPClient = &http.Client{Timeout: 7 * time.Second}
	r.v = newValidator(t, r.cfg)
	return r
}

// amend changes every reference-typed field of c in place, as a careless
// caller would: the list's elements and the client's fields.
func amend(c intune.Config) {
	for i := range c.AllowedClientIDs {
		c.AllowedClientIDs[i] = "ffffffff-ffff-4fff-8fff-ffffffffffff"
	}
	c.HTTPClient.Timeout = time.Nanosecond
	c.HTTPClient.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
}

// TestConfigIsOwned: a Config that crosses the API is copied on the way in
// and on the way out, so the only way to change a running configuration is
// SetConfig, and what SetConfig is given is what is enforced.
func TestConfigIsOwned(t *testing.T) {
	r := ownedRig(t)
	given := r.cfg
	h := r.handler()
	defer h.Close()
	want := []string{it.MobileClientID, anotherMobileClient}

	// What the caller gave, amended after the call, changes nothing.
	amend(given)
	assert.Equal(t, want, h.Config().AllowedClientIDs)
	assert.Equal(t, 7*time.Second, h.Config().HTTPClient.Timeout)
	assert.Nil(t, h.Config().HTTPClient.CheckRedirect)
	assert.Equal(t, want, r.v.Config().AllowedClientIDs, "NewValidator keeps a copy too")
	require.Equal(t, http.StatusOK, post(h, appBody(r.tenant.Token())).Code)

	// What the handler and its Validator return, amended, changes nothing.
	for _, got := range []intune.Config{h.Config(), h.Validator().Config()} {
		amend(got)
		assert.Equal(t, want, h.Config().AllowedClientIDs)
		assert.Equal(t, 7*time.Second, h.Config().HTTPClient.Timeout)
		assert.Equal(t, want, h.Validator().Config().AllowedClientIDs)
		assert.Equal(t, 7*time.Second, h.Validator().Config().HTTPClient.Timeout)
		require.Equal(t, http.StatusOK, post(h, appBody(r.tenant.Token())).Code, "the mobile client is still allowed")
	}
	cc := h.ClientConfig()
	cc["IntuneMAMEnabled"] = "false"
	assert.Equal(t, "true", h.ClientConfig()["IntuneMAMEnabled"])

	// The same configuration again (a copy, its client another pointer)
	// keeps the Validator: copies compare by what they hold.
	before := h.Validator()
	require.NoError(t, h.SetConfig(t.Context(), h.Config()))
	assert.Same(t, before, h.Validator())

	// The amended copy, given to SetConfig, is what is enforced: the mobile
	// client it removes is refused.
	removed := h.Config()
	removed.AllowedClientIDs[0] = anotherMobileClient
	removed.AllowedClientIDs = removed.AllowedClientIDs[:1]
	require.NoError(t, h.SetConfig(t.Context(), removed))
	assert.NotSame(t, before, h.Validator(), "another allow-list: another Validator")
	assert.Equal(t, []string{anotherMobileClient}, h.Config().AllowedClientIDs)
	rec := post(h, appBody(r.tenant.Token()))
	require.Equal(t, http.StatusBadRequest, rec.Code)
	assert.Equal(t, intune.ErrInvalidToken.ID, decodeErr(t, rec).ID)
	assert.Contains(t, r.logs.String(), `"new_validator":true`)

	// And the list SetConfig was given, changed afterwards, changes nothing.
	removed.AllowedClientIDs[0] = it.MobileClientID
	assert.Equal(t, intune.ErrInvalidToken.ID, decodeErr(t, post(h, appBody(r.tenant.Token()))).ID)
}

// TestDiagnoseOwnsItsConfig: the doctor reads a copy; a caller changing
// theirs meanwhile (-race) changes neither the report nor the caller's.
func TestDiagnoseOwnsItsConfig(t *testing.T) {
	r := ownedRig(t)
	cfg := r.cfg
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
				c := r.v.Config()
				amend(c)
			}
		}
	})
	rep := intune.Diagnose(t.Context(), cfg, r.tenant.Token(), intune.WithKeySetLogger(quiet))
	close(done)
	wg.Wait()
	assert.True(t, rep.OK, "%+v", rep.Checks)
	assert.Equal(t, []string{it.MobileClientID, anotherMobileClient}, cfg.AllowedClientIDs)
}

// TestConcurrentConfigAndSetConfig: readers amend what Config returns while
// an admin flips the allow-list (-race); every sign-in answers as one of the
// two configurations, and the last one applied is the one in force.
func TestConcurrentConfigAndSetConfig(t *testing.T) {
	r := ownedRig(t)
	h := r.handler()
	defer h.Close()
	allow := r.cfg
	deny := r.cfg
	deny.AllowedClientIDs = []string{anotherMobileClient}

	done := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				c := h.Config()
				amend(c)
				if v := h.Validator(); v != nil {
					amend(v.Config())
				}
				h.ClientConfig()["IntuneScope"] = ""
				code := post(h, appBody(r.tenant.Token())).Code
				assert.Contains(t, []int{http.StatusOK, http.StatusBadRequest}, code)
			}
		})
	}
	for i := range 10 {
		next := allow
		if i%2 == 0 {
			next = deny
		}
		require.NoError(t, h.SetConfig(context.Background(), next))
	}
	close(done)
	wg.Wait()
	assert.Equal(t, allow.AllowedClientIDs, h.Config().AllowedClientIDs)
	assert.Equal(t, http.StatusOK, post(h, appBody(r.tenant.Token())).Code)
	assert.Equal(t, "true", h.ClientConfig()["IntuneMAMEnabled"])
}

// TestPanickingReceiverIsLoggedAtTheFailureRate: a receiver that panics on
// every event is logged within the failure-log limit, then counted.
func TestPanickingReceiverIsLoggedAtTheFailureRate(t *testing.T) {
	defer intune.SetDropSummaryEvery(20 * time.Millisecond)()
	r := newRig(t, intune.AuthServiceOpenID)
	h := r.handler(intune.WithFailureLogLimit(1, 3), intune.WithEvents(func(intune.SignInEvent) { panic("audit writer bug") }))
	defer h.Close()
	const n = 200
	for range n {
		post(h, `{"access_token":"garbage"}`)
	}
	count := func() (logged int, dropped float64) {
		for _, m := range r.logLines(t) {
			switch m["msg"] {
			case "intune: the sign-in event receiver panicked; the event was dropped":
				logged++
			case "intune: sign-in event receiver panics not logged: more than the log limit":
				dropped += m["dropped"].(float64)
			}
		}
		return logged, dropped
	}
	waitFor(t, "every panic logged or counted", func() bool {
		logged, dropped := count()
		return logged+int(dropped) == n
	})
	logged, _ := count()
	assert.LessOrEqual(t, logged, 5, "the burst, and maybe a token or two more")
	r.logMu.Lock() // the drop summary may still be writing
	logs := r.logs.String()
	r.logMu.Unlock()
	assert.True(t, strings.Contains(logs, "audit writer bug"))
}
