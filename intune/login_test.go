package intune_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mamlogin/mamlogin/intune"
	it "github.com/mamlogin/mamlogin/intune/intunetest"
)

// rig is a login handler on a fake tenant with an in-memory store.
type rig struct {
	tenant   *it.Tenant
	cfg      intune.Config
	v        *intune.Validator
	store    *it.Store
	sessions *it.Sessions
	logs     *bytes.Buffer
	logMu    *sync.Mutex
	opts     []intune.HandlerOption
}

func newRig(t testing.TB, service intune.AuthService) *rig {
	t.Helper()
	tenant := newTenant(t)
	cfg := tenant.Config()
	cfg.AuthService = service
	return &rig{tenant: tenant, cfg: cfg, v: newValidator(t, cfg), store: it.NewStore(),
		sessions: &it.Sessions{}, logs: &bytes.Buffer{}, logMu: &sync.Mutex{}}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (r *rig) handler(extra ...intune.HandlerOption) *intune.LoginHandler {
	log := slog.New(slog.NewJSONHandler(lockedWriter{r.logMu, r.logs}, nil))
	opts := append([]intune.HandlerOption{intune.WithLogger(log)}, r.opts...)
	return intune.NewLoginHandler(r.cfg, r.v, r.store, r.sessions, append(opts, extra...)...)
}

// appBody is the body the shipping app sends.
func appBody(token string) string { return it.NewAppLogin(token).JSON() }

func post(h http.Handler, body string, hdr ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/oauth/intune", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func decodeErr(t *testing.T, rec *httptest.ResponseRecorder) it.AppErrorBody {
	t.Helper()
	e, err := it.DecodeAppError(rec.Body.Bytes())
	require.NoError(t, err, rec.Body.String())
	return e
}

// scenarios reach every row of errors.tsv through the handler.
func scenarios() map[string]func(t *testing.T) (*rig, string, []intune.HandlerOption) {
	other := "0d9f2a4b-1c3e-4f5a-8b7c-6d5e4f3a2b1c"
	return map[string]func(t *testing.T) (*rig, string, []intune.HandlerOption){
		"api.user.login_by_intune.not_available.app_error": func(t *testing.T) (*rig, string, []intune.HandlerOption) {
			r := newRig(t, intune.AuthServiceOpenID)
			return r, r.tenant.Token(), []intune.HandlerOption{intune.WithAvailability(func(context.Context) bool { return false })}
		},
		// The VoIP id is not <platform>:<token>: a body fault (the test posts its body).
		"api.context.invalid_param.app_error": func(t *testing.T) (*rig, string, []intune.HandlerOption) {
			r := newRig(t, intune.AuthServiceOpenID)
			return r, r.tenant.Token(), nil
		},
		"api.user.login_by_intune.not_configured.app_error": func(t *testing.T) (*rig, string, []intune.HandlerOption) {
			r := newRig(t, intune.AuthServiceOpenID)
			r.cfg.Enable = false
			return r, r.tenant.Token(), nil
		},
		"api.user.login_by_intune.bot_login_forbidden.app_error": func(t *testing.T) (*rig, string, []intune.HandlerOption) {
			r := newRig(t, intune.AuthServiceOpenID)
			r.store.Add(intune.AuthServiceOpenID, it.UserOID, it.Profile{IsBot: true})
			return r, r.tenant.Token(), nil
		},
		"api.user.login_by_intune.account_locked.app_error": func(t *testing.T) (*rig, string, []intune.HandlerOption) {
			r := newRig(t, intune.AuthServiceSAML)
			r.store.Add(intune.AuthServiceSAML, it.UserOID, it.Profile{DeleteAt: 1})
			return r, r.tenant.Token(), nil
		},
		"ent.intune.login.not_configured.app_error": func(t *testing.T) (*rig, string, []intune.HandlerOption) {
			r := newRig(t, intune.AuthServiceSAML)
			return r, r.tenant.Token(), []intune.HandlerOption{intune.WithProviderCheck(func(_ context.Context, s intune.AuthService) bool { return s != intune.AuthServiceSAML })}
		},
		"ent.intune.login.extract_auth_data.app_error": func(t *testing.T) (*rig, string, []intune.HandlerOption) {
			r := newRig(t, intune.AuthServiceOpenID)
			return r, r.tenant.Token(it.WithClaim("ver", "1.0"), it.WithClaim("iss", "https://sts.windows.net/"+it.TenantID+"/")), nil
		},
		"ent.intune.login.account_not_found.app_error": func(t *testing.T) (*rig, string, []intune.HandlerOption) {
			r := newRig(t, intune.AuthServiceSAML)
			return r, r.tenant.Token(), nil
		},
		"ent.intune.validate_token.invalid_token.app_error": func(t *testing.T) (*rig, string, []intune.HandlerOption) {
			r := newRig(t, intune.AuthServiceOpenID)
			return r, r.tenant.Token(it.WithClaim("aud", other)), nil
		},
		"ent.intune.validate_token.token_expired.app_error": func(t *testing.T) (*rig, string, []intune.HandlerOption) {
			r := newRig(t, intune.AuthServiceOpenID)
			return r, r.tenant.Token(withExpired()), nil
		},
		"ent.intune.validate_token.missing_claims.app_error": func(t *testing.T) (*rig, string, []intune.HandlerOption) {
			r := newRig(t, intune.AuthServiceOpenID)
			return r, r.tenant.Token(it.WithoutClaim("oid")), nil
		},
		"ent.intune.validate_token.invalid_tenant_id.app_error": func(t *testing.T) (*rig, string, []intune.HandlerOption) {
			r := newRig(t, intune.AuthServiceOpenID)
			return r, r.tenant.Token(it.WithClaim("tid", other)), nil
		},
		"ent.intune.validate_token.jwks_init.app_error": func(t *testing.T) (*rig, string, []intune.HandlerOption) {
			// Entra unreachable since start-up: the validator never held keys.
			tenant := newTenant(t)
			tenant.SetKeysHandler(status(http.StatusServiceUnavailable))
			cfg := tenant.Config()
			r := &rig{tenant: tenant, cfg: cfg, v: newValidator(t, cfg, intune.WithKeyRefresh(time.Hour, time.Hour)),
				store: it.NewStore(), sessions: &it.Sessions{}, logs: &bytes.Buffer{}, logMu: &sync.Mutex{}}
			return r, tenant.Token(), nil
		},
	}
}

// TestLoginEveryCatalogRow: each row of errors.tsv is reachable end to end and
// answers with its ID, status and exact message; in the app-compatible mode
// the `retry once` rows answer 401 with the same ID, message and body.
func TestLoginEveryCatalogRow(t *testing.T) { answersEveryCatalogRow(t) }

// answersEveryCatalogRow is TestLoginEveryCatalogRow's body, also run with
// every sentinel changed (TestSentinelsCannotChangeAnswers): it names rows
// by errors.tsv's IDs, never by the sentinels' contents.
func answersEveryCatalogRow(t *testing.T) {
	scen := scenarios()
	for _, mode := range []struct {
		name  string
		retry int
	}{{"documented", 0}, {"app-compatible 401", http.StatusUnauthorized}} {
		for _, row := range catalogRows(t) {
			t.Run(mode.name+"/"+row["id"], func(t *testing.T) {
				setup, ok := scen[row["id"]]
				require.True(t, ok, "no scenario reaches this row")
				r, tok, opts := setup(t)
				if mode.retry != 0 {
					opts = append(opts, intune.WithRetryStatus(mode.retry))
				}
				body := appBody(tok)
				if row["id"] == "api.context.invalid_param.app_error" {
					body = `{"device_id":"apple_rn-v2:4f1c","voip_device_id":"no-platform-here","access_token":"` + tok + `"}`
				}
				rec := post(r.handler(opts...), body, "X-Request-ID", "req-"+strconv.Itoa(len(row["id"])))
				want, _ := strconv.Atoi(row["http"])
				if mode.retry != 0 && row["retry"] == "once" {
					want = mode.retry
				}
				assert.Equal(t, want, rec.Code)
				e := decodeErr(t, rec)
				msg := row["user_message"]
				if msg == "(silent)" {
					msg = ""
				}
				assert.Equal(t, row["id"], e.ID)
				assert.Equal(t, msg, e.Message)
				assert.Equal(t, want, e.StatusCode)
				assert.Equal(t, "", e.DetailedError)
				assert.Equal(t, "req-"+strconv.Itoa(len(row["id"])), e.RequestID)
				assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
				assert.Empty(t, rec.Header().Get("Token"), "no session on failure")
				assert.Empty(t, r.sessions.SignIns())

				// One admin record, with cause, next step, reason; never the token.
				logs := r.logs.String()
				assert.Equal(t, 1, strings.Count(logs, "sign-in failed"), logs)
				var rec1 map[string]any
				require.NoError(t, json.Unmarshal([]byte(strings.TrimSpace(logs)), &rec1))
				assert.Equal(t, row["id"], rec1["error_id"])
				assert.Equal(t, row["admin_cause"], rec1["cause"])
				assert.NotEmpty(t, rec1["next_step"], "the catalog's, or one that fits the reason (TestNextStepFitsTheReason)")
				assert.NotEmpty(t, rec1["reason"])
				assert.NotContains(t, logs, tok)
				assert.NotContains(t, logs, strings.Split(tok, ".")[2], "not even the signature")
			})
		}
	}
}

func TestLoginOpenIDCreatesUserJIT(t *testing.T) {
	for _, svc := range []intune.AuthService{intune.AuthServiceOpenID, intune.AuthServiceOffice365} {
		t.Run(string(svc), func(t *testing.T) {
			r := newRig(t, svc)
			rec := post(r.handler(), appBody(r.tenant.Token()))
			require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
			var p it.Profile
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &p))
			assert.NotEmpty(t, p.ID)
			assert.Equal(t, string(svc), p.AuthService)
			assert.Equal(t, it.UserOID, p.AuthData)
			assert.Equal(t, it.DefaultUser.Email, p.Email)
			assert.EqualValues(t, 1, r.store.Creates.Load())
			assert.Equal(t, "session-"+p.ID, rec.Header().Get("Token"))
			assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))

			// The second sign-in finds the user and syncs it instead.
			rec = post(r.handler(), appBody(r.tenant.Token()))
			require.Equal(t, http.StatusOK, rec.Code)
			assert.EqualValues(t, 1, r.store.Creates.Load())
			assert.EqualValues(t, 1, r.store.Syncs.Load())
			assert.Equal(t, 1, r.store.Len())
		})
	}
}

