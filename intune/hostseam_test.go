package intune_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mamlogin/mamlogin/internal/clock"
	"github.com/mamlogin/mamlogin/intune"
	it "github.com/mamlogin/mamlogin/intune/intunetest"
)

// logLines returns the JSON records of the rig's log.
func (r *rig) logLines(t *testing.T) []map[string]any {
	t.Helper()
	r.logMu.Lock()
	defer r.logMu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(r.logs.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &m), line)
		out = append(out, m)
	}
	return out
}

// failureRecord is the one "sign-in failed" record of the rig's log.
func (r *rig) failureRecord(t *testing.T) map[string]any {
	t.Helper()
	var found []map[string]any
	for _, m := range r.logLines(t) {
		if m["msg"] == "intune: sign-in failed" {
			found = append(found, m)
		}
	}
	require.Len(t, found, 1)
	return found[0]
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond) // poll interval, not a wait for readiness
	}
}

// TestLiveConfiguration: an admin's change applies to the next sign-in
// without a re-mount, a bad change is refused with the field named while
// the old one keeps serving, and replaced validators stop refreshing.
func TestLiveConfiguration(t *testing.T) {
	r := newRig(t, intune.AuthServiceOpenID)
	// The validators SetConfig builds run their refresh schedule on clk, so
	// that the test can see their loop fetch.
	clk := clock.NewFake(time.Now())
	h := r.handler(intune.WithValidatorOptions(intune.WithCacheClock(clk), intune.WithKeyRefresh(time.Hour, time.Minute),
		intune.WithKeySetLogger(quiet)))
	defer h.Close()
	tok := r.tenant.Token()
	require.Equal(t, http.StatusOK, post(h, appBody(tok)).Code)

	// Disable: the next sign-in is refused, silently, with web SSO.
	off := r.cfg
	off.Enable = false
	require.NoError(t, h.SetConfig(t.Context(), off))
	rec := post(h, appBody(tok))
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	assert.Equal(t, intune.ErrNotConfigured.ID, decodeErr(t, rec).ID)
	assert.Equal(t, "false", h.ClientConfig()["IntuneMAMEnabled"])

	// A bad change is refused, naming the field; the current one serves on.
	bad := r.cfg
	bad.TenantID = "contoso.onmicrosoft.com"
	var ce *intune.ConfigError
	require.ErrorAs(t, h.SetConfig(t.Context(), bad), &ce)
	assert.Equal(t, "TenantID", ce.Field)
	assert.False(t, h.Config().Enable, "the disabled configuration still serves")

	// A tenant Entra does not know: refused before it serves anyone.
	unknown := r.cfg
	unknown.TenantID = "0d9f2a4b-1c3e-4f5a-8b7c-6d5e4f3a2b1c"
	require.ErrorAs(t, h.SetConfig(t.Context(), unknown), &ce)
	assert.Equal(t, "TenantID", ce.Field)
	assert.Contains(t, ce.Reason, "signing keys cannot be fetched")

	// Enable again, as SAML: the provider changes without a new validator.
	saml := r.cfg
	saml.AuthService = intune.AuthServiceSAML
	require.NoError(t, h.SetConfig(t.Context(), saml))
	assert.Same(t, r.v, h.Validator(), "the host's validator serves the same tenant and client")
	rec = post(h, appBody(tok))
	assert.Equal(t, intune.ErrAccountNotFound.ID, decodeErr(t, rec).ID, "SAML never creates users")

	// Another server API app: a new validator, owned by the handler.
	other := it.NewTenant(it.WithIDs(it.TenantID, "11111111-2222-4333-8444-555555555555", it.MobileClientID))
	defer other.Close()
	next := other.Config()
	pending := clk.Waiters()
	require.NoError(t, h.SetConfig(t.Context(), next))
	built := h.Validator()
	assert.NotSame(t, r.v, built)
	assertScheduledFetch(t, clk, pending, built)
	assert.Equal(t, http.StatusOK, post(h, appBody(other.Token())).Code)
	assert.Equal(t, intune.ErrInvalidToken.ID, decodeErr(t, post(h, appBody(tok))).ID, "the old app's token is for another audience now")

	// Back to the first app: another validator is built and the one built
	// for the other app is closed (SetConfig waits for its loop to end);
	// Close closes the last. The host's own validator is the host's to close.
	pending = clk.Waiters()
	require.NoError(t, h.SetConfig(t.Context(), r.cfg))
	last := h.Validator()
	assert.NotSame(t, built, last)
	assert.False(t, intune.Refreshing(built), "the replaced validator stopped refreshing")
	assertScheduledFetch(t, clk, pending, last)
	assert.Equal(t, http.StatusOK, post(h, appBody(tok)).Code)
	require.NoError(t, h.Close())
	assert.False(t, intune.Refreshing(last), "Close stopped the validator the handler built")
	assert.True(t, intune.Refreshing(r.v), "the host's validator is not the handler's to close")
}

