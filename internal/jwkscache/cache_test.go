package jwkscache

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mamlogin/mamlogin/internal/clock"
)

var (
	keyOnce sync.Once
	keyPool []*rsa.PrivateKey
)

// testKey returns the i-th of a few keys generated once per test binary.
func testKey(i int) *rsa.PrivateKey {
	keyOnce.Do(func() {
		for range 3 {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			keyPool = append(keyPool, k)
		}
	})
	return keyPool[i]
}

func jwk(kid string, pub *rsa.PublicKey, extra map[string]any) map[string]any {
	m := map[string]any{"kty": "RSA", "use": "sig", "kid": kid,
		"n": base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes())}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

func setJSON(keys ...map[string]any) []byte {
	b, _ := json.Marshal(map[string]any{"keys": keys})
	return b
}

// server is a counting key-set server whose answer the test sets.
type server struct {
	*httptest.Server
	hits   atomic.Int64
	mu     sync.Mutex
	body   []byte
	status int
	gate   chan struct{} // when set, each request waits for a receive... of a close
	served chan struct{} // gets a value after each request is answered
}

func newServer(t *testing.T, body []byte) *server {
	s := &server{body: body, status: 200, served: make(chan struct{}, 100)}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		body, status, gate := s.body, s.status, s.gate
		s.mu.Unlock()
		if gate != nil {
			select {
			case <-gate:
			case <-r.Context().Done():
			}
		}
		w.WriteHeader(status)
		_, _ = w.Write(body)
		s.served <- struct{}{}
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) set(status int, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.body = status, body
}

func newCache(t *testing.T, o Options) *Cache {
	t.Helper()
	log := &fetchLog{}
	if o.OnFetch == nil {
		o.OnFetch = log.add
	}
	c, err := New(context.Background(), o)
	require.NoError(t, err)
	fetchLogs.Store(c, log)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// fetchLog is what a cache of newCache reported through OnFetch (unless the
// test set its own): the counting is the owner's, so tests count too.
type fetchLog struct {
	mu   sync.Mutex
	list []Fetch
}

var fetchLogs sync.Map // *Cache -> *fetchLog

func (l *fetchLog) add(f Fetch) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.list = append(l.list, f)
}

// fetchesOf returns the fetches c reported, in order.
func fetchesOf(c *Cache) []Fetch {
	v, _ := fetchLogs.Load(c)
	l := v.(*fetchLog)
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.list)
}

// failuresOf counts the fetches of c that failed.
func failuresOf(c *Cache) int {
	n := 0
	for _, f := range fetchesOf(c) {
		if f.Err != nil {
			n++
		}
	}
	return n
}

// lookup resolves kid as keyfunc does, through the Storage interface.
func lookup(ctx context.Context, s jwkset.Storage, kid string) (*rsa.PublicKey, error) {
	j, err := s.KeyRead(ctx, kid)
	if err != nil {
		return nil, err
	}
	return j.Key().(*rsa.PublicKey), nil
}

func TestPrefetchAtStart(t *testing.T) {
	srv := newServer(t, setJSON(jwk("a", &testKey(0).PublicKey, nil)))
	c := newCache(t, Options{JWKSURL: srv.URL})
	assert.EqualValues(t, 1, srv.hits.Load())
	k, err := lookup(t.Context(), c, "a")
	require.NoError(t, err)
	assert.True(t, k.Equal(&testKey(0).PublicKey))
	assert.EqualValues(t, 1, srv.hits.Load(), "a cached key costs no fetch")
	f := fetchesOf(c)
	require.Len(t, f, 1)
	assert.NoError(t, f[0].Err)
	assert.Equal(t, 1, c.Set().Len())
}

func TestDownAtStartThenRecovers(t *testing.T) {
	srv := newServer(t, nil)
	srv.set(http.StatusServiceUnavailable, []byte("down"))
	clk := clock.NewFake(time.Unix(1_800_000_000, 0))
	c := newCache(t, Options{JWKSURL: srv.URL, Clock: clk})
	_, err := lookup(t.Context(), c, "a")
	require.ErrorIs(t, err, jwkset.ErrKeyNotFound)
	f := fetchesOf(c)
	require.Len(t, f, 1)
	assert.ErrorContains(t, f[0].Err, "status 503")

	srv.set(200, setJSON(jwk("a", &testKey(0).PublicKey, nil)))
	// The loop retries after a second of backoff, without waiting for a request.
	require.True(t, clk.WaitForWaiters(1, t.Context().Done()))
	<-srv.served // the failed first fetch
	clk.Advance(time.Second)
	<-srv.served
	require.NoError(t, c.Refresh(t.Context())) // join or follow it: either way keys are there
	_, err = lookup(t.Context(), c, "a")
	require.NoError(t, err)
}