func TestLoginSAMLSignsInExistingUserAndSyncs(t *testing.T) {
	r := newRig(t, intune.AuthServiceSAML)
	u := r.store.Add(intune.AuthServiceSAML, it.UserOID, it.Profile{Email: "old@contoso.com", Username: "old"})
	body := appBody(r.tenant.Token(it.WithClaim("email", "new@contoso.com")))
	rec := post(r.handler(), body)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	var p it.Profile
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &p))
	assert.Equal(t, u.ID, p.ID)
	assert.Equal(t, "saml", p.AuthService)
	assert.Equal(t, "new@contoso.com", p.Email, "attributes synced at login")
	assert.EqualValues(t, 0, r.store.Creates.Load())

	stored := r.store.User(intune.AuthServiceSAML, it.UserOID)
	assert.Equal(t, "new@contoso.com", stored.Profile.(it.Profile).Email, "the synced profile is stored")
	require.Equal(t, http.StatusOK, post(r.handler(), body).Code)
	assert.Same(t, stored, r.store.User(intune.AuthServiceSAML, it.UserOID), "a sync that changes nothing writes nothing")
	assert.EqualValues(t, 2, r.store.Syncs.Load())
}

// Identity is oid alone: a user with the same email but another oid is not found.
func TestLoginIdentityIsObjectIDOnly(t *testing.T) {
	r := newRig(t, intune.AuthServiceSAML)
	r.store.Add(intune.AuthServiceSAML, "11111111-2222-3333-4444-555555555555", it.Profile{Email: it.DefaultUser.Email})
	rec := post(r.handler(), appBody(r.tenant.Token()))
	assert.Equal(t, http.StatusPreconditionRequired, rec.Code)
	assert.Equal(t, intune.ErrAccountNotFound.ID, decodeErr(t, rec).ID)
	// Nor does a user of the same oid under another provider.
	r.store.Add(intune.AuthServiceOpenID, it.UserOID, it.Profile{})
	rec = post(r.handler(), appBody(r.tenant.Token()))
	assert.Equal(t, http.StatusPreconditionRequired, rec.Code)
}