// assertScheduledFetch asserts that v's refresh loop runs: once it has armed
// its timer on clk (one more than the pending timers before v was built; a
// closed cache's timer stays pending on the fake clock, and only v's loop
// runs on clk now), advancing clk past the interval makes v fetch again.
// (Refreshing alone holds for a loop that never started.)
func assertScheduledFetch(t *testing.T, clk *clock.Fake, pendingBefore int, v *intune.Validator) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	require.True(t, clk.WaitForWaiters(pendingBefore+1, ctx.Done()), "the new validator's refresh loop never armed its timer")
	fetches := v.KeySetStats().Fetches
	clk.Advance(time.Hour)
	assert.Eventually(t, func() bool { return v.KeySetStats().Fetches > fetches }, 10*time.Second, 5*time.Millisecond,
		"the new validator refreshes its keys on schedule")
	assert.True(t, intune.Refreshing(v))
}

// TestLiveConfigurationUnderLoad: sign-ins run while the configuration flips
// (-race). Every answer is one of the two configurations', never a mix.
func TestLiveConfigurationUnderLoad(t *testing.T) {
	r := newRig(t, intune.AuthServiceOpenID)
	r.store.Add(intune.AuthServiceSAML, it.UserOID, it.Profile{Username: "alice"})
	// The OpenID account exists too: the store holds one account per
	// address, so a first OpenID sign-in after a SAML one has synced the
	// token's address to the SAML account is email_in_use, and which comes
	// first is the scheduler's. This test is about the flips, not JIT.
	r.store.Add(intune.AuthServiceOpenID, it.UserOID, it.Profile{Username: "alice"})
	h := r.handler()
	defer h.Close()
	saml := r.cfg
	saml.AuthService = intune.AuthServiceSAML
	off := r.cfg
	off.Enable = false
	tok := r.tenant.Token()

	// The flipper makes a fixed number of changes and the sign-ins run
	// until it is done (at least 25 each): the two overlap however the
	// machine schedules them, and nothing counts on timing.
	const changes = 60
	flipped := make(chan struct{})
	go func() {
		defer close(flipped)
		cfgs := []intune.Config{r.cfg, saml, off}
		for i := range changes {
			if err := h.SetConfig(context.Background(), cfgs[i%3]); err != nil {
				t.Errorf("SetConfig: %v", err)
				return
			}
		}
	}()
	var wg sync.WaitGroup
	var sent, ok, disabled atomic.Int64
	for range 4 {
		wg.Go(func() {
			for n := 0; ; n++ {
				if n >= 25 {
					select {
					case <-flipped:
						return
					default:
					}
				}
				sent.Add(1)
				rec := post(h, appBody(tok))
				switch {
				case rec.Code == http.StatusOK:
					var p it.Profile
					if json.Unmarshal(rec.Body.Bytes(), &p) != nil || p.ID == "" {
						t.Errorf("bad body %s", rec.Body.String())
					}
					ok.Add(1)
				case decodeErr(t, rec).ID == intune.ErrNotConfigured.ID:
					disabled.Add(1)
				default:
					t.Errorf("unexpected answer %d %s", rec.Code, rec.Body.String())
				}
			}
		})
	}
	wg.Wait()
	<-flipped // before the deferred Close: a SetConfig on a closed handler fails
	assert.GreaterOrEqual(t, sent.Load(), int64(100))
	assert.Equal(t, sent.Load(), ok.Load()+disabled.Load(), "every sign-in answered on one whole configuration")
}

// TestHandlerRefusesAValidatorOfAnotherConfiguration: a handler never acts
// on a configuration its Validator was not built for.
func TestHandlerRefusesAValidatorOfAnotherConfiguration(t *testing.T) {
	r := newRig(t, intune.AuthServiceOpenID)
	cfg := r.cfg
	cfg.ClientID = "11111111-2222-4333-8444-555555555555"
	r.cfg = cfg
	h := r.handler()
	rec := post(h, appBody(r.tenant.Token(it.WithClaim("aud", cfg.ClientID))))
	assert.Equal(t, intune.ErrNotConfigured.ID, decodeErr(t, rec).ID)
	assert.Contains(t, r.logs.String(), "configuration refused: the Validator was built for ClientID")
	assert.Equal(t, "false", h.ClientConfig()["IntuneMAMEnabled"])
	assert.Empty(t, r.sessions.SignIns())
}

// storeFunc is a UserStore made of functions, around an intunetest.Store.
type storeFunc struct {
	*it.Store
	lookup func(ctx context.Context, s intune.AuthService, oid string) (*intune.User, error)
	create func(ctx context.Context, s intune.AuthService, c *intune.Claims) (*intune.User, error)
	sync   func(ctx context.Context, u *intune.User, c *intune.Claims) (*intune.User, error)
}