func TestScheduledRefresh(t *testing.T) {
	srv := newServer(t, setJSON(jwk("a", &testKey(0).PublicKey, nil)))
	clk := clock.NewFake(time.Unix(1_800_000_000, 0))
	c := newCache(t, Options{JWKSURL: srv.URL, Clock: clk, RefreshEvery: time.Hour})
	<-srv.served
	srv.set(200, setJSON(jwk("b", &testKey(1).PublicKey, nil)))
	require.True(t, clk.WaitForWaiters(1, t.Context().Done()))
	clk.Advance(59 * time.Minute)
	assert.EqualValues(t, 1, srv.hits.Load(), "not before the hour")
	clk.Advance(time.Minute)
	<-srv.served
	require.True(t, clk.WaitForWaiters(1, t.Context().Done()), "the loop re-arms after the fetch")
	assert.NotNil(t, c.Set().Key("b"))
	assert.Nil(t, c.Set().Key("a"), "a key Entra removed is gone after the refresh")
}

// TestUnknownKIDRateLimited: random kids cost one fetch per MinInterval, the
// misses in between answer at once, and a genuinely new key is accepted at
// the first miss after the interval.
func TestUnknownKIDRateLimited(t *testing.T) {
	srv := newServer(t, setJSON(jwk("a", &testKey(0).PublicKey, nil)))
	clk := clock.NewFake(time.Unix(1_800_000_000, 0))
	c := newCache(t, Options{JWKSURL: srv.URL, Clock: clk, MinInterval: time.Minute})

	for i := range 1000 {
		_, err := lookup(t.Context(), c, "random-"+string(rune('a'+i%26)))
		require.ErrorIs(t, err, jwkset.ErrKeyNotFound)
		miss, ok := errors.AsType[*MissError](err)
		require.True(t, ok)
		require.Equal(t, RefreshLimited, miss.Refresh, "answered at once, without a fetch")
	}
	assert.EqualValues(t, 1, srv.hits.Load(), "within a minute of the prefetch no miss fetches")

	// Entra rotates: the new key is published.
	srv.set(200, setJSON(jwk("a", &testKey(0).PublicKey, nil), jwk("new", &testKey(1).PublicKey, nil)))
	clk.Advance(time.Minute)
	k, err := lookup(t.Context(), c, "new")
	require.NoError(t, err, "the first miss after the interval fetches")
	assert.True(t, k.Equal(&testKey(1).PublicKey))
	assert.EqualValues(t, 2, srv.hits.Load())

	_, err = lookup(t.Context(), c, "still-unknown")
	require.ErrorIs(t, err, jwkset.ErrKeyNotFound)
	assert.Contains(t, err.Error(), "at most one per 1m0s")
	var miss *MissError
	require.ErrorAs(t, err, &miss)
	assert.Equal(t, "still-unknown", miss.KID)
	assert.EqualValues(t, 2, srv.hits.Load())
}

// TestUnknownKIDStormSharesOneFetch: misses arriving while a fetch runs wait
// for that fetch instead of starting their own.
func TestUnknownKIDStormSharesOneFetch(t *testing.T) {
	srv := newServer(t, setJSON(jwk("a", &testKey(0).PublicKey, nil)))
	clk := clock.NewFake(time.Unix(1_800_000_000, 0))
	c := newCache(t, Options{JWKSURL: srv.URL, Clock: clk, MinInterval: time.Minute})
	<-srv.served
	gate := make(chan struct{})
	srv.mu.Lock()
	srv.gate = gate
	srv.mu.Unlock()
	srv.set(200, setJSON(jwk("a", &testKey(0).PublicKey, nil), jwk("new", &testKey(1).PublicKey, nil)))
	clk.Advance(time.Minute)

	var wg sync.WaitGroup
	var found atomic.Int64
	for i := range 200 {
		wg.Go(func() {
			kid := "random"
			if i%2 == 0 {
				kid = "new"
			}
			if _, err := lookup(context.Background(), c, kid); err == nil {
				found.Add(1)
			}
		})
	}
	// Known keys never wait, even while the fetch hangs.
	_, err := lookup(t.Context(), c, "a")
	require.NoError(t, err)
	close(gate)
	wg.Wait()
	assert.EqualValues(t, 2, srv.hits.Load(), "prefetch + one shared refresh")
	assert.EqualValues(t, 100, found.Load(), "every lookup of the new key succeeded")
}