func TestLoginDeviceIDsReachSessionIssuer(t *testing.T) {
	r := newRig(t, intune.AuthServiceOpenID)
	body := `{"device_id":"apple_rn-v2:abc123","voip_device_id":"apple_voip:def456","access_token":"` + r.tenant.Token() + `","new_field_from_a_newer_app":{"x":[1,2]}}`
	rec := post(r.handler(), body)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	s := r.sessions.SignIns()
	require.Len(t, s, 1)
	assert.Equal(t, "apple_rn-v2:abc123", s[0].DeviceID)
	assert.Equal(t, "apple_voip:def456", s[0].VoIPDeviceID)
	assert.Equal(t, it.UserOID, s[0].Claims.ObjectID)
	assert.NotNil(t, s[0].User)

	// Absent and null device ids are fine.
	rec = post(r.handler(), `{"access_token":"`+r.tenant.Token()+`","device_id":null}`)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Equal(t, "", r.sessions.SignIns()[1].DeviceID)
}

// A body that is not what the app sends is invalid_param, 400 whatever the
// retry status (a fresh MSAL token would not help); a token that is not a
// token is invalid_token, which the retry status governs.
func TestLoginBadBodies(t *testing.T) {
	r := newRig(t, intune.AuthServiceOpenID)
	tok := r.tenant.Token()
	long := strings.Repeat("a", intune.MaxDeviceIDLen+1)
	longName := strings.Repeat("N", 8<<10)
	param, token := intune.ErrInvalidParam.ID, intune.ErrInvalidToken.ID
	tests := []struct {
		name, body, want string
		reason           string // a part of the logged reason
	}{
		{"empty", ``, param, "request body"},
		{"not JSON", `access_token=` + tok, param, "request body"},
		{"array", `["` + tok + `"]`, param, "request body"},
		{"no access_token", `{"device_id":"x"}`, param, "no access_token"},
		{"empty access_token", `{"access_token":""}`, param, "no access_token"},
		{"token not a string", `{"access_token":42}`, param, "request body"},
		{"duplicate token", `{"access_token":"x","access_token":"` + tok + `"}`, param, "twice"},
		{"device id too long", `{"access_token":"` + tok + `","device_id":"` + long + `"}`, param, "device_id is"},
		{"voip id too long", `{"access_token":"` + tok + `","voip_device_id":"` + long + `"}`, param, "voip_device_id is"},
		{"oversized body", `{"access_token":"` + tok + `","pad":"` + strings.Repeat("x", intune.MaxBodyBytes) + `"}`, param, "bound"},
		{"trailing garbage", `{"access_token":"` + tok + `"} {}`, param, "request body"},
		{"device id an object", `{"access_token":"` + tok + `","device_id":{}}`, param, "request body"},
		{"device id an object with a long name twice", `{"access_token":"` + tok + `","device_id":{"` + longName + `":1,"` + longName + `":2}}`, param, "appears twice"},
		{"device id with invalid UTF-8", `{"access_token":"` + tok + "\",\"device_id\":\"apple_rn-v2:\xff\"}", param, "request body: not valid JSON: invalid UTF-8"},
		{"device id with a NUL", `{"access_token":"` + tok + `","device_id":"apple_rn-v2:\u0000x"}`, param, "control character"},
		{"device id with a newline", `{"access_token":"` + tok + `","device_id":"apple_rn-v2:\nx"}`, param, "control character"},
		{"voip id without a platform", `{"access_token":"` + tok + `","voip_device_id":":abc"}`, param, "no platform"},
		{"voip id without a token", `{"access_token":"` + tok + `","voip_device_id":"apple_voip:"}`, param, "no token"},
		{"voip id without a colon", `{"access_token":"` + tok + `","voip_device_id":"abcdef"}`, param, "no ':'"},
		{"voip platform with a space", `{"access_token":"` + tok + `","voip_device_id":"apple voip:abc"}`, param, "platform has a character"},
		{"bearer-prefixed", `{"access_token":"Bearer ` + tok + `"}`, token, ""},
		{"token with newline", `{"access_token":"` + tok + `\n"}`, token, ""},
	}
	for _, retry := range []int{http.StatusBadRequest, http.StatusUnauthorized} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%d/%s", retry, tt.name), func(t *testing.T) {
				r.logs.Reset()
				rec := post(r.handler(intune.WithRetryStatus(retry)), tt.body)
				want := http.StatusBadRequest
				if tt.want == token {
					want = retry
				}
				assert.Equal(t, want, rec.Code)
				assert.Equal(t, tt.want, decodeErr(t, rec).ID)
				assert.Contains(t, r.logs.String(), tt.reason)
				assert.NotContains(t, r.logs.String(), "abcdef", "a device id is not logged")
				assert.Less(t, r.logs.Len(), 4<<10, "one bounded record: %.300s", r.logs.String())
			})
		}
	}
	assert.Empty(t, r.sessions.SignIns())
}

