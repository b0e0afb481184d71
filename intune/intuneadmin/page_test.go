package intuneadmin_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mamlogin/mamlogin/intune"
	"github.com/mamlogin/mamlogin/intune/intuneadmin"
	"github.com/mamlogin/mamlogin/intune/intunetest"
)

// fixture is a page over a fake tenant, with a user store holding Alice and
// a log the tests read.
type fixture struct {
	tenant *intunetest.Tenant
	store  *intunetest.Store
	alice  *intune.User
	page   *intuneadmin.Page
	log    *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{tenant: intunetest.NewTenant(), store: intunetest.NewStore(), log: &syncBuffer{}}
	t.Cleanup(f.tenant.Close)
	f.alice = f.store.Add(intune.AuthServiceOpenID, intunetest.UserOID,
		intunetest.Profile{Username: "alice", Email: intunetest.DefaultUser.Email})
	logger := slog.New(slog.NewTextHandler(f.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := f.tenant.Config()
	f.page = &intuneadmin.Page{
		Config:  func() intune.Config { return cfg },
		Options: []intune.Option{intune.WithUserStore(f.store), intune.WithKeySetLogger(logger)},
		Logger:  logger,
	}
	return f
}

// form posts a same-origin form, as a browser submitting the page does.
func (f *fixture) form(t *testing.T, values url.Values) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "http://chat.example.com/admin/intune/test", strings.NewReader(values.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Origin", "http://chat.example.com")
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	r.Header.Set("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
	w := httptest.NewRecorder()
	f.page.ServeHTTP(w, r)
	return w
}

// json posts a JSON body, as a host's console or a script does.
func (f *fixture) json(t *testing.T, body string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "http://chat.example.com/admin/intune/test", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	f.page.ServeHTTP(w, r)
	return w
}

func tokenBody(t *testing.T, tok string) string {
	t.Helper()
	b, err := json.Marshal(map[string]string{"token": tok})
	require.NoError(t, err)
	return string(b)
}

func decodeResult(t *testing.T, w *httptest.ResponseRecorder) intuneadmin.Result {
	t.Helper()
	require.Equal(t, "application/json; charset=utf-8", w.Header().Get("Content-Type"))
	var res intuneadmin.Result
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &res), w.Body.String())
	return res
}

// assertNotEchoed checks that no part of tok longer than a few bytes is in
// the answer or the log.
func (f *fixture) assertNotEchoed(t *testing.T, tok, body string) {
	t.Helper()
	parts := strings.Split(tok, ".")
	for _, p := range append(parts, tok) {
		if len(p) < 16 {
			continue
		}
		assert.NotContains(t, body, p, "the answer echoes the token")
		assert.NotContains(t, f.log.String(), p, "the log echoes the token")
	}
}

func assertEmptyForm(t *testing.T, body string) {
	t.Helper()
	assert.Regexp(t, `<textarea id="token" name="token"[^>]*></textarea>`, body, "the form must come back empty")
}

func TestGetShowsAnAccessibleForm(t *testing.T) {
	f := newFixture(t)
	w := httptest.NewRecorder()
	f.page.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/admin/intune/test", nil))

	require.Equal(t, http.StatusOK, w.Code)
	assert.Equal(t, "text/html; charset=utf-8", w.Header().Get("Content-Type"))
	assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
	body := w.Body.String()
	assert.Contains(t, body, `<html lang="en">`)
	assert.Contains(t, body, "<h1>Intune MAM sign-in test</h1>")
	assert.Contains(t, body, `<label for="token">Access token</label>`)
	assertEmptyForm(t, body)
	assert.Contains(t, body, `<form method="post"`)
	assert.Contains(t, body, `<button type="submit" name="action" value="token" class="primary">Check this token</button>`)
	assert.Contains(t, body, `<button type="submit" name="action" value="config">Check the configuration and key set only</button>`)
	assert.Contains(t, body, "<dt>Tenant ID</dt><dd>"+intunetest.TenantID+"</dd>")
	assert.NotContains(t, body, "<script", "no JavaScript")
	assert.NotContains(t, body, "src=", "no external assets")
	assert.NotContains(t, body, "href=", "no external assets")
	assert.NotContains(t, body, "<link", "no external assets")
	assert.Zero(t, f.tenant.DiscoveryHits(), "GET runs no check")

	// The inline style is the one the policy allows, and nothing else is.
	csp := w.Header().Get("Content-Security-Policy")
	start, end := strings.Index(body, "<style>")+len("<style>"), strings.Index(body, "</style>")
	require.Positive(t, end)
	sum := sha256.Sum256([]byte(body[start:end]))
	assert.Contains(t, csp, "style-src 'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'")
	assert.Contains(t, csp, "default-src 'none'")
	assert.Contains(t, csp, "form-action 'self'")
	assert.Contains(t, csp, "frame-ancestors 'none'")

	head := httptest.NewRecorder()
	f.page.ServeHTTP(head, httptest.NewRequest(http.MethodHead, "/admin/intune/test", nil))
	assert.Equal(t, http.StatusOK, head.Code)
}

func TestGoodTokenSaysWhoItSignsInAs(t *testing.T) {
	f := newFixture(t)
	tok := f.tenant.Token()
	w := f.form(t, url.Values{"token": {tok}})

	require.Equal(t, http.StatusOK, w.Code)
	body := w.Body.String()
	assert.Contains(t, body, `<div role="status">`)
	assert.Contains(t, body, `<h2 id="verdict">This token would sign in as user `+f.alice.ID+
		` (username alice, email alice@contoso.onmicrosoft.com) (objectId `+intunetest.UserOID+`, provider openid).</h2>`)
	assert.Contains(t, body, `<th scope="col">Check</th>`)
	assert.Contains(t, body, `<tr><th scope="row">signature</th><td class="ok">OK</td>`)
	assert.Contains(t, body, `<tr><th scope="row">user</th><td class="ok">OK</td>`)
	assert.NotContains(t, body, ">FAIL<")
	assert.Contains(t, body, "<title>OK: Intune MAM sign-in test</title>")
	assertEmptyForm(t, body)
	f.assertNotEchoed(t, tok, body)
	assert.Contains(t, f.log.String(), "intuneadmin: sign-in test run")
	assert.Contains(t, f.log.String(), "token_bytes=")
}

func TestExpiredTokenSaysTokenExpiredAndTheNextStep(t *testing.T) {
	f := newFixture(t)
	tok := f.tenant.Token(intunetest.WithExpiry(time.Now().Add(-time.Hour)))

	w := f.form(t, url.Values{"token": {tok}, "action": {"token"}})
	require.Equal(t, http.StatusOK, w.Code)
	body := w.Body.String()
	assert.Contains(t, body, `<h2 id="verdict">Sign-in would answer ent.intune.validate_token.token_expired.app_error — next step: `+
		intune.ErrTokenExpired.AdminNextStep+`</h2>`)
	assert.Contains(t, body, `<tr><th scope="row">expiry</th><td class="fail">FAIL</td><td>token expired at `)
	assert.Contains(t, body, `<td class="id">ent.intune.validate_token.token_expired.app_error</td><td>`+intune.ErrTokenExpired.AdminNextStep+`</td>`)
	assert.Contains(t, body, `Decided by the check <span class="id">expiry</span>: token expired at`)
	assert.Contains(t, body, `The app gets <span class="id">ent.intune.validate_token.token_expired.app_error</span> (HTTP 400).`)
	assert.Contains(t, body, "<title>FAIL: Intune MAM sign-in test</title>")
	assertEmptyForm(t, body)
	f.assertNotEchoed(t, tok, body)

	res := decodeResult(t, f.json(t, tokenBody(t, tok)))
	assert.Equal(t, intune.ErrTokenExpired.ID, res.Verdict)
	assert.Equal(t, intune.CheckExpiry, res.FailedCheck)
	assert.Equal(t, intune.ErrTokenExpired.AdminNextStep, res.NextStep)
	assert.Equal(t, http.StatusBadRequest, res.VerdictStatus)
	assert.False(t, res.OK)
	assert.True(t, res.TokenChecked)
}

// TestChecksAfterTheDecidingOneAreNotRun: sign-in stops at the first FAIL,
// so the page shows the later checks as not run, in a neutral style, with
// what it found for them marked as what they would have found.
func TestChecksAfterTheDecidingOneAreNotRun(t *testing.T) {
	f := newFixture(t)
	otherApp := "11111111-2222-4333-8444-555555555555"
	tests := []struct {
		name    string
		token   string
		decides string
		rows    []string // rendered rows the page must hold
	}{
		{"expired: the user it would sign in as is not a pass", f.tenant.Token(intunetest.WithExpiry(time.Now().Add(-time.Hour))), intune.CheckExpiry, []string{
			`<tr class="notrun"><th scope="row">not_before</th><td class="notrun">Not run</td><td>Would pass: valid since `,
			`<tr class="notrun"><th scope="row">user</th><td class="notrun">Not run</td><td>Would pass: signs in as user ` + f.alice.ID + ` `,
		}},
		{"expired and for another app: the later failure is the next thing to fix",
			f.tenant.Token(intunetest.WithExpiry(time.Now().Add(-time.Hour)), intunetest.WithClaim("aud", otherApp)), intune.CheckExpiry, []string{
				`<tr class="notrun"><th scope="row">audience</th><td class="notrun">Not run</td><td>Would fail too (` + intune.ErrInvalidToken.ID + `): aud is `,
			}},
		{"unparseable: one FAIL, not fourteen", "garbage", intune.CheckFormat, []string{
			`<tr class="notrun"><th scope="row">algorithm</th><td class="notrun">Not run</td><td>Not run here either: the token could not be parsed.</td><td class="id"></td><td></td></tr>`,
			`<tr class="notrun"><th scope="row">user</th><td class="notrun">Not run</td><td>Not run here either: no claims to find the user by.</td>`,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := f.form(t, url.Values{"token": {tc.token}}).Body.String()
			assert.Equal(t, 1, strings.Count(body, `<td class="fail">FAIL</td>`), "one deciding failure")
			assert.Contains(t, body, `<tr><th scope="row">`+tc.decides+`</th><td class="fail">FAIL</td>`)
			table := body[strings.Index(body, "<tbody>"):]
			after := table[strings.Index(table, `<th scope="row">`+tc.decides+`</th>`):]
			assert.NotContains(t, after, `class="ok"`, "nothing after the deciding check reads as a pass")
			assert.Equal(t, strings.Count(after, "<tr"), strings.Count(after, `<tr class="notrun">`), "every later row is not run")
			assert.Contains(t, body, fmt.Sprintf("Sign-in stops there: the %d checks after it are not run.", strings.Count(after, `<tr class="notrun">`)))
			for _, r := range tc.rows {
				assert.Contains(t, body, r)
			}
			// A later failure keeps its own next step, and answers nothing:
			// the app gets the deciding check's error.
			assert.Equal(t, strings.Contains(tc.name, "another app"),
				regexp.MustCompile(`audience</th><td class="notrun">Not run</td><td>[^<]+</td><td class="id"></td><td>[^<]+</td></tr>`).MatchString(body))
		})
	}

	// The JSON answer is the report as Diagnose made it: every check's own
	// result, for a script that wants them all.
	res := decodeResult(t, f.json(t, tokenBody(t, f.tenant.Token(intunetest.WithExpiry(time.Now().Add(-time.Hour))))))
	require.NotEmpty(t, res.Checks)
	user := res.Checks[len(res.Checks)-1]
	assert.Equal(t, intune.CheckUser, user.Name)
	assert.True(t, user.OK, "the JSON keeps Diagnose's own result")
}

func TestJSONAPI(t *testing.T) {
	f := newFixture(t)
	tok := f.tenant.Token()

	w := f.json(t, tokenBody(t, tok))
	require.Equal(t, http.StatusOK, w.Code)
	f.assertNotEchoed(t, tok, w.Body.String())

	// The keys are the Report's snake_case ones, plus the verdict.
	var raw map[string]any
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &raw))
	assert.Equal(t, "", raw["verdict"])
	assert.Equal(t, "", raw["next_step"])
	assert.Equal(t, true, raw["ok"])
	assert.Equal(t, true, raw["token_checked"])
	checks, ok := raw["checks"].([]any)
	require.True(t, ok)
	first, ok := checks[0].(map[string]any)
	require.True(t, ok)
	assert.Equal(t, intune.CheckConfig, first["name"])
	assert.Equal(t, true, first["ok"])
	assert.Contains(t, first, "detail")

	res := decodeResult(t, w)
	var names []string
	for _, c := range res.Checks {
		names = append(names, c.Name)
	}
	assert.Equal(t, []string{intune.CheckConfig, intune.CheckKeySet, intune.CheckFormat, intune.CheckAlgorithm, intune.CheckKey,
		intune.CheckSignature, intune.CheckExpiry, intune.CheckNotBefore, intune.CheckTenant, intune.CheckVersion, intune.CheckIssuer,
		intune.CheckAudience, intune.CheckScope, intune.CheckClient, intune.CheckObjectID, intune.CheckUser}, names)
	assert.Equal(t, "This token would sign in as user "+f.alice.ID+" (username alice, email alice@contoso.onmicrosoft.com) (objectId "+
		intunetest.UserOID+", provider openid).", res.Summary)

	// A captured sign-in body works as it is.
	res = decodeResult(t, f.json(t, `{"device_id":"apple_rn-v2:abc","access_token":"`+tok+`"}`))
	assert.Equal(t, "", res.Verdict)
	assert.True(t, res.TokenChecked)

	// A form, for a client whose Accept prefers JSON.
	r := httptest.NewRequest(http.MethodPost, "/admin/intune/test", strings.NewReader(url.Values{"token": {tok}}.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Accept", "application/json, text/html;q=0.5")
	w = httptest.NewRecorder()
	f.page.ServeHTTP(w, r)
	assert.Equal(t, "", decodeResult(t, w).Verdict)

	// Malformed JSON is a clear 400, in JSON.
	for _, body := range []string{`{"token": 42}`, `{"token": "a"`, `not json`, ``, `{"token":"a"} {}`, `{"token":"a","access_token":"b"}`} {
		w := f.json(t, body)
		assert.Equal(t, http.StatusBadRequest, w.Code, body)
		var e intuneadmin.ErrorBody
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &e), body)
		assert.Equal(t, http.StatusBadRequest, e.StatusCode)
		assert.NotEmpty(t, e.Error)
	}
}

