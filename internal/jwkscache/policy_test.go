package jwkscache

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mamlogin/mamlogin/internal/clock"
)

func TestCheckURL(t *testing.T) {
	tests := []struct {
		url string
		ok  bool
	}{
		{"https://login.microsoftonline.com", true},
		{"https://login.microsoftonline.com/t/discovery/v2.0/keys", true},
		{"http://127.0.0.1:8080", true},
		{"http://127.1.2.3/keys", true},
		{"http://[::1]:9000", true},
		{"http://localhost:9000", true},
		{"http://LOCALHOST", true},
		{"http://127.attacker.example", false}, // a name that starts like a loopback address
		{"http://127.0.0.1.nip.io", false},
		{"http://localhost.attacker.example", false},
		{"http://[::ffff:127.0.0.1]", false}, // not 127.0.0.0/8 nor ::1 as written
		{"http://[fe80::1%25lo]", false},
		{"http://10.0.0.1", false},
		{"http://login.microsoftonline.com", false},
		{"ftp://127.0.0.1", false},
		{"file:///etc/passwd", false},
		{"//login.microsoftonline.com", false},
		{"login.microsoftonline.com", false},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			_, err := CheckURL(tt.url)
			if tt.ok {
				assert.NoError(t, err)
			} else {
				assert.Error(t, err)
			}
		})
	}
}

// tlsKeys is an https key-set server (a stand-in for Entra) whose handler the
// test swaps, with the client that trusts it.
type tlsKeys struct {
	*httptest.Server
	mu   sync.Mutex
	h    http.HandlerFunc
	reqs []*http.Request
}

func newTLSKeys(t *testing.T, body []byte) *tlsKeys {
	s := &tlsKeys{}
	s.setBody(body)
	s.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.reqs = append(s.reqs, r.Clone(context.Background()))
		h := s.h
		s.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *tlsKeys) setBody(body []byte) {
	s.set(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
}

func (s *tlsKeys) set(h http.HandlerFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.h = h
}

func (s *tlsKeys) last() *http.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reqs[len(s.reqs)-1]
}

// TestNoDowngrade: a fetch that starts on https never continues over http, by
// redirect or by a discovery document's jwks_uri; the last good keys stay.
func TestNoDowngrade(t *testing.T) {
	good := setJSON(jwk("a", &testKey(0).PublicKey, nil))
	plain := newServer(t, setJSON(jwk("evil", &testKey(1).PublicKey, nil)))

	t.Run("redirect to http", func(t *testing.T) {
		srv := newTLSKeys(t, good)
		c := newCache(t, Options{JWKSURL: srv.URL + "/keys", Client: srv.Client()})
		require.Equal(t, 1, c.Set().Len())
		srv.set(func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, plain.URL, http.StatusFound) })
		err := c.Refresh(t.Context())
		require.ErrorContains(t, err, "refused")
		assert.NotNil(t, c.Set().Key("a"), "the last good keys are kept")
		assert.Nil(t, c.Set().Key("evil"))
		assert.EqualValues(t, 0, plain.hits.Load(), "the http URL is never requested")
	})
	t.Run("redirect to https is followed", func(t *testing.T) {
		target := newTLSKeys(t, setJSON(jwk("b", &testKey(1).PublicKey, nil)))
		srv := newTLSKeys(t, good)
		c := newCache(t, Options{JWKSURL: srv.URL + "/keys", Client: target.Client()}) // both use httptest's one CA
		srv.set(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, target.URL+"/keys", http.StatusFound)
		})
		require.NoError(t, c.Refresh(t.Context()))
		assert.NotNil(t, c.Set().Key("b"))
	})
	t.Run("discovery names an http jwks_uri", func(t *testing.T) {
		srv := newTLSKeys(t, nil)
		srv.set(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte(`{"issuer":"https://login.microsoftonline.com/t/v2.0","jwks_uri":"` + plain.URL + `/keys"}`))
		})
		c := newCache(t, Options{DiscoveryURL: srv.URL + "/t/v2.0/.well-known/openid-configuration", Client: srv.Client()})
		assert.Equal(t, 0, c.Set().Len())
		assert.ErrorContains(t, fetchesOf(c)[0].Err, "refused")
		assert.EqualValues(t, 0, plain.hits.Load())
	})
	t.Run("http loopback start may redirect on loopback only", func(t *testing.T) {
		srv := newServer(t, nil)
		srv.set(http.StatusFound, nil)
		c := newCache(t, Options{JWKSURL: plain.URL + "/keys"})
		assert.Equal(t, 1, c.Set().Len())
		u := mustURL(plain.URL)
		require.NoError(t, allowedNext(u, mustURL("http://localhost:1/keys")))
		require.Error(t, allowedNext(u, mustURL("http://login.microsoftonline.com/keys")))
	})
}