// failingBody is a request body whose connection breaks after its first
// bytes.
type failingBody struct{ sent bool }

func (b *failingBody) Read(p []byte) (int, error) {
	if !b.sent {
		b.sent = true
		return copy(p, `{"access_token":"`), nil
	}
	return 0, errors.New("connection reset by peer")
}

// The body is read straight into the JSON decoder: its declared length, its
// bound and its connection's errors are still told apart from its JSON.
func TestLoginBodyLength(t *testing.T) {
	r := newRig(t, intune.AuthServiceOpenID)
	body := appBody(r.tenant.Token())
	oversized := `{"access_token":"x","pad":"` + strings.Repeat("x", intune.MaxBodyBytes) + `"}`
	tests := []struct {
		name     string
		body     io.Reader
		declared int64 // -1: not declared (chunked)
		status   int
		reason   string // a part of the logged reason
	}{
		{"as declared", strings.NewReader(body), int64(len(body)), http.StatusOK, ""},
		{"not declared", strings.NewReader(body), -1, http.StatusOK, ""},
		{"longer than declared", strings.NewReader(body + "  "), int64(len(body)), http.StatusBadRequest, "longer than its Content-Length"},
		{"shorter than declared", strings.NewReader(body), int64(len(body)) + 5, http.StatusBadRequest, "shorter than its Content-Length"},
		{"over the bound, not declared", strings.NewReader(oversized), -1, http.StatusBadRequest, "bound"},
		{"over the bound, declared", strings.NewReader(oversized), int64(len(oversized)), http.StatusBadRequest, "bound"},
		{"connection fails", &failingBody{}, 500, http.StatusBadRequest, "connection reset by peer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r.logs.Reset()
			req := httptest.NewRequest(http.MethodPost, "/oauth/intune", io.NopCloser(tt.body))
			req.Header.Set("Content-Type", "application/json")
			req.ContentLength = tt.declared
			rec := httptest.NewRecorder()
			r.handler().ServeHTTP(rec, req)
			require.Equal(t, tt.status, rec.Code, rec.Body.String())
			if tt.status != http.StatusOK {
				assert.Equal(t, intune.ErrInvalidParam.ID, decodeErr(t, rec).ID)
				assert.Contains(t, r.logs.String(), tt.reason)
			}
		})
	}
}

