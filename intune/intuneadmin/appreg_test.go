package intuneadmin_test

import (
	"encoding/json"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mamlogin/mamlogin/intune"
	"github.com/mamlogin/mamlogin/intune/intuneadmin"
)

// manifestFor is the hand-made good manifest of package intune's tests, for
// the fixture's Client ID; edit changes it first (strings replaced).
func manifestFor(t *testing.T, f *fixture, edits ...string) string {
	t.Helper()
	b, err := os.ReadFile("../testdata/appreg/graph-good.json")
	require.NoError(t, err)
	s := strings.ReplaceAll(string(b), "6a1f5c2e-9b7d-4d3e-8f21-0c4b7a9e3d15", f.tenant.ClientID)
	for i := 0; i+1 < len(edits); i += 2 {
		require.Contains(t, s, edits[i])
		s = strings.ReplaceAll(s, edits[i], edits[i+1])
	}
	return s
}

// postApp posts to the app registration form's URL.
func (f *fixture) postApp(t *testing.T, contentType, body string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "http://chat.example.com/admin/intune/test?check=app", strings.NewReader(body))
	r.Header.Set("Content-Type", contentType)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	f.page.ServeHTTP(w, r)
	return w
}

func decodeAppReport(t *testing.T, w *httptest.ResponseRecorder) intune.AppReport {
	t.Helper()
	require.Equal(t, "application/json; charset=utf-8", w.Header().Get("Content-Type"), w.Body.String())
	var rep intune.AppReport
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &rep), w.Body.String())
	return rep
}

func TestAppFormShowsEveryCheckAndTheFix(t *testing.T) {
	f := newFixture(t)
	doc := manifestFor(t, f, `"requestedAccessTokenVersion": 2`, `"requestedAccessTokenVersion": null`)
	w := f.postApp(t, "application/x-www-form-urlencoded", url.Values{"manifest": {doc}}.Encode(),
		"Origin", "http://chat.example.com", "Sec-Fetch-Site", "same-origin", "Accept", "text/html")
	require.Equal(t, http.StatusOK, w.Code)
	body := w.Body.String()
	assert.Contains(t, body, `<h2 id="app-verdict">Fix token_version: paste the corrected fragment`)
	assert.Equal(t, 9, strings.Count(body, `<tr><th scope="row">`), "one row per check")
	assert.Equal(t, 1, strings.Count(body, `<tr class="fix">`), "and one fix under the failing one")
	assert.Contains(t, body, "api.requestedAccessTokenVersion null (v1 tokens)")
	assert.Contains(t, body, `Sign-in answers <span class="id">`+intune.ErrExtractAuthData.ID+`</span>`)
	assert.Contains(t, body, `<pre id="app-fix" class="fix"`)
	assert.Contains(t, body, "&#34;requestedAccessTokenVersion&#34;: 2", "the fix, escaped")
	assert.Contains(t, body, "Admin consent is not in the manifest")
	assert.Regexp(t, `<textarea id="manifest" name="manifest"[^>]*></textarea>`, body, "the form comes back empty")
	assert.Contains(t, body, `<textarea id="token" name="token"`, "the token form is still there")
	assert.NotContains(t, body, "Mattermost Server API", "the manifest is not shown back (its displayName is in no fix)")
	assert.Contains(t, f.log.String(), "intuneadmin: app registration check run")
	assert.Contains(t, f.log.String(), "failed_checks=token_version")
	assert.NotContains(t, f.log.String(), "login.mattermost", "the manifest is not logged")
}

func TestAppJSON(t *testing.T) {
	f := newFixture(t)
	good := manifestFor(t, f)
	for name, body := range map[string]string{
		"the manifest itself":    `{"manifest": ` + good + `}`,
		"the manifest as string": `{"manifest": ` + string(mustMarshal(t, good)) + `}`,
	} {
		t.Run(name, func(t *testing.T) {
			rep := decodeAppReport(t, f.postApp(t, "application/json", body))
			assert.True(t, rep.OK, "%+v", rep.Checks)
			assert.Equal(t, intune.ManifestGraph, rep.Format)
			assert.Equal(t, f.tenant.ClientID, rep.AppID)
		})
	}
	t.Run("against the live configuration", func(t *testing.T) {
		other := strings.ReplaceAll(good, f.tenant.ClientID, "11111111-2222-4333-8444-555555555555")
		rep := decodeAppReport(t, f.postApp(t, "application/json", `{"manifest": `+other+`}`))
		assert.False(t, rep.OK)
		assert.Equal(t, intune.ErrInvalidToken.ID, rep.Checks[1].ErrorID, "app_id: not the configured Client ID")
	})
	t.Run("an unreadable manifest is a report, not a refusal", func(t *testing.T) {
		w := f.postApp(t, "application/json", `{"manifest": "appId: 1"}`)
		require.Equal(t, http.StatusOK, w.Code)
		rep := decodeAppReport(t, w)
		assert.False(t, rep.Checks[0].OK)
		assert.Empty(t, rep.Format)
	})
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

func TestAppRefusals(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name, ct, body string
		header         []string
		status         int
		msg            string
	}{
		{"empty form", "application/x-www-form-urlencoded", "manifest=++", nil, http.StatusBadRequest, "No manifest was given"},
		{"empty JSON", "application/json", `{}`, nil, http.StatusBadRequest, "No manifest was given"},
		{"bad JSON", "application/json", `{"manifest": `, nil, http.StatusBadRequest, "The JSON body cannot be read"},
		{"text/plain", "text/plain", "{}", nil, http.StatusUnsupportedMediaType, "must be a form"},
		{"over the bound", "application/x-www-form-urlencoded", "manifest=" + strings.Repeat("a", intuneadmin.MaxAppBodyBytes), nil, http.StatusRequestEntityTooLarge, "is over"},
		{"cross-site", "application/x-www-form-urlencoded", "manifest=x", []string{"Sec-Fetch-Site", "cross-site"}, http.StatusForbidden, "comes from another site"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := f.postApp(t, tc.ct, tc.body, append(tc.header, "Accept", "application/json")...)
			assert.Equal(t, tc.status, w.Code, w.Body.String())
			var e intuneadmin.ErrorBody
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &e))
			assert.Contains(t, e.Error, tc.msg)
			assert.Equal(t, tc.status, e.StatusCode)
		})
	}
}