func TestUnknownUserWithoutStoreAndNewUser(t *testing.T) {
	f := newFixture(t)
	newcomer := intunetest.User{OID: "11111111-2222-4333-8444-555555555555", Email: "bob@contoso.onmicrosoft.com"}
	res := decodeResult(t, f.json(t, tokenBody(t, f.tenant.Token(intunetest.WithUser(newcomer)))))
	assert.Equal(t, "", res.Verdict)
	assert.Contains(t, res.Summary, "This token would sign in as a new user: no user has objectId "+newcomer.OID)

	f.page.Options = nil // no user store
	res = decodeResult(t, f.json(t, tokenBody(t, f.tenant.Token())))
	assert.Equal(t, "This token would sign in as the user with objectId "+intunetest.UserOID+
		" (not looked up: the host gave this page no user store).", res.Summary)
}

func TestEmptyTokenChecksTheConfigurationOnly(t *testing.T) {
	f := newFixture(t)
	for _, values := range []url.Values{{"token": {""}}, {"token": {"  \r\n "}}, {}} {
		w := f.form(t, values)
		require.Equal(t, http.StatusOK, w.Code)
		body := w.Body.String()
		assert.Contains(t, body, `<h2 id="verdict">Configuration and key set OK; no token checked.</h2>`)
		assert.Contains(t, body, "<li>No token was given: only the configuration and the key set were checked.</li>")
		assert.Contains(t, body, `<tr><th scope="row">keyset</th><td class="ok">OK</td>`)
		assert.NotContains(t, body, `<th scope="row">format</th>`)
	}

	// The configuration-only action ignores a pasted token, and says so.
	tok := f.tenant.Token()
	w := f.form(t, url.Values{"token": {tok}, "action": {"config"}})
	body := w.Body.String()
	assert.Contains(t, body, "Configuration and key set OK; no token checked.")
	assert.Contains(t, body, "the pasted token was not.")
	f.assertNotEchoed(t, tok, body)

	res := decodeResult(t, f.json(t, `{"config_only": true}`))
	assert.False(t, res.TokenChecked)
	assert.Len(t, res.Checks, 2)
	assert.Equal(t, "Configuration and key set OK; no token checked.", res.Summary)

	// A broken configuration says what sign-in answers.
	bad := f.tenant.Config()
	bad.TenantID = "contoso.onmicrosoft.com"
	f.page.Config = func() intune.Config { return bad }
	res = decodeResult(t, f.json(t, `{}`))
	assert.Equal(t, intune.ErrNotConfigured.ID, res.Verdict)
	assert.Equal(t, intune.CheckConfig, res.FailedCheck)
	assert.Contains(t, res.Summary, "Sign-in would answer "+intune.ErrNotConfigured.ID+" — next step: ")
}

