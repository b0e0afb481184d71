package intuneadmin_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mamlogin/mamlogin/intune"
	"github.com/mamlogin/mamlogin/intune/intunetest"
)

// submitManifest opens the page, pastes text into the manifest field,
// presses "Check this app registration" and waits for the app verdict,
// which it returns as the browser renders it.
func submitManifest(t *testing.T, ctx context.Context, pageURL, text string) string {
	t.Helper()
	do(t, ctx, "open the page", chromedp.Navigate(pageURL), chromedp.WaitVisible(chromedp.ID("manifest")))
	return submitManifestHere(t, ctx, text)
}

// submitManifestHere is submitManifest on the page the browser shows.
func submitManifestHere(t *testing.T, ctx context.Context, text string) string {
	t.Helper()
	return submitHere(t, ctx, "manifest", `form[action="?check=app"] button`, "app-verdict", text)
}

func appRows(t *testing.T, ctx context.Context) [][]string {
	t.Helper()
	return run(t, ctx, "read the app table", chromedp.Evaluate[[][]string](
		`Array.from(document.querySelectorAll("#app-checks tbody tr:not(.fix)"), tr => Array.from(tr.cells, c => c.innerText.trim()))`))
}

// TestBrowserChecksAPastedManifest: the admin pastes a manifest with two
// things wrong, reads both failures and the corrected fragment, pastes the
// fragment's members over the manifest, and the page then passes it.
func TestBrowserChecksAPastedManifest(t *testing.T) {
	f := newFixture(t)
	base := serve(t, f)
	ctx := newBrowser(t)
	pageURL := base + "/admin/intune/test"

	doc := manifestFor(t, f, `"requestedAccessTokenVersion": 2`, `"requestedAccessTokenVersion": null`,
		`"signInAudience": "AzureADMyOrg"`, `"signInAudience": "AzureADMultipleOrgs"`)
	verdict := submitManifest(t, ctx, pageURL, doc)
	assert.Equal(t, "Fix sign_in_audience, token_version: paste the corrected fragment over the same members in the portal's manifest editor.", verdict)
	rows := appRows(t, ctx)
	require.Len(t, rows, 9)
	for _, r := range rows {
		require.Len(t, r, 5)
	}
	assert.Equal(t, []string{intune.AppCheckAudience, "FAIL", `signInAudience "AzureADMultipleOrgs"`}, rows[2][:3])
	assert.Equal(t, []string{intune.AppCheckTokenVersion, "FAIL", "api.requestedAccessTokenVersion null (v1 tokens)"}, rows[6][:3])
	assert.Contains(t, rows[6][3], "Sign-in answers "+intune.ErrExtractAuthData.ID)
	fixRows := run(t, ctx, "read the fix rows", chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#app-checks tr.fix"), tr => tr.innerText.trim())`))
	require.Len(t, fixRows, 2, "a fix under each failing check")
	assert.True(t, strings.HasPrefix(fixRows[1], "The fix for token_version alone"), fixRows[1])
	assert.Contains(t, fixRows[1], `"requestedAccessTokenVersion": 2`, "the check's own fix, as the admin reads it")
	for _, i := range []int{0, 1, 3, 4, 5, 7, 8} {
		assert.Equal(t, "OK", rows[i][1], rows[i][0])
	}
	assert.Equal(t, "", run(t, ctx, "the field after submit", chromedp.Value(chromedp.ID("manifest"))), "the form comes back empty")
	assert.Contains(t, run(t, ctx, "heading names", axNames("heading")), verdict, "the verdict is a heading")
	assert.Contains(t, run(t, ctx, "table names", axNames("table")), "Every requirement of the server API app, in order")
	assert.Equal(t, "pre-wrap", run(t, ctx, "fix style", chromedp.Evaluate[string](`getComputedStyle(document.getElementById("app-fix")).whiteSpace`)), "the inline style applies")
	screenshot(t, ctx, "intuneadmin-app-registration-fails.png")

	// The corrected fragment, as the browser shows it, pasted over the
	// manifest's members.
	fix := run(t, ctx, "read the fix", chromedp.Evaluate[string](`document.getElementById("app-fix").innerText`))
	var members, d map[string]any
	require.NoError(t, json.Unmarshal([]byte(fix), &members), fix)
	assert.Len(t, members, 2, "signInAudience and api: %s", fix)
	require.NoError(t, json.Unmarshal([]byte(doc), &d))
	for k, v := range members {
		d[k] = v
	}
	fixed, err := json.MarshalIndent(d, "", "  ")
	require.NoError(t, err)
	verdict = submitManifest(t, ctx, pageURL, string(fixed))
	assert.Equal(t, "The app registration has everything mobile sign-in needs; confirm admin consent (see the notes).", verdict)
	for _, r := range appRows(t, ctx) {
		assert.Equal(t, "OK", r[1], r[0])
	}
	assert.Zero(t, run(t, ctx, "no fix", chromedp.Evaluate[int](`document.querySelectorAll("#app-fix").length`)))
	screenshot(t, ctx, "intuneadmin-app-registration-ok.png")
}

// TestBrowserAppCheckThenTokenCheck: the admin checks a manifest, then,
// on the page that answers (its URL says check=app), checks a token, then
// a manifest again: each form runs its own check. The unreadable manifest
// reads as one failure, the checks it kept from running neutral.
func TestBrowserAppCheckThenTokenCheck(t *testing.T) {
	f := newFixture(t)
	base := serve(t, f)
	ctx := newBrowser(t)
	pageURL := base + "/admin/intune/test"

	verdict := submitManifest(t, ctx, pageURL, "appId: 1")
	assert.Equal(t, "The document is not a readable app registration; nothing else was checked.", verdict)
	assert.Equal(t, pageURL+"?check=app", run(t, ctx, "the page's URL", chromedp.Location()))
	rows := appRows(t, ctx)
	require.Len(t, rows, 9)
	assert.Equal(t, []string{intune.AppCheckManifest, "FAIL"}, rows[0][:2])
	colours := run(t, ctx, "result colours", chromedp.Evaluate[[]string](
		`Array.from(document.querySelectorAll("#app-checks tbody tr:not(.fix)"), tr => getComputedStyle(tr.cells[1]).color)`))
	assert.Equal(t, "rgb(180, 35, 24)", colours[0], "the one failure is red")
	for i, r := range rows[1:] {
		assert.Equal(t, "Not run", r[1], r[0])
		assert.Equal(t, "rgb(77, 77, 77)", colours[i+1], "a check not run is neutral, as in the token table: %s", r[0])
	}
	screenshot(t, ctx, "intuneadmin-app-registration-unreadable.png")

	verdict = submitTokenHere(t, ctx, f.tenant.Token())
	assert.Equal(t, "This token would sign in as user "+f.alice.ID+" (username alice, email alice@contoso.onmicrosoft.com) (objectId "+
		intunetest.UserOID+", provider openid).", verdict, "the token form runs the token check, not the app check")
	assert.Len(t, tableRows(t, ctx), 16)

	verdict = submitManifestHere(t, ctx, manifestFor(t, f))
	assert.Equal(t, "The app registration has everything mobile sign-in needs; confirm admin consent (see the notes).", verdict)
}

// TestBrowserNeverRunsHTMLInAManifest: what the manifest says is shown as
// text, even without the Content-Security-Policy.
func TestBrowserNeverRunsHTMLInAManifest(t *testing.T) {
	f := newFixture(t)
	base := serve(t, f)
	ctx := newBrowser(t)
	bypassCSP(t, ctx)
	doc := manifestFor(t, f, `"signInAudience": "AzureADMyOrg"`, `"signInAudience": "`+evilHTML+`"`,
		`"value": "login.mattermost"`, `"value": "</pre>`+evilHTML+`"`)
	verdict := submitManifest(t, ctx, base+"/admin/intune/test", doc)
	assert.True(t, strings.HasPrefix(verdict, "Fix sign_in_audience, scope, pre_authorized"), verdict)
	assert.Equal(t, "undefined", run(t, ctx, "read window.pwned", chromedp.Evaluate[string](`typeof window.pwned`)))
	assert.Zero(t, run(t, ctx, "count images", chromedp.Evaluate[int](`document.images.length + document.scripts.length`)))
	rows := appRows(t, ctx)
	assert.Contains(t, rows[2][2], evilHTML, "the value is shown as the text it is")
	assert.Contains(t, run(t, ctx, "read the fix", chromedp.Evaluate[string](`document.getElementById("app-fix").innerText`)), "</pre>"+evilHTML)
}

// bypassCSP turns the page's Content-Security-Policy off in the browser, so
// that the page's escaping alone is tested.
func bypassCSP(t *testing.T, ctx context.Context) {
	t.Helper()
	_, err := chromedp.Call(ctx, page.SetBypassCSP, page.SetBypassCSPParams{Enabled: true})
	require.NoError(t, err)
}