func (s storeFunc) UserByObjectID(ctx context.Context, svc intune.AuthService, oid string) (*intune.User, error) {
	if s.lookup != nil {
		return s.lookup(ctx, svc, oid)
	}
	return s.Store.UserByObjectID(ctx, svc, oid)
}

func (s storeFunc) CreateUser(ctx context.Context, svc intune.AuthService, c *intune.Claims) (*intune.User, error) {
	if s.create != nil {
		return s.create(ctx, svc, c)
	}
	return s.Store.CreateUser(ctx, svc, c)
}

func (s storeFunc) SyncUser(ctx context.Context, u *intune.User, c *intune.Claims) (*intune.User, error) {
	if s.sync != nil {
		return s.sync(ctx, u, c)
	}
	return s.Store.SyncUser(ctx, u, c)
}

var errCreationBlocked = intune.NewAppError("ent.intune.login.account_creation_blocked.app_error", http.StatusPreconditionRequired,
	"Your account cannot be created from the mobile app. Please contact your administrator.",
	"Account creation from mobile sign-in is blocked in this server.", "Create the account first, then have the user retry.")

// TestStoreSpeaksInTheCatalog: what the store says is answered (its own
// rows), judged (users it returns are checked again), and never leaked.
func TestStoreSpeaksInTheCatalog(t *testing.T) {
	deactivated := func(_ context.Context, u *intune.User, _ *intune.Claims) (*intune.User, error) {
		return &intune.User{ID: u.ID, Deactivated: true, Profile: u.Profile}, nil
	}
	bot := func(_ context.Context, u *intune.User, _ *intune.Claims) (*intune.User, error) {
		return &intune.User{ID: u.ID, IsBot: true, Profile: u.Profile}, nil
	}
	nothing := func(context.Context, *intune.User, *intune.Claims) (*intune.User, error) { return nil, nil }
	tests := []struct {
		name     string
		existing bool
		store    func(s storeFunc) storeFunc
		wantID   string
		status   int
		leak     string // must not reach the client
	}{
		{"JIT off in the host", false, func(s storeFunc) storeFunc {
			s.create = func(context.Context, intune.AuthService, *intune.Claims) (*intune.User, error) {
				return nil, fmt.Errorf("jit disabled by policy: %w", intune.ErrAccountNotFound)
			}
			return s
		}, intune.ErrAccountNotFound.ID, http.StatusPreconditionRequired, "policy"},
		{"host's own row", false, func(s storeFunc) storeFunc {
			s.create = func(context.Context, intune.AuthService, *intune.Claims) (*intune.User, error) {
				return nil, errCreationBlocked
			}
			return s
		}, errCreationBlocked.ID, http.StatusPreconditionRequired, ""},
		{"lookup says account locked", true, func(s storeFunc) storeFunc {
			s.lookup = func(context.Context, intune.AuthService, string) (*intune.User, error) {
				return nil, intune.ErrAccountLocked
			}
			return s
		}, intune.ErrAccountLocked.ID, http.StatusConflict, ""},
		{"any other error", true, func(s storeFunc) storeFunc {
			s.lookup = func(context.Context, intune.AuthService, string) (*intune.User, error) {
				return nil, errors.New("dial tcp 10.0.0.5:5432: connection refused")
			}
			return s
		}, intune.ErrStoreFailed.ID, http.StatusInternalServerError, "10.0.0.5"},
		{"sync deactivates", true, func(s storeFunc) storeFunc { s.sync = deactivated; return s }, intune.ErrAccountLocked.ID, http.StatusConflict, ""},
		{"sync finds a bot", true, func(s storeFunc) storeFunc { s.sync = bot; return s }, intune.ErrBotLoginForbidden.ID, http.StatusForbidden, ""},
		{"sync returns (nil, nil)", true, func(s storeFunc) storeFunc { s.sync = nothing; return s }, intune.ErrStoreFailed.ID, http.StatusInternalServerError, ""},
		{"lookup returns (nil, nil)", true, func(s storeFunc) storeFunc {
			s.lookup = func(context.Context, intune.AuthService, string) (*intune.User, error) { return nil, nil }
			return s
		}, intune.ErrStoreFailed.ID, http.StatusInternalServerError, ""},
		{"create returns (nil, nil)", false, func(s storeFunc) storeFunc {
			s.create = func(context.Context, intune.AuthService, *intune.Claims) (*intune.User, error) { return nil, nil }
			return s
		}, intune.ErrStoreFailed.ID, http.StatusInternalServerError, ""},
		{"create fails, re-read finds nothing", false, func(s storeFunc) storeFunc {
			s.create = func(context.Context, intune.AuthService, *intune.Claims) (*intune.User, error) {
				return nil, errors.New("disk full")
			}
			return s
		}, intune.ErrStoreFailed.ID, http.StatusInternalServerError, "disk"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, intune.AuthServiceOpenID)
			if tt.existing {
				r.store.Add(intune.AuthServiceOpenID, it.UserOID, it.Profile{Username: "alice"})
			}
			s := tt.store(storeFunc{Store: r.store})
			log := &bytes.Buffer{}
			h := intune.NewLoginHandler(r.cfg, r.v, s, r.sessions, intune.WithLogger(slog.New(slog.NewJSONHandler(log, nil))))
			rec := post(h, appBody(r.tenant.Token()))
			assert.Equal(t, tt.status, rec.Code)
			assert.Equal(t, tt.wantID, decodeErr(t, rec).ID)
			assert.Empty(t, r.sessions.SignIns(), "no session")
			assert.Empty(t, rec.Header().Get("Token"))
			if tt.leak != "" {
				assert.NotContains(t, rec.Body.String(), tt.leak)
				assert.Contains(t, log.String(), tt.leak, "the admin sees it")
			}
			assert.Contains(t, log.String(), `"kid":"`+r.tenant.SigningKey().ID, "failure records carry token.kid after validation")
		})
	}
}