func TestDisabledConfigurationIsTheVerdict(t *testing.T) {
	f := newFixture(t)
	cfg := f.tenant.Config()
	cfg.Enable = false
	f.page.Config = func() intune.Config { return cfg }
	res := decodeResult(t, f.json(t, tokenBody(t, f.tenant.Token())))
	assert.False(t, res.OK, "sign-in refuses")
	assert.Equal(t, intune.ErrNotConfigured.ID, res.Verdict)
	assert.Equal(t, intune.CheckConfig, res.FailedCheck)
	assert.Contains(t, res.NextStep, "Enable Microsoft Intune MAM")
	assert.Contains(t, res.Checks[0].Detail, "Intune MAM is disabled")
	for _, c := range res.Checks[1:] {
		assert.True(t, c.OK, "the other checks ran as if enabled: %s", c.Name)
	}
}

func TestOversizedPasteIsAClearError(t *testing.T) {
	f := newFixture(t)
	paste := strings.Repeat("eyJhbGciOiJSUzI1NiJ9", 30<<10/20) // 30 KB

	w := f.form(t, url.Values{"token": {paste}})
	assert.Equal(t, http.StatusBadRequest, w.Code)
	body := w.Body.String()
	assert.Contains(t, body, `<div role="alert" class="box fail">`)
	assert.Contains(t, body, "The pasted text is 30720 bytes; an access token is at most 16384 bytes here")
	assertEmptyForm(t, body)
	assert.NotContains(t, body, strings.Repeat("eyJhbGciOiJSUzI1NiJ9", 3))
	assert.Zero(t, f.tenant.DiscoveryHits(), "nothing was checked")

	w = f.json(t, tokenBody(t, paste))
	assert.Equal(t, http.StatusBadRequest, w.Code)
	var e intuneadmin.ErrorBody
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &e))
	assert.Contains(t, e.Error, "The pasted text is 30720 bytes")

	// Over the body bound: 413, without reading it all.
	huge := strings.Repeat("A", intuneadmin.MaxBodyBytes+1)
	w = f.form(t, url.Values{"token": {huge}})
	assert.Equal(t, http.StatusRequestEntityTooLarge, w.Code)
	assert.Contains(t, w.Body.String(), "The request body is over 65536 bytes.")
	w = f.json(t, tokenBody(t, huge))
	assert.Equal(t, http.StatusRequestEntityTooLarge, w.Code)
	assert.NotContains(t, f.log.String(), "AAAAAAAAAAAAAAAA")
}