func TestMissWaitRespectsRequestContext(t *testing.T) {
	srv := newServer(t, setJSON(jwk("a", &testKey(0).PublicKey, nil)))
	clk := clock.NewFake(time.Unix(1_800_000_000, 0))
	c := newCache(t, Options{JWKSURL: srv.URL, Clock: clk})
	<-srv.served
	gate := make(chan struct{})
	defer close(gate)
	srv.mu.Lock()
	srv.gate = gate
	srv.mu.Unlock()
	clk.Advance(time.Minute)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := lookup(ctx, c, "x")
	require.ErrorIs(t, err, jwkset.ErrKeyNotFound)
	require.ErrorIs(t, err, context.Canceled)
}

func TestLastGoodKeysSurviveBadRefresh(t *testing.T) {
	good := setJSON(jwk("a", &testKey(0).PublicKey, nil))
	tests := []struct {
		name   string
		status int
		body   []byte
		reason string
	}{
		{"500", 500, []byte("oops"), "status 500"},
		{"garbage", 200, []byte("<html>"), "not a JWKS"},
		{"no keys member", 200, []byte(`{"foo":1}`), `no "keys"`},
		{"empty set", 200, []byte(`{"keys":[]}`), "no usable"},
		{"only bad keys", 200, setJSON(map[string]any{"kty": "EC", "kid": "e"}), "no usable"},
		{"too large", 200, append(append([]byte(`{"keys":[],"pad":"`), make([]byte, 2<<20)...), '"', '}'), "bound"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, good)
			c := newCache(t, Options{JWKSURL: srv.URL, MaxBytes: 1 << 20})
			srv.set(tt.status, tt.body)
			err := c.Refresh(t.Context())
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.reason)
			_, err = lookup(t.Context(), c, "a")
			require.NoError(t, err, "the last good key set is kept")
			assert.Equal(t, 1, failuresOf(c))
		})
	}
}

func TestFetchTimeout(t *testing.T) {
	srv := newServer(t, setJSON(jwk("a", &testKey(0).PublicKey, nil)))
	gate := make(chan struct{})
	defer close(gate)
	srv.gate = gate
	c := newCache(t, Options{JWKSURL: srv.URL, Timeout: 50 * time.Millisecond})
	f := fetchesOf(c)
	require.Len(t, f, 1, "a hanging Entra fails the fetch after Timeout; New still returns")
	assert.ErrorContains(t, f[0].Err, "deadline")
}

func TestParseFiltersKeys(t *testing.T) {
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	pub := &testKey(0).PublicKey
	set, err := Parse(setJSON(
		jwk("good", pub, map[string]any{"issuer": "https://login.microsoftonline.com/{tenantid}/v2.0", "cloud_instance_name": "microsoftonline.com"}),
		jwk("enc", pub, map[string]any{"use": "enc"}),
		jwk("hs", pub, map[string]any{"alg": "HS256"}),
		jwk("ec", pub, map[string]any{"kty": "EC"}),
		jwk("short", &small.PublicKey, nil),
		jwk("", pub, nil),
		jwk("good", &testKey(1).PublicKey, nil),
		jwk("badx5t", pub, map[string]any{"x5c": []string{"MIIB"}}),
	), nil)
	require.NoError(t, err)
	assert.Equal(t, 1, set.Len())
	k := set.Key("good")
	require.NotNil(t, k)
	assert.True(t, k.Public.Equal(pub), "the first of two keys with one kid wins")
	assert.Equal(t, "https://login.microsoftonline.com/{tenantid}/v2.0", k.Issuer)
	assert.Equal(t, "microsoftonline.com", k.Cloud)
	reasons := ""
	for _, r := range set.Rejected {
		reasons += r.KID + ": " + r.Reason + "\n"
	}
	for _, want := range []string{`use "enc"`, `alg "HS256"`, `kty "EC"`, "1024 bits", "no kid", "repeats", "badx5t"} {
		assert.Contains(t, reasons, want)
	}
}

