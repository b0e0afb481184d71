package intune_test

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mamlogin/mamlogin/intune"
	it "github.com/mamlogin/mamlogin/intune/intunetest"
)

// TestConcurrentSignInsWhileKeysRotate runs validations and sign-ins from many
// goroutines while the tenant rotates keys; under -race this is the data-race
// test of the validator, key cache and handler. Every token is signed by a key
// published and fetched before it is used, so every one must succeed.
func TestConcurrentSignInsWhileKeysRotate(t *testing.T) {
	r := newRig(t, intune.AuthServiceOpenID)
	h := r.handler()
	stop := make(chan struct{})
	var ok, bad atomic.Int64
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				tok := r.tenant.Token()
				var err error
				if (g+i)%2 == 0 {
					_, err = r.v.Validate(t.Context(), tok)
				} else if rec := post(h, appBody(tok)); rec.Code != http.StatusOK {
					err = assert.AnError
				}
				if err != nil {
					bad.Add(1)
				} else {
					ok.Add(1)
				}
			}
		})
	}
	for range 3 {
		k := it.NewKey()
		r.tenant.Publish(k)
		require.NoError(t, r.v.RefreshKeys(t.Context()))
		r.tenant.Use(k)
	}
	close(stop)
	wg.Wait()
	assert.Zero(t, bad.Load())
	assert.Positive(t, ok.Load())
	assert.Equal(t, 1, r.store.Len(), "one user, however many concurrent first sign-ins")
}

// TestUnknownKIDStorm: hundreds of goroutines with random kids cause at most
// one key fetch per interval, while legitimate tokens keep succeeding.
func TestUnknownKIDStorm(t *testing.T) {
	tenant := newTenant(t)
	v, clk := newClockedValidator(t, tenant)
	attacker := it.NewKey()
	storm := make([]string, 300)
	for i := range storm {
		storm[i] = tenant.Token(it.WithSignatureFrom(attacker), it.WithHeader("kid", randomKID()))
	}
	legit := tenant.Token()
	for round := range 3 {
		hits := tenant.KeysHits()
		var wg sync.WaitGroup
		var accepted, legitFail atomic.Int64
		for _, tok := range storm {
			wg.Go(func() {
				if _, err := v.Validate(t.Context(), tok); err == nil {
					accepted.Add(1)
				}
			})
			wg.Go(func() {
				if _, err := v.Validate(t.Context(), legit); err != nil {
					legitFail.Add(1)
				}
			})
		}
		wg.Wait()
		assert.Zero(t, accepted.Load())
		assert.Zero(t, legitFail.Load())
		assert.LessOrEqual(t, tenant.KeysHits()-hits, int64(1), "round %d: at most one fetch per interval", round)
		if round == 0 {
			assert.Equal(t, hits, tenant.KeysHits(), "within the interval of the prefetch: none")
		}
		clk.Advance(time.Minute)
	}
}

// TestMemoryBoundedUnderBadTokenFlood: distinct bad tokens leave nothing
// behind (no per-kid or per-token cache to fill).
func TestMemoryBoundedUnderBadTokenFlood(t *testing.T) {
	tenant := newTenant(t)
	v := newValidator(t, tenant.Config())
	good := tenant.Token()
	sig := good[len(good)-342:]
	flood := func(n int) {
		for range n {
			hdr := enc.EncodeToString([]byte(`{"alg":"RS256","kid":"` + randomKID() + `"}`))
			tok := hdr + "." + enc.EncodeToString([]byte(`{"tid":"`+randomKID()+`"}`)) + "." + sig
			_, err := v.Validate(t.Context(), tok)
			require.Error(t, err)
		}
	}
	flood(2_000) // warm up
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	flood(20_000)
	runtime.GC()
	runtime.ReadMemStats(&after)
	growth := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("heap growth after 20000 distinct bad tokens: %d bytes", growth)
	assert.Less(t, growth, int64(1<<20))
	assert.Equal(t, 1, v.KeySetStats().Keys)
	assert.LessOrEqual(t, v.KeySetStats().Fetches, uint64(2))
}

func randomKID() string {
	var b [14]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