func TestHTMLInTheTokenIsNeverReflected(t *testing.T) {
	f := newFixture(t)
	for _, paste := range []string{`<script>alert(1)</script>`, `"><img src=x onerror=alert(1)>`, `</textarea><script>alert(1)</script>`} {
		w := f.form(t, url.Values{"token": {paste}})
		require.Equal(t, http.StatusOK, w.Code)
		body := w.Body.String()
		assert.NotContains(t, body, "<script", paste)
		assert.NotContains(t, body, "alert(1)", "the token text is not reflected, escaped or not")
		assert.NotContains(t, body, "<img", paste)
		assert.Contains(t, body, "Sign-in would answer ent.intune.validate_token.invalid_token.app_error")
		assert.Contains(t, body, `<tr><th scope="row">format</th><td class="fail">FAIL</td>`)
		assertEmptyForm(t, body)

		w = f.json(t, tokenBody(t, paste))
		assert.NotContains(t, w.Body.String(), "alert(1)")
		assert.NotContains(t, f.log.String(), "alert(1)")
	}

	// What the checks quote from a token (a claim) is shown, escaped.
	evil := intunetest.User{OID: "11111111-2222-4333-8444-555555555555", Email: `<img src=x onerror=alert(1)>`}
	w := f.form(t, url.Values{"token": {f.tenant.Token(intunetest.WithUser(evil))}})
	body := w.Body.String()
	assert.NotContains(t, body, "<img")
	assert.Contains(t, body, "&lt;img src=x onerror=alert(1)&gt;")
}