// TestRequestHeaders: every request names the library; a refresh for an
// unknown kid asks caches on the way for a fresh copy.
func TestRequestHeaders(t *testing.T) {
	srv := newTLSKeys(t, setJSON(jwk("a", &testKey(0).PublicKey, nil)))
	clk := clock.NewFake(time.Unix(1_800_000_000, 0))
	c := newCache(t, Options{JWKSURL: srv.URL + "/keys", Client: srv.Client(), Clock: clk})
	first := srv.last()
	assert.Equal(t, UserAgent, first.Header.Get("User-Agent"))
	assert.Empty(t, first.Header.Get("Cache-Control"), "a start-up fetch may be served by a cache")

	clk.Advance(time.Minute)
	_, err := lookup(t.Context(), c, "rotated")
	require.Error(t, err)
	miss := srv.last()
	assert.Equal(t, "no-cache", miss.Header.Get("Cache-Control"))
	assert.Equal(t, UserAgent, miss.Header.Get("User-Agent"))
}

// cert makes a self-signed certificate for key k, as x5c carries it.
func cert(t *testing.T, k *rsa.PrivateKey) (x5c, x5t string) {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	require.NoError(t, err)
	sum := sha1.Sum(der)
	return base64.StdEncoding.EncodeToString(der), base64.RawURLEncoding.EncodeToString(sum[:])
}

// TestParseStrict: a key set is read as strictly as a token.
func TestParseStrict(t *testing.T) {
	pub := &testKey(0).PublicKey
	n := base64.RawURLEncoding.EncodeToString(pub.N.Bytes())
	x5c0, x5t0 := cert(t, testKey(0))
	x5c1, x5t1 := cert(t, testKey(1))
	raw := func(members string) []byte {
		return []byte(`{"keys":[{"kty":"RSA","kid":"k","n":"` + n + `",` + members + `}]}`)
	}
	tests := []struct {
		name   string
		body   []byte
		reason string // "" means the key is used
	}{
		{"plain", raw(`"e":"AQAB","use":"sig"`), ""},
		{"use absent", raw(`"e":"AQAB"`), ""},
		{"use enc beside USE sig", raw(`"e":"AQAB","use":"enc","USE":"sig"`), `use "enc"`},
		{"USE sig alone is not use", raw(`"e":"AQAB","USE":"enc"`), ""},
		{"use twice", raw(`"e":"AQAB","use":"sig","use":"enc"`), `duplicate object member name "use"`},
		{"kid escaped twice", raw(`"e":"AQAB","k\u0069d":"other"`), `duplicate object member name "kid"`},
		{"KTY is not kty", []byte(`{"keys":[{"KTY":"RSA","kid":"k","n":"` + n + `","e":"AQAB"}]}`), `kty ""`},
		{"use not a string", raw(`"e":"AQAB","use":["sig"]`), "unmarshal JSON array into Go string"}, // json words it "cannot" or "unable to", at random,
		{"key_ops verify", raw(`"e":"AQAB","key_ops":["verify"]`), ""},
		{"key_ops sign only", raw(`"e":"AQAB","key_ops":["sign"]`), "does not include verify"},
		{"key_ops empty", raw(`"e":"AQAB","key_ops":[]`), "does not include verify"},
		{"alg RS256", raw(`"e":"AQAB","alg":"RS256"`), ""},
		{"alg RS384", raw(`"e":"AQAB","alg":"RS384"`), `alg "RS384"`},
		{"x5c of the same key with its x5t", raw(`"e":"AQAB","x5c":["` + x5c0 + `"],"x5t":"` + x5t0 + `"`), ""},
		{"x5c of another key", raw(`"e":"AQAB","x5c":["` + x5c1 + `"]`), "X.509"},
		{"x5t of another certificate", raw(`"e":"AQAB","x5c":["` + x5c0 + `"],"x5t":"` + x5t1 + `"`), "X5T"},
		{"x5t alone cannot be checked", raw(`"e":"AQAB","x5t":"` + x5t1 + `"`), ""},
		{"even exponent", raw(`"e":"AQAA"`), "exponent"},
		{"exponent 1", raw(`"e":"AQ"`), `"e" is out of range`},
		{"not an object", []byte(`{"keys":["RSA"]}`), "not a JWK object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, err := Parse(tt.body, nil)
			if tt.reason == "" {
				require.NoError(t, err)
				require.NotNil(t, set.Key("k"))
				return
			}
			require.Error(t, err, "the only key is rejected")
			require.Len(t, set.Rejected, 1)
			assert.Contains(t, set.Rejected[0].Reason, tt.reason)
		})
	}

	for _, doc := range []string{`{"keys":[],"keys":[]}`, `{"KEYS":[]}`, `[]`, `{"keys":{}}`, `{"keys":[]} x`} {
		_, err := Parse([]byte(doc), nil)
		assert.Error(t, err, doc)
	}
}