func TestLoginWrongMethod(t *testing.T) {
	r := newRig(t, intune.AuthServiceOpenID)
	for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodDelete, http.MethodOptions} {
		req := httptest.NewRequest(m, "/oauth/intune", nil)
		rec := httptest.NewRecorder()
		r.handler().ServeHTTP(rec, req)
		assert.Equal(t, http.StatusMethodNotAllowed, rec.Code, m)
		assert.Equal(t, http.MethodPost, rec.Header().Get("Allow"))
	}
	assert.Empty(t, r.logs.String(), "not logged as a sign-in failure")
}

func TestLoginStoreAndSessionFailuresAre500(t *testing.T) {
	t.Run("lookup fails", func(t *testing.T) {
		r := newRig(t, intune.AuthServiceSAML)
		r.store.Fail(errors.New("connection refused"))
		rec := post(r.handler(), appBody(r.tenant.Token()))
		assert.Equal(t, http.StatusInternalServerError, rec.Code)
		e := decodeErr(t, rec)
		assert.Equal(t, intune.ErrStoreFailed.ID, e.ID, "never a false account_not_found")
		assert.NotContains(t, rec.Body.String(), "connection refused")
		assert.Contains(t, r.logs.String(), "connection refused", "the admin sees it")
	})
	t.Run("session fails", func(t *testing.T) {
		r := newRig(t, intune.AuthServiceOpenID)
		r.sessions.Err = errors.New("session table full")
		rec := post(r.handler(), appBody(r.tenant.Token()))
		assert.Equal(t, http.StatusInternalServerError, rec.Code)
		assert.Equal(t, intune.ErrSessionFailed.ID, decodeErr(t, rec).ID)
		assert.Empty(t, rec.Header().Get("Token"), "a half-made session is not handed out")
	})
}