func TestCrossSiteFormPostIsRefused(t *testing.T) {
	f := newFixture(t)
	tok := f.tenant.Token()
	post := func(ct, body string, hdr map[string]string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, "http://chat.example.com/admin/intune/test", strings.NewReader(body))
		r.Header.Set("Content-Type", ct)
		for k, v := range hdr {
			r.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		f.page.ServeHTTP(w, r)
		return w
	}
	form := url.Values{"token": {tok}}.Encode()
	const formCT = "application/x-www-form-urlencoded"

	for name, hdr := range map[string]map[string]string{
		"sec-fetch-site cross-site": {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
		"sec-fetch-site same-site":  {"Sec-Fetch-Site": "same-site", "Origin": "https://other.chat.example.com"},
		"origin only, another host": {"Origin": "https://evil.example"},
	} {
		w := post(formCT, form, hdr)
		assert.Equal(t, http.StatusForbidden, w.Code, name)
		assert.Contains(t, w.Body.String(), "Refused: this request comes from another site", name)
		f.assertNotEchoed(t, tok, w.Body.String())

		w = post("application/json", tokenBody(t, tok), hdr)
		assert.Equal(t, http.StatusForbidden, w.Code, name+" (JSON)")
	}
	// A body a cross-site form can send without saying so is refused too.
	for _, ct := range []string{"text/plain", "multipart/form-data; boundary=x", ""} {
		w := post(ct, form, nil)
		assert.Equal(t, http.StatusUnsupportedMediaType, w.Code, ct)
	}
	assert.Zero(t, f.tenant.DiscoveryHits(), "a refused request runs no check")
	assert.Contains(t, f.log.String(), "intuneadmin: cross-origin POST refused")

	// Same origin, and a client that is not a browser (neither header), run.
	assert.Equal(t, http.StatusOK, post(formCT, form, map[string]string{"Sec-Fetch-Site": "same-origin"}).Code)
	assert.Equal(t, http.StatusOK, post(formCT, form, map[string]string{"Origin": "http://chat.example.com"}).Code)
	assert.Equal(t, http.StatusOK, post(formCT, form, nil).Code)

	// A host behind a proxy that rewrites Host trusts its public origin.
	f.page.CrossOrigin = http.NewCrossOriginProtection()
	require.NoError(t, f.page.CrossOrigin.AddTrustedOrigin("https://chat.public.example"))
	assert.Equal(t, http.StatusOK, post(formCT, form, map[string]string{"Origin": "https://chat.public.example", "Sec-Fetch-Site": "cross-site"}).Code)
}

func TestOtherMethodsAndMisconfiguredPage(t *testing.T) {
	f := newFixture(t)
	w := httptest.NewRecorder()
	f.page.ServeHTTP(w, httptest.NewRequest(http.MethodPut, "/", nil))
	assert.Equal(t, http.StatusMethodNotAllowed, w.Code)
	assert.Equal(t, "GET, HEAD, POST", w.Header().Get("Allow"))

	w = httptest.NewRecorder()
	(&intuneadmin.Page{Logger: slog.New(slog.DiscardHandler)}).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
	assert.Equal(t, http.StatusInternalServerError, w.Code)
	assert.Contains(t, w.Body.String(), "Page.Config is nil")
}

func TestBearerPrefixAndWhitespaceAreRemoved(t *testing.T) {
	f := newFixture(t)
	tok := f.tenant.Token()
	res := decodeResult(t, f.json(t, tokenBody(t, "Bearer "+tok+"\n")))
	assert.Equal(t, "", res.Verdict)
	assert.Contains(t, res.Notes, `A leading "Bearer " was removed from the paste.`)

	res = decodeResult(t, f.json(t, tokenBody(t, "\n"+tok+"\r\n")))
	assert.Equal(t, "", res.Verdict)
	assert.Equal(t, []string{"Whitespace around the paste was removed."}, res.Notes)
}

func TestEachRunIsBoundedByTheTimeout(t *testing.T) {
	f := newFixture(t)
	f.tenant.SetKeysHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // a tenant that never answers
	}))
	f.page.Timeout = 300 * time.Millisecond
	start := time.Now()
	res := decodeResult(t, f.json(t, tokenBody(t, f.tenant.Token())))
	assert.Less(t, time.Since(start), 10*time.Second)
	assert.Equal(t, intune.ErrJWKSInit.ID, res.Verdict, "no key set")
	assert.Equal(t, intune.CheckKeySet, res.FailedCheck)
	assert.Contains(t, strings.Join(res.Notes, " "), "The checks ran out of time (300ms)")
}

func TestAcceptNegotiation(t *testing.T) {
	f := newFixture(t)
	for accept, wantJSON := range map[string]bool{
		"application/json":                        true,
		"application/json;q=0.9, text/html;q=0.5": true,
		"text/html, application/json;q=0.9":       false,
		"*/*":                                     false,
		"application/*":                           true,
		"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8": false,
		"application/json;q=0, */*":                                       false,
	} {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("token="))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Accept", accept)
		w := httptest.NewRecorder()
		f.page.ServeHTTP(w, r)
		got := strings.HasPrefix(w.Header().Get("Content-Type"), "application/json")
		assert.Equal(t, wantJSON, got, accept)
	}
}