// TestParseKeepsFirstUsableKeysPastTheBound: a set larger than the bound keeps
// the first MaxKeys usable keys and says why it skipped the rest.
func TestParseKeepsFirstUsableKeysPastTheBound(t *testing.T) {
	var keys []map[string]any
	keys = append(keys, map[string]any{"kty": "EC", "kid": "ec"}) // unusable: does not count
	for i := range MaxKeys + 5 {
		keys = append(keys, jwk("k"+strings.Repeat("x", i%3)+string(rune('A'+i%26))+string(rune('a'+i/26)), &testKey(i%3).PublicKey, nil))
	}
	set, err := Parse(setJSON(keys...), nil)
	require.NoError(t, err)
	assert.Equal(t, MaxKeys, set.Len())
	assert.Equal(t, keys[1]["kid"], set.KIDs()[0], "the first usable keys are kept, in order")
	over := 0
	for _, r := range set.Rejected {
		if strings.Contains(r.Reason, "the most kept") {
			over++
		}
	}
	assert.Equal(t, 5, over)
}

// TestRefreshKeepsKeyIdentity: a key unchanged by a refresh is the same key,
// so a validation that resolved it just before still binds it after.
func TestRefreshKeepsKeyIdentity(t *testing.T) {
	meta := map[string]any{"issuer": "https://login.microsoftonline.com/{tenantid}/v2.0", "cloud_instance_name": "microsoftonline.com"}
	srv := newServer(t, setJSON(jwk("a", &testKey(0).PublicKey, meta)))
	c := newCache(t, Options{JWKSURL: srv.URL})
	before, err := lookup(t.Context(), c, "a")
	require.NoError(t, err)
	srv.set(200, setJSON(jwk("a", &testKey(0).PublicKey, meta), jwk("b", &testKey(1).PublicKey, nil)))
	require.NoError(t, c.Refresh(t.Context()))
	iss, cloud, ok := c.Binding("a", before)
	require.True(t, ok)
	assert.Equal(t, meta["issuer"], iss)
	assert.Equal(t, "microsoftonline.com", cloud)

	// Changed under the same kid: a different key, and the old one no longer binds.
	srv.set(200, setJSON(jwk("a", &testKey(2).PublicKey, meta)))
	require.NoError(t, c.Refresh(t.Context()))
	_, _, ok = c.Binding("a", before)
	assert.False(t, ok)
}

// TestLivesUntilClose: the context given to New bounds the first fetch only.
// A cancelled start-up context must not stop the refreshes, or the first
// key rotation after it fails every sign-in.
func TestLivesUntilClose(t *testing.T) {
	srv := newServer(t, setJSON(jwk("a", &testKey(0).PublicKey, nil)))
	clk := clock.NewFake(time.Unix(1_800_000_000, 0))
	ctx, cancel := context.WithCancel(context.Background())
	c, err := New(ctx, Options{JWKSURL: srv.URL, Clock: clk, RefreshEvery: time.Hour})
	require.NoError(t, err)
	<-srv.served
	cancel()

	srv.set(200, setJSON(jwk("rotated", &testKey(1).PublicKey, nil)))
	require.True(t, clk.WaitForWaiters(1, t.Context().Done()))
	clk.Advance(time.Hour)
	<-srv.served
	clk.Advance(time.Minute)
	_, err = lookup(t.Context(), c, "rotated")
	require.NoError(t, err, "scheduled and unknown-kid refreshes run after the start-up context is gone")

	require.NoError(t, c.Close())
	require.NoError(t, c.Close(), "Close is idempotent")
	hits := srv.hits.Load()
	clk.Advance(24 * time.Hour)
	assert.Equal(t, hits, srv.hits.Load(), "nothing runs after Close")
}

// TestFirstFetchBoundedByContext: a start-up context that ends stops the
// first fetch, and New still returns a cache that recovers by itself.
func TestFirstFetchBoundedByContext(t *testing.T) {
	srv := newServer(t, setJSON(jwk("a", &testKey(0).PublicKey, nil)))
	gate := make(chan struct{})
	srv.mu.Lock()
	srv.gate = gate
	srv.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	clk := clock.NewFake(time.Unix(1_800_000_000, 0))
	c, err := New(ctx, Options{JWKSURL: srv.URL, Clock: clk})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	var ie *InitError
	require.ErrorAs(t, c.Ready(t.Context()), &ie)
	assert.ErrorIs(t, ie, context.Canceled)
	close(gate)
	clk.Advance(time.Minute) // past the retry and the unknown-kid interval
	require.NoError(t, c.Ready(t.Context()))
}