// TestLostRaceInTheDatabasesOwnWords: a store reporting a lost first-sign-in
// race with a raw unique violation (as pq, pgx, MySQL and SQLite do) still
// signs every concurrent request in, with one user.
func TestLostRaceInTheDatabasesOwnWords(t *testing.T) {
	r := newRig(t, intune.AuthServiceOpenID)
	const n = 12
	lineUpCreates(r.store, n)
	s := storeFunc{Store: r.store, create: func(ctx context.Context, svc intune.AuthService, c *intune.Claims) (*intune.User, error) {
		u, err := r.store.CreateUser(ctx, svc, c)
		if errors.Is(err, intune.ErrUserExists) {
			return nil, errors.New(`ERROR: duplicate key value violates unique constraint "users_auth_service_auth_data_key" (SQLSTATE 23505)`)
		}
		return u, err
	}}
	h := intune.NewLoginHandler(r.cfg, r.v, s, r.sessions, intune.WithLogger(quiet))
	tok := r.tenant.Token()
	var wg sync.WaitGroup
	var ok atomic.Int64
	for range n {
		wg.Go(func() {
			if post(h, appBody(tok)).Code == http.StatusOK {
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	assert.EqualValues(t, n, ok.Load())
	assert.Equal(t, 1, r.store.Len())
}

// TestJITNeedsAnAddress: a new OpenID user is created only from a token
// with an address; an existing user needs none.
func TestJITNeedsAnAddress(t *testing.T) {
	noAddress := []it.TokenOption{it.WithoutClaim("email"), it.WithClaim("preferred_username", "alice"), it.WithoutClaim("upn")}
	t.Run("none", func(t *testing.T) {
		r := newRig(t, intune.AuthServiceOpenID)
		rec := post(r.handler(), appBody(r.tenant.Token(noAddress...)))
		assert.Equal(t, intune.ErrMissingClaims.ID, decodeErr(t, rec).ID)
		rec1 := r.failureRecord(t)
		assert.Contains(t, rec1["next_step"], "optional claim email")
		assert.Equal(t, 0, r.store.Len())
	})
	t.Run("upn is one", func(t *testing.T) {
		r := newRig(t, intune.AuthServiceOpenID)
		rec := post(r.handler(), appBody(r.tenant.Token(append(noAddress, it.WithClaim("upn", "alice@contoso.com"))...)))
		assert.Equal(t, http.StatusOK, rec.Code)
	})
	t.Run("existing user", func(t *testing.T) {
		r := newRig(t, intune.AuthServiceOpenID)
		r.store.Add(intune.AuthServiceOpenID, it.UserOID, it.Profile{Username: "alice"})
		assert.Equal(t, http.StatusOK, post(r.handler(), appBody(r.tenant.Token(noAddress...))).Code)
	})
}

// profileStore returns a user whose Profile is p.
func profileStore(r *rig, p any) storeFunc {
	return storeFunc{Store: r.store,
		lookup: func(context.Context, intune.AuthService, string) (*intune.User, error) {
			return &intune.User{ID: "u1", Profile: p}, nil
		},
		sync: func(_ context.Context, u *intune.User, _ *intune.Claims) (*intune.User, error) { return u, nil },
	}
}

// TestSuccessBodyLetsTheAppEnforceMAM: a 200 always carries id and the
// published auth_service; anything else is a 500 with the reason logged.
func TestSuccessBodyLetsTheAppEnforceMAM(t *testing.T) {
	tests := []struct {
		name    string
		profile any
		ok      bool
		reason  string // a part of the logged reason
	}{
		{"Mattermost-like", map[string]any{"id": "u1", "auth_service": "office365", "username": "alice"}, true, ""},
		{"case differs", map[string]any{"id": "u1", "auth_service": "Office365"}, true, ""},
		{"no profile: the minimum is sent", nil, true, ""},
		{"other provider", map[string]any{"id": "u1", "auth_service": "gitlab"}, false, ""},
		{"no auth_service", map[string]any{"id": "u1"}, false, ""},
		{"empty id", map[string]any{"id": "", "auth_service": "office365"}, false, ""},
		{"no id", map[string]any{"auth_service": "office365"}, false, ""},
		{"not an object", []string{"u1"}, false, ""},
		{"id a number: said so, not \"no id\"", map[string]any{"id": 42, "auth_service": "office365"}, false, "id is a number, not a string"},
		{"auth_service null: said so", map[string]any{"id": "u1", "auth_service": nil}, false, "auth_service is null, not a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, intune.AuthServiceOffice365)
			log := &bytes.Buffer{}
			h := intune.NewLoginHandler(r.cfg, r.v, profileStore(r, tt.profile), r.sessions, intune.WithLogger(slog.New(slog.NewJSONHandler(log, nil))))
			rec := post(h, appBody(r.tenant.Token()))
			if tt.ok {
				require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
				var body map[string]any
				require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
				assert.Equal(t, "u1", body["id"])
				assert.True(t, strings.EqualFold("office365", fmt.Sprint(body["auth_service"])))
				return
			}
			assert.Equal(t, http.StatusInternalServerError, rec.Code)
			assert.Equal(t, intune.ErrStoreFailed.ID, decodeErr(t, rec).ID)
			assert.Empty(t, r.sessions.SignIns(), "no session for a body the app cannot enforce MAM with")
			assert.Contains(t, log.String(), "auth_service")
			assert.Contains(t, log.String(), tt.reason)
		})
	}
}

// failingSessions sets credentials, then fails.
type failingSessions struct{}

func (failingSessions) IssueSession(_ context.Context, w http.ResponseWriter, _ *http.Request, _ *intune.SignIn) error {
	w.Header().Set("Token", "half-made")
	http.SetCookie(w, &http.Cookie{Name: "MMAUTHTOKEN", Value: "half-made"})
	w.Header().Del("X-Trace") // an issuer that tramples on middleware's headers
	return errors.New("session table full")
}

// TestFailedSessionTakesBackOnlyWhatItSet: middleware's cookies and headers
// survive a failed IssueSession; the issuer's do not.
func TestFailedSessionTakesBackOnlyWhatItSet(t *testing.T) {
	r := newRig(t, intune.AuthServiceOpenID)
	h := intune.NewLoginHandler(r.cfg, r.v, r.store, failingSessions{}, intune.WithLogger(quiet))
	middleware := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "lb", Value: "node-2"})
		w.Header().Set("X-Trace", "abc")
		h.ServeHTTP(w, req)
	})
	rec := post(middleware, appBody(r.tenant.Token()))
	assert.Equal(t, http.StatusInternalServerError, rec.Code)
	assert.Equal(t, intune.ErrSessionFailed.ID, decodeErr(t, rec).ID)
	assert.Empty(t, rec.Header().Get("Token"))
	cookies := rec.Header().Values("Set-Cookie")
	assert.Equal(t, []string{"lb=node-2"}, cookies)
	assert.Equal(t, "abc", rec.Header().Get("X-Trace"))
}