// TestAppUnreadableReadsAsOneFailure: an unreadable manifest is one FAIL,
// the manifest check; the checks it kept from running are shown as not
// run, in the token table's neutral style, and not logged as failures.
func TestAppUnreadableReadsAsOneFailure(t *testing.T) {
	f := newFixture(t)
	w := f.postApp(t, "application/x-www-form-urlencoded", url.Values{"manifest": {"appId: 1"}}.Encode(),
		"Origin", "http://chat.example.com", "Sec-Fetch-Site", "same-origin", "Accept", "text/html")
	require.Equal(t, http.StatusOK, w.Code)
	body := w.Body.String()
	assert.Contains(t, body, `<h2 id="app-verdict">The document is not a readable app registration; nothing else was checked.</h2>`)
	assert.Equal(t, 1, strings.Count(body, `<td class="fail">FAIL</td>`), "one failure: the manifest check")
	assert.Equal(t, 8, strings.Count(body, `<tr class="notrun"><th scope="row">`), "the rest not run")
	assert.Equal(t, 8, strings.Count(body, `<td class="notrun">Not run</td>`))
	for _, name := range []string{intune.AppCheckAppID, intune.AppCheckMAMPermission} {
		assert.Contains(t, body, `<tr class="notrun"><th scope="row">`+name+`</th>`)
	}
	assert.Contains(t, f.log.String(), "failed_checks=manifest\n", "only the manifest check failed")
}

// tokenFormAction is the token form's action attribute on the page body,
// and whether it has one.
func tokenFormAction(t *testing.T, body string) (string, bool) {
	t.Helper()
	i := strings.Index(body, `aria-labelledby="check"`)
	require.Positive(t, i, "the token form")
	form := body[strings.LastIndex(body[:i], "<form"):i]
	_, rest, ok := strings.Cut(form, `action="`)
	if !ok {
		return "", false
	}
	action, _, _ := strings.Cut(rest, `"`)
	return action, true
}

// TestTokenFormAfterAnAppCheck: the page an app check answers (its URL
// says check=app) posts its token form to the token check, as a browser
// resolves the form's action against that URL; a check the page does not
// have is refused before the body is read.
func TestTokenFormAfterAnAppCheck(t *testing.T) {
	f := newFixture(t)
	w := f.postApp(t, "application/x-www-form-urlencoded", url.Values{"manifest": {manifestFor(t, f)}}.Encode(),
		"Origin", "http://chat.example.com", "Sec-Fetch-Site", "same-origin", "Accept", "text/html")
	require.Equal(t, http.StatusOK, w.Code)
	action, ok := tokenFormAction(t, w.Body.String())
	require.True(t, ok, "the token form names where it posts: without an action it posts to ?check=app")
	appURL, err := url.Parse("http://chat.example.com/admin/intune/test?check=app")
	require.NoError(t, err)
	to, err := url.Parse(html.UnescapeString(action))
	require.NoError(t, err)
	target := appURL.ResolveReference(to)
	assert.Equal(t, "/admin/intune/test", target.Path)

	r := httptest.NewRequest(http.MethodPost, target.String(), strings.NewReader(url.Values{"token": {f.tenant.Token()}, "action": {"token"}}.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Origin", "http://chat.example.com")
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	w = httptest.NewRecorder()
	f.page.ServeHTTP(w, r)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	assert.Contains(t, w.Body.String(), `<h2 id="verdict">This token would sign in as user `+f.alice.ID)

	r = httptest.NewRequest(http.MethodPost, "http://chat.example.com/admin/intune/test?check=apps", strings.NewReader(`{"token": ""}`))
	r.Header.Set("Content-Type", "application/json")
	w = httptest.NewRecorder()
	f.page.ServeHTTP(w, r)
	assert.Equal(t, http.StatusBadRequest, w.Code)
	var e intuneadmin.ErrorBody
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &e), w.Body.String())
	assert.Contains(t, e.Error, `Unknown check "apps"`)
}