// TestLoginConcurrentFirstSignIns: the app's retry and a second device sign
// in a new OpenID user at once; all succeed, one user is created.
func TestLoginConcurrentFirstSignIns(t *testing.T) {
	r := newRig(t, intune.AuthServiceOpenID)
	const n = 16
	lineUpCreates(r.store, n)
	h := r.handler()
	tok := r.tenant.Token()
	var wg sync.WaitGroup
	codes := make([]int, n)
	ids := make([]string, n)
	for i := range n {
		wg.Go(func() {
			rec := post(h, appBody(tok))
			codes[i] = rec.Code
			var p it.Profile
			_ = json.Unmarshal(rec.Body.Bytes(), &p)
			ids[i] = p.ID
		})
	}
	wg.Wait()
	for i := range n {
		assert.Equal(t, http.StatusOK, codes[i])
		assert.Equal(t, ids[0], ids[i], "everyone got the same user")
	}
	assert.Equal(t, 1, r.store.Len())
	assert.EqualValues(t, 1, r.store.Creates.Load())
}

func TestLoginRequestID(t *testing.T) {
	r := newRig(t, intune.AuthServiceOpenID)
	rec := post(r.handler(), `{}`, "X-Request-ID", "abc-123")
	assert.Equal(t, "abc-123", decodeErr(t, rec).RequestID)
	assert.Equal(t, "abc-123", rec.Header().Get("X-Request-ID"))
	rec = post(r.handler(), `{}`, "X-Request-ID", "bad id\nwith newline")
	id := decodeErr(t, rec).RequestID
	assert.Len(t, id, 26, "a made-up id replaces an unsafe one")
	rec = post(r.handler(), `{}`)
	assert.Len(t, decodeErr(t, rec).RequestID, 26)
}

func TestLoginLogsTokenFacts(t *testing.T) {
	r := newRig(t, intune.AuthServiceOpenID)
	other := "0d9f2a4b-1c3e-4f5a-8b7c-6d5e4f3a2b1c"
	post(r.handler(), appBody(r.tenant.Token(it.WithClaim("aud", other))))
	var rec map[string]any
	require.NoError(t, json.Unmarshal(r.logs.Bytes(), &rec))
	tok := rec["token"].(map[string]any)
	assert.Equal(t, it.TenantID, tok["tid"])
	assert.Equal(t, it.UserOID, tok["oid"])
	assert.Equal(t, other, tok["aud"])
	assert.Equal(t, it.MobileClientID, tok["azp"])
	assert.Equal(t, r.tenant.SigningKey().ID, tok["kid"])
	assert.NotZero(t, tok["exp"])
	assert.Contains(t, rec["reason"], `aud is "`+other+`"`)
}