// TestRequestsABrowserCouldForge: a cross-site form cannot sign a browser
// in; the app's own headers always pass.
func TestRequestsABrowserCouldForge(t *testing.T) {
	r := newRig(t, intune.AuthServiceOpenID)
	tok := r.tenant.Token()
	tests := []struct {
		name string
		hdr  map[string]string
		ok   bool
	}{
		{"the app", map[string]string{"Content-Type": "application/json", "X-Requested-With": "XMLHttpRequest"}, true},
		{"JSON with a charset", map[string]string{"Content-Type": "application/json; charset=utf-8"}, true},
		{"X-Requested-With alone", map[string]string{"Content-Type": "", "X-Requested-With": "XMLHttpRequest"}, true},
		{"text/plain form", map[string]string{"Content-Type": "text/plain"}, false},
		{"urlencoded form", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, false},
		{"multipart form", map[string]string{"Content-Type": "multipart/form-data; boundary=x"}, false},
		{"no content type", map[string]string{"Content-Type": ""}, false},
		{"JSON look-alike", map[string]string{"Content-Type": "application/jsonp"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r.logs.Reset()
			req := httptest.NewRequest(http.MethodPost, "/oauth/intune", strings.NewReader(appBody(tok)))
			for k, v := range tt.hdr {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			r.handler().ServeHTTP(rec, req)
			if tt.ok {
				assert.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
				return
			}
			assert.Equal(t, http.StatusBadRequest, rec.Code)
			assert.Equal(t, intune.ErrInvalidToken.ID, decodeErr(t, rec).ID)
			assert.Contains(t, r.failureRecord(t)["reason"], "a browser could forge")
		})
	}
}

// TestAnswersTheAppAndHTTPExpect: 401 carries WWW-Authenticate (RFC 6750)
// and nothing else about the failure; only 400 and 401 are retry statuses.
func TestAnswersTheAppAndHTTPExpect(t *testing.T) {
	r := newRig(t, intune.AuthServiceOpenID)
	expired := r.tenant.Token(withExpired())
	rec := post(r.handler(intune.WithRetryStatus(http.StatusUnauthorized)), appBody(expired))
	assert.Equal(t, http.StatusUnauthorized, rec.Code)
	assert.Equal(t, `Bearer error="invalid_token"`, rec.Header().Get("WWW-Authenticate"))
	rec = post(r.handler(), appBody(expired))
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	assert.Empty(t, rec.Header().Get("WWW-Authenticate"))
	for _, code := range []int{200, 403, 418, 500} {
		assert.Panics(t, func() { r.handler(intune.WithRetryStatus(code)) }, "%d", code)
	}
}

// TestNextStepFitsTheReason: the admin's next step follows the reason, not
// only the ID.
func TestNextStepFitsTheReason(t *testing.T) {
	tests := []struct {
		name    string
		rig     func(t *testing.T) (*rig, string, []intune.HandlerOption)
		want    string
		wantNot string
		hdr     []string
	}{
		{"malformed body: client or proxy", func(t *testing.T) (*rig, string, []intune.HandlerOption) {
			r := newRig(t, intune.AuthServiceOpenID)
			return r, `{"access_token":`, nil
		}, "proxy that rewrites request bodies", "Tenant ID", nil},
		{"Entra unreachable: not claims mapping", func(t *testing.T) (*rig, string, []intune.HandlerOption) {
			tenant := newTenant(t)
			tenant.SetKeysHandler(status(http.StatusBadGateway))
			cfg := tenant.Config()
			r := &rig{tenant: tenant, cfg: cfg, v: newValidator(t, cfg, intune.WithKeyRefresh(time.Hour, time.Hour)),
				store: it.NewStore(), sessions: &it.Sessions{}, logs: &bytes.Buffer{}, logMu: &sync.Mutex{}}
			return r, appBody(tenant.Token()), nil
		}, "https", "claims-mapping", nil},
		{"unknown key: claims mapping", func(t *testing.T) (*rig, string, []intune.HandlerOption) {
			r := newRig(t, intune.AuthServiceOpenID)
			return r, appBody(r.tenant.Token(it.WithKey(it.NewKey()))), nil
		}, "claims-mapping", "", nil},
		{"no oid, host without IdAttribute", func(t *testing.T) (*rig, string, []intune.HandlerOption) {
			r := newRig(t, intune.AuthServiceOpenID)
			return r, appBody(r.tenant.Token(it.WithoutClaim("oid"))), nil
		}, "accessTokenAcceptedVersion = 2", "IdAttribute", nil},
		{"no oid, Mattermost-like host", func(t *testing.T) (*rig, string, []intune.HandlerOption) {
			r := newRig(t, intune.AuthServiceOpenID)
			return r, appBody(r.tenant.Token(it.WithoutClaim("oid"))), []intune.HandlerOption{intune.WithIDAttribute("IdAttribute")}
		}, "Set IdAttribute = objectId", "", nil},
		{"the App Store app, not in the allow-list", func(t *testing.T) (*rig, string, []intune.HandlerOption) {
			r := newRig(t, intune.AuthServiceOpenID)
			r.cfg.AllowedClientIDs = []string{intune.MobileClientBeta}
			r.v = newValidator(t, r.cfg)
			return r, appBody(r.tenant.Token(it.WithClaim("azp", intune.MobileClientRelease))), nil
		}, "official Mattermost app's release build (client " + intune.MobileClientRelease + "), which AllowedClientIDs lacks", "Tenant ID", nil},
		{"an unknown client, not in the allow-list", func(t *testing.T) (*rig, string, []intune.HandlerOption) {
			r := newRig(t, intune.AuthServiceOpenID)
			r.cfg.AllowedClientIDs = []string{intune.MobileClientBeta}
			r.v = newValidator(t, r.cfg)
			return r, appBody(r.tenant.Token(it.WithClaim("azp", "0d9f2a4b-1c3e-4f5a-8b7c-6d5e4f3a2b1c"))), nil
		}, "Tenant ID", "official Mattermost app", nil},
		{"v1 token", func(t *testing.T) (*rig, string, []intune.HandlerOption) {
			r := newRig(t, intune.AuthServiceOpenID)
			return r, appBody(r.tenant.Token(it.WithClaim("ver", "1.0"))), nil
		}, "accessTokenAcceptedVersion = 2", "IdAttribute", nil},
		{"server clock behind", func(t *testing.T) (*rig, string, []intune.HandlerOption) {
			r := newRig(t, intune.AuthServiceOpenID)
			return r, appBody(r.tenant.Token(it.WithClaim("nbf", time.Now().Add(time.Hour).Unix()))), nil
		}, "NTP", "", nil},
		{"forged request", func(t *testing.T) (*rig, string, []intune.HandlerOption) {
			r := newRig(t, intune.AuthServiceOpenID)
			return r, appBody(r.tenant.Token()), nil
		}, "login CSRF", "", []string{"Content-Type", "text/plain"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, body, opts := tt.rig(t)
			post(r.handler(opts...), body, tt.hdr...)
			next := fmt.Sprint(r.failureRecord(t)["next_step"])
			assert.Contains(t, next, tt.want)
			if tt.wantNot != "" {
				assert.NotContains(t, next, tt.wantNot)
			}
		})
	}
}

// TestFailureLogsCannotFillTheDisk: past the limit, records are dropped and
// a summary with their count follows; events still see every failure.
func TestFailureLogsCannotFillTheDisk(t *testing.T) {
	defer intune.SetDropSummaryEvery(20 * time.Millisecond)()
	r := newRig(t, intune.AuthServiceOpenID)
	var events atomic.Int64
	h := r.handler(intune.WithFailureLogLimit(1, 5), intune.WithEvents(func(intune.SignInEvent) { events.Add(1) }))
	defer h.Close()
	for range 500 {
		post(h, `{"access_token":"garbage"}`)
	}
	count := func(msg string) (n int, dropped float64) {
		for _, m := range r.logLines(t) {
			if m["msg"] == msg {
				n++
				if d, ok := m["dropped"].(float64); ok {
					dropped += d
				}
			}
		}
		return n, dropped
	}
	logged, _ := count("intune: sign-in failed")
	assert.LessOrEqual(t, logged, 7, "the burst, and maybe one more")
	waitFor(t, "the summary of dropped records", func() bool {
		_, dropped := count("intune: sign-in failure records dropped: more failures than the log limit")
		return int(dropped)+logged == 500
	})
	waitFor(t, "every event", func() bool { return events.Load() == 500 })
}

// TestSuccessLogLevel: a successful sign-in is logged at the host's level.
func TestSuccessLogLevel(t *testing.T) {
	r := newRig(t, intune.AuthServiceOpenID)
	require.Equal(t, http.StatusOK, post(r.handler(), appBody(r.tenant.Token())).Code)
	assert.NotContains(t, r.logs.String(), "signed in", "Debug by default, below the log's Info")
	require.Equal(t, http.StatusOK, post(r.handler(intune.WithSuccessLevel(slog.LevelInfo)), appBody(r.tenant.Token())).Code)
	assert.Contains(t, r.logs.String(), "intune: signed in")
}

// TestSignInEvents: one event per attempt with what metrics and audit need;
// a slow or panicking receiver never blocks or fails a sign-in.
func TestSignInEvents(t *testing.T) {
	r := newRig(t, intune.AuthServiceOpenID)
	got := make(chan intune.SignInEvent, 10)
	h := r.handler(intune.WithEvents(func(e intune.SignInEvent) { got <- e }))
	defer h.Close()
	require.Equal(t, http.StatusOK, post(h, appBody(r.tenant.Token())).Code)
	post(h, appBody(r.tenant.Token(withExpired())))
	post(h, appBody(r.tenant.Token(it.WithKey(it.NewKey()), it.WithClaim("tid", "claimed-tid"))))

	ok := <-got
	assert.Equal(t, intune.OutcomeSuccess, ok.Outcome)
	assert.Equal(t, http.StatusOK, ok.Status)
	assert.Equal(t, intune.AuthServiceOpenID, ok.Provider)
	assert.True(t, ok.HasDeviceID)
	assert.False(t, ok.HasVoIPDeviceID)
	assert.NotEmpty(t, ok.UserID)
	assert.True(t, ok.Created)
	assert.True(t, ok.Token.Verified)
	assert.Equal(t, it.UserOID, ok.Token.ObjectID)
	assert.Positive(t, ok.Duration)

	expired := <-got
	assert.Equal(t, intune.ErrTokenExpired.ID, expired.Outcome)
	assert.True(t, expired.Token.Verified)
	assert.Contains(t, expired.Reason, "expired at")

	unknown := <-got
	assert.Equal(t, intune.ErrInvalidToken.ID, unknown.Outcome)
	assert.False(t, unknown.Token.Verified, "an unknown key's claims are not facts")
	assert.Equal(t, "claimed-tid", unknown.Token.TenantID)

	t.Run("slow and panicking receivers", func(t *testing.T) {
		block := make(chan struct{})
		defer close(block)
		slow := r.handler(intune.WithEvents(func(intune.SignInEvent) { <-block }))
		defer slow.Close()
		for range 1100 {
			post(slow, `{"access_token":"x"}`) // returns although the receiver never does
		}
		assert.Positive(t, slow.EventsDropped())

		var n atomic.Int64
		panicky := r.handler(intune.WithEvents(func(intune.SignInEvent) {
			if n.Add(1) == 1 {
				panic("receiver bug")
			}
		}))
		defer panicky.Close()
		assert.Equal(t, http.StatusOK, post(panicky, appBody(r.tenant.Token())).Code)
		assert.Equal(t, http.StatusOK, post(panicky, appBody(r.tenant.Token())).Code)
		waitFor(t, "the event after the panic", func() bool { return n.Load() == 2 })
		waitFor(t, "the panic logged", func() bool {
			r.logMu.Lock()
			defer r.logMu.Unlock()
			return strings.Contains(r.logs.String(), "receiver panicked")
		})
	})
}

// TestTypedNilAppErrorFromTheStore: a store that returns a nil *AppError as
// its error is answered (a 500, logged), not a panic.
func TestTypedNilAppErrorFromTheStore(t *testing.T) {
	r := newRig(t, intune.AuthServiceOpenID)
	var none *intune.AppError
	s := storeFunc{Store: r.store, lookup: func(context.Context, intune.AuthService, string) (*intune.User, error) {
		return &intune.User{ID: "u1"}, none
	}}
	h := intune.NewLoginHandler(r.cfg, r.v, s, r.sessions, intune.WithLogger(quiet))
	rec := post(h, appBody(r.tenant.Token()))
	assert.Equal(t, http.StatusInternalServerError, rec.Code)
	assert.Equal(t, intune.ErrStoreFailed.ID, decodeErr(t, rec).ID)

	// The same from CreateUser, and the re-read after it fails too: the
	// reason keeps both halves.
	lookups := 0
	s = storeFunc{Store: r.store,
		lookup: func(context.Context, intune.AuthService, string) (*intune.User, error) {
			if lookups++; lookups == 1 {
				return nil, intune.ErrUserNotFound
			}
			return nil, errors.New("db connection reset")
		},
		create: func(context.Context, intune.AuthService, *intune.Claims) (*intune.User, error) { return nil, none },
	}
	events := make(chan intune.SignInEvent, 1)
	h = intune.NewLoginHandler(r.cfg, r.v, s, r.sessions, intune.WithLogger(quiet),
		intune.WithEvents(func(ev intune.SignInEvent) { events <- ev }))
	t.Cleanup(func() { _ = h.Close() })
	rec = post(h, appBody(r.tenant.Token()))
	assert.Equal(t, http.StatusInternalServerError, rec.Code)
	ev := <-events
	assert.Contains(t, ev.Reason, "returned a nil *AppError")
	assert.Contains(t, ev.Reason, "re-reading it failed too: db connection reset")
}

// contentTypeSessions is an issuer that sets a Content-Type of its own.
type contentTypeSessions struct{}

func (contentTypeSessions) IssueSession(_ context.Context, w http.ResponseWriter, _ *http.Request, _ *intune.SignIn) error {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	return nil
}

// TestSuccessIsAlwaysJSON: whatever the session issuer does to the
// headers, the user JSON goes out as JSON.
func TestSuccessIsAlwaysJSON(t *testing.T) {
	r := newRig(t, intune.AuthServiceOpenID)
	h := intune.NewLoginHandler(r.cfg, r.v, r.store, contentTypeSessions{}, intune.WithLogger(quiet))
	rec := post(h, appBody(r.tenant.Token()))
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Equal(t, []string{"application/json"}, rec.Header().Values("Content-Type"))
}

// TestSetConfigAfterClose: a closed handler builds no Validator that would
// never be closed, and reuses none it closed.
func TestSetConfigAfterClose(t *testing.T) {
	r := newRig(t, intune.AuthServiceOpenID)
	h := r.handler()
	require.NoError(t, h.Close())
	assert.Error(t, h.SetConfig(t.Context(), r.cfg))
	assert.Equal(t, http.StatusOK, post(h, appBody(r.tenant.Token())).Code, "sign-ins are still answered")
}