// TestFetchEventsAndClock: each fetch is reported with what changed, and
// Entra's Date header gives this server's clock offset.
func TestFetchEventsAndClock(t *testing.T) {
	entraNow := time.Unix(1_800_000_000, 0).UTC()
	var mu sync.Mutex
	var events []Fetch
	body := setJSON(jwk("a", &testKey(0).PublicKey, nil), map[string]any{"kty": "EC", "kid": "ec"})
	srv := newTLSKeys(t, nil)
	srv.set(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Date", entraNow.Format(http.TimeFormat))
		mu.Lock()
		b := body
		mu.Unlock()
		_, _ = w.Write(b)
	})
	clk := clock.NewFake(entraNow.Add(-90 * time.Second)) // this server runs 90 s behind Entra
	c := newCache(t, Options{JWKSURL: srv.URL + "/keys", Client: srv.Client(), Clock: clk, OnFetch: func(f Fetch) {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, f)
	}})
	mu.Lock()
	assert.Equal(t, 90*time.Second, events[0].ClockOffset())
	assert.True(t, events[0].ServerDate.Equal(entraNow))
	mu.Unlock()

	mu.Lock()
	body = setJSON(jwk("b", &testKey(1).PublicKey, nil))
	mu.Unlock()
	require.NoError(t, c.Refresh(t.Context()))
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, events, 2)
	assert.Equal(t, TriggerStart, events[0].Trigger)
	assert.Equal(t, 1, events[0].Keys)
	require.Len(t, events[0].Skipped, 1, "the EC key is reported as skipped")
	assert.Empty(t, events[0].Added, "the first fetch is no rotation")
	assert.Equal(t, TriggerManual, events[1].Trigger)
	assert.Equal(t, []string{"b"}, events[1].Added)
	assert.Equal(t, []string{"a"}, events[1].Removed)
	assert.Equal(t, srv.URL+"/keys", events[1].URL)
}

// TestStorageIsReadOnly: the key cache is a jwkset.Storage whose keys come
// from Entra only.
func TestStorageIsReadOnly(t *testing.T) {
	srv := newServer(t, setJSON(jwk("a", &testKey(0).PublicKey, nil)))
	c := newCache(t, Options{JWKSURL: srv.URL})
	ctx := t.Context()
	assert.ErrorIs(t, c.KeyWrite(ctx, mustJWK(t)), ErrReadOnly)
	assert.ErrorIs(t, c.KeyReplaceAll(ctx, nil), ErrReadOnly)
	_, err := c.KeyDelete(ctx, "a")
	assert.ErrorIs(t, err, ErrReadOnly)
	all, err := c.KeyReadAll(ctx)
	require.NoError(t, err)
	assert.Len(t, all, 1)
	doc, err := c.JSONPrivate(ctx)
	require.NoError(t, err)
	var parsed struct{ Keys []map[string]any }
	require.NoError(t, json.Unmarshal(doc, &parsed))
	require.Len(t, parsed.Keys, 1)
	assert.Equal(t, "a", parsed.Keys[0]["kid"])
	assert.NotContains(t, parsed.Keys[0], "d", "never private material")
}

func mustJWK(t *testing.T) jwkset.JWK {
	j, err := (&Set{}).KeyRead(t.Context(), "none")
	require.Error(t, err)
	return j
}

// TestFetchOnce: the one-shot source of Diagnose starts no goroutine and
// says why it holds no keys.
func TestFetchOnce(t *testing.T) {
	srv := newServer(t, setJSON(jwk("a", &testKey(0).PublicKey, nil)))
	s, err := FetchOnce(t.Context(), Options{JWKSURL: srv.URL})
	require.NoError(t, err)
	require.NoError(t, s.Ready(t.Context()))
	_, err = lookup(t.Context(), s, "a")
	require.NoError(t, err)

	srv.set(http.StatusNotFound, nil)
	s, err = FetchOnce(t.Context(), Options{JWKSURL: srv.URL})
	require.NoError(t, err)
	var ie *InitError
	require.ErrorAs(t, s.Ready(t.Context()), &ie)
	assert.Contains(t, ie.Error(), "status 404")
	_, err = lookup(t.Context(), s, "a")
	require.ErrorIs(t, err, jwkset.ErrKeyNotFound)
}