// TestLoginMessagesLocalised: the host translates user messages by the
// request's Accept-Language; an unknown language keeps the English text.
func TestLoginMessagesLocalised(t *testing.T) {
	de := map[string]string{
		intune.ErrTokenExpired.ID: "Ihre Anmeldesitzung ist abgelaufen. Bitte melden Sie sich erneut an.",
	}
	msgs := intune.WithMessages(func(r *http.Request, id, english string) string {
		if strings.HasPrefix(r.Header.Get("Accept-Language"), "de") {
			return de[id]
		}
		return ""
	})
	r := newRig(t, intune.AuthServiceOpenID)
	tok := r.tenant.Token(withExpired())
	rec := post(r.handler(msgs), appBody(tok), "Accept-Language", "de-DE,de;q=0.9")
	assert.Equal(t, de[intune.ErrTokenExpired.ID], decodeErr(t, rec).Message)
	assert.Equal(t, intune.ErrTokenExpired.ID, decodeErr(t, rec).ID)

	rec = post(r.handler(msgs), appBody(tok), "Accept-Language", "tlh")
	assert.Equal(t, intune.ErrTokenExpired.Message, decodeErr(t, rec).Message)

	// Silent rows are silent unless the host gives them text, as the real
	// server does.
	r.cfg.Enable = false
	rec = post(r.handler(), appBody(tok))
	assert.Equal(t, "", decodeErr(t, rec).Message)
	loud := intune.WithMessages(func(_ *http.Request, id, english string) string {
		if id == intune.ErrNotConfigured.ID && english == "" {
			return "Microsoft Intune authentication is not configured."
		}
		return ""
	})
	rec = post(r.handler(loud), appBody(tok))
	assert.Equal(t, "Microsoft Intune authentication is not configured.", decodeErr(t, rec).Message)
}

func TestLoginNilValidatorWhileDisabled(t *testing.T) {
	h := intune.NewLoginHandler(intune.Config{}, nil, it.NewStore(), &it.Sessions{}, intune.WithLogger(quiet))
	rec := post(h, appBody("x.y.z"))
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	assert.Equal(t, intune.ErrNotConfigured.ID, decodeErr(t, rec).ID)
}

// badProfileStore returns a user whose profile cannot be written as JSON.
type badProfileStore struct{ *it.Store }

func (s badProfileStore) UserByObjectID(context.Context, intune.AuthService, string) (*intune.User, error) {
	return &intune.User{ID: "u1", Profile: func() {}}, nil
}
func (s badProfileStore) SyncUser(_ context.Context, u *intune.User, _ *intune.Claims) (*intune.User, error) {
	return u, nil
}

// A response body that cannot be made fails the sign-in before any session
// is issued: no Token header, no cookies, the request's id in the answer.
func TestLoginUnmarshalableProfileIssuesNoSession(t *testing.T) {
	r := newRig(t, intune.AuthServiceOpenID)
	h := intune.NewLoginHandler(r.cfg, r.v, badProfileStore{r.store}, r.sessions, intune.WithLogger(quiet))
	rec := post(h, appBody(r.tenant.Token()), "X-Request-ID", "rid-1")
	assert.Equal(t, http.StatusInternalServerError, rec.Code)
	e := decodeErr(t, rec)
	assert.Equal(t, intune.ErrStoreFailed.ID, e.ID)
	assert.Equal(t, "rid-1", e.RequestID)
	assert.Empty(t, rec.Header().Get("Token"))
	assert.Empty(t, rec.Header().Values("Set-Cookie"))
	assert.Empty(t, r.sessions.SignIns(), "IssueSession was never called")
}