// TestParseRealEntraKeySets: every key set Entra really served (testdata/entra,
// with each document's source) parses, with every key usable.
func TestParseRealEntraKeySets(t *testing.T) {
	files, err := filepath.Glob("../../testdata/entra/jwks/*.json")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			body, err := os.ReadFile(f)
			require.NoError(t, err)
			set, err := Parse(body, nil)
			require.NoError(t, err)
			assert.Empty(t, set.Rejected)
			var doc struct{ Keys []any }
			require.NoError(t, json.Unmarshal(body, &doc))
			assert.Equal(t, len(doc.Keys), set.Len())
		})
	}
}

func TestDiscovery(t *testing.T) {
	keys := newServer(t, setJSON(jwk("a", &testKey(0).PublicKey, nil)))
	var disco atomic.Value
	disco.Store(`{"issuer":"https://login.microsoftonline.com/t/v2.0","jwks_uri":"` + keys.URL + `"}`)
	var gotQuery atomic.Value
	d := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotQuery.Store(r.URL.RawQuery)
		_, _ = io.WriteString(w, disco.Load().(string))
	}))
	t.Cleanup(d.Close)
	c := newCache(t, Options{DiscoveryURL: d.URL + "/t/v2.0/.well-known/openid-configuration?appid=app", ExpectedIssuer: "https://login.microsoftonline.com/t/v2.0"})
	assert.Equal(t, "appid=app", gotQuery.Load())
	assert.Equal(t, 1, c.Set().Len())
	assert.Equal(t, keys.URL, fetchesOf(c)[0].URL)

	disco.Store(`{"issuer":"https://login.microsoftonline.com/other/v2.0","jwks_uri":"` + keys.URL + `"}`)
	err := c.Refresh(t.Context())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "discovery issuer")
	disco.Store(`{"issuer":"https://login.microsoftonline.com/t/v2.0","jwks_uri":"ftp://x/keys"}`)
	require.Error(t, c.Refresh(t.Context()))
	assert.Equal(t, 1, c.Set().Len(), "keys kept")
}

func TestNewNeedsOneURL(t *testing.T) {
	_, err := New(context.Background(), Options{})
	require.Error(t, err)
	_, err = New(context.Background(), Options{JWKSURL: "https://a/keys", DiscoveryURL: "https://b/d"})
	require.Error(t, err)
	assert.True(t, strings.Contains(err.Error(), "exactly one"))
}

// TestParseRealDiscoveryDocuments: Entra's discovery documents, as recorded.
func TestParseRealDiscoveryDocuments(t *testing.T) {
	const dir = "../../testdata/entra/openid-configuration/"
	body, err := os.ReadFile(dir + "tenant_v2.0_openid-configuration_2022-02-23_nock-recording_tenant-zeroed.json")
	require.NoError(t, err)
	const zero = "00000000-0000-0000-0000-000000000000"
	d, err := ParseDiscovery(body, mustURL("https://login.microsoftonline.com/"+zero+"/v2.0/.well-known/openid-configuration"), "https://login.microsoftonline.com/"+zero+"/v2.0")
	require.NoError(t, err)
	assert.Equal(t, "https://login.microsoftonline.com/"+zero+"/discovery/v2.0/keys", d.JWKSURI)
	assert.Equal(t, "microsoftonline.com", d.CloudInstanceName)

	// The common endpoint's issuer is a template: it is no tenant's document.
	common, err := os.ReadFile(dir + "panva-wellknown_entra-common_v2.0_openid-configuration_2024-10-26_e24bb39c.json")
	require.NoError(t, err)
	_, err = ParseDiscovery(common, mustURL("https://login.microsoftonline.com/common/v2.0/.well-known/openid-configuration"), "https://login.microsoftonline.com/"+zero+"/v2.0")
	require.ErrorContains(t, err, "{tenantid}")
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

// TestMissErrorQuotesTheKID: the miss's text quotes the kid as
// strconv.Quote would, whether or not it takes the no-escape shortcut.
func TestMissErrorQuotesTheKID(t *testing.T) {
	for _, kid := range []string{"nOo3ZDrODXEK1jKWhXslHR_KXEg", `a"b`, `a\b`, "a\x01b", "é", "tab\there", ""} {
		want := "kid " + strconv.Quote(kid) + " is not in the key set (3 keys)"
		if got := (&MissError{KID: kid, Keys: 3}).Error(); got != want {
			t.Errorf("kid %q: got %s, want %s", kid, got, want)
		}
	}
}
