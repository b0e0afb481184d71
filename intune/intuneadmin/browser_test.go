package intuneadmin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/accessibility"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mamlogin/mamlogin/intune"
	"github.com/mamlogin/mamlogin/intune/intunetest"
)

// stepTimeout bounds every step a test asks of the browser.
const stepTimeout = 30 * time.Second

// chromiumPath finds a Chromium to drive. Without one the browser tests
// skip, except in CI (CI non-empty), where a missing browser is a failure:
// .ci/run installs Debian's chromium.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	const msg = "no Chromium found (chromium, chromium-browser or google-chrome on PATH): the browser test needs one; on Debian: apt-get install -y chromium"
	if os.Getenv("CI") != "" {
		t.Fatal(msg + " (CI is set, so this fails instead of skipping)")
	}
	t.Skip(msg)
	return ""
}

// lockedBuffer collects the browser's output, shown when a test fails.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// newBrowser starts a headless Chromium that runs as root in a sandbox
// with no network, on a fresh profile. The browser lives until the test
// ends; its start is bounded by stepTimeout.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	bin := chromiumPath(t)
	out := &lockedBuffer{}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(bin),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("mute-audio", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(filepath.Join(t.TempDir(), "chromium-profile")),
		chromedp.WindowSize(1280, 900),
		chromedp.CombinedOutput(out),
	)
	ctx, cancel := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
		if t.Failed() {
			t.Logf("chromium output:\n%s", out.String())
		}
	})
	// The first Do starts the browser and ties its life to ctx, which has
	// no deadline; a watchdog bounds the start instead.
	watchdog := time.AfterFunc(stepTimeout, cancel)
	err := chromedp.Do(ctx)
	watchdog.Stop()
	require.NoError(t, err, "starting %s", bin)
	return ctx
}

// run runs one browser step, bounded by stepTimeout.
func run[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(sctx, a)
	require.NoError(t, err, what)
	return v
}

func do(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	require.NoError(t, chromedp.Do(sctx, actions...), what)
}

// paste puts text into the focused field as a paste does: one insertion,
// no key events.
func paste(text string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, input.InsertText, input.InsertTextParams{Text: text})
		return err
	})
}

// submitToken opens the page, pastes text into the token field, presses
// "Check this token" and waits for the result page. It returns the
// verdict as the browser renders it.
func submitToken(t *testing.T, ctx context.Context, pageURL, text string) string {
	t.Helper()
	do(t, ctx, "open the page", chromedp.Navigate(pageURL), chromedp.WaitVisible(chromedp.ID("token")))
	return submitTokenHere(t, ctx, text)
}

// submitTokenHere is submitToken on the page the browser shows, whatever
// its URL: the result page of another check, say.
func submitTokenHere(t *testing.T, ctx context.Context, text string) string {
	t.Helper()
	return submitHere(t, ctx, "token", `button[value="token"]`, "verdict", text)
}

// submitHere pastes text into the field with the id field on the page the
// browser shows, presses the button, waits for the result page and returns
// the element verdict as the browser renders it.
func submitHere(t *testing.T, ctx context.Context, field, button, verdict, text string) string {
	t.Helper()
	do(t, ctx, "paste into "+field, chromedp.WaitVisible(chromedp.ID(field)), chromedp.Focus(chromedp.ID(field)), paste(text))
	require.Equal(t, text, run(t, ctx, "read the field", chromedp.Value(chromedp.ID(field))), "the paste reached the field")

	sctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	resp, err := chromedp.RunResponse(sctx, chromedp.Click(chromedp.CSS(button)))
	require.NoError(t, err, "submit")
	require.Equal(t, int64(http.StatusOK), resp.Status)

	do(t, ctx, "wait for the verdict", chromedp.WaitVisible(chromedp.ID(verdict)))
	// Images (there must be none) have loaded or failed by the load event:
	// an onerror handler would have run by then.
	run(t, ctx, "wait for the load event", chromedp.Poll[bool](`document.readyState === "complete"`, chromedp.WithPollingTimeout(stepTimeout)))
	return run(t, ctx, "read the verdict", chromedp.Text(chromedp.ID(verdict)))
}

// tableRows reads the rendered check table: one row per check, each cell's
// text as the browser lays it out.
func tableRows(t *testing.T, ctx context.Context) [][]string {
	t.Helper()
	return run(t, ctx, "read the table", chromedp.Evaluate[[][]string](
		`Array.from(document.querySelectorAll("tbody tr"), tr => Array.from(tr.cells, c => c.innerText.trim()))`))
}

// axNames lists the accessible names of the nodes with role, as assistive
// technology sees them.
func axNames(role string) chromedp.Action[[]string] {
	return func(ctx context.Context, tg *chromedp.Target) ([]string, error) {
		doc, err := cdp.Call(ctx, tg, dom.GetDocument, dom.GetDocumentParams{})
		if err != nil {
			return nil, err
		}
		res, err := cdp.Call(ctx, tg, accessibility.QueryAXTree, accessibility.QueryAXTreeParams{BackendNodeID: doc.Root.BackendNodeID, Role: role})
		if err != nil {
			return nil, err
		}
		names := []string{}
		for _, n := range res.Nodes {
			var s string
			if n.Name != nil && len(n.Name.Value) > 0 {
				if err := json.Unmarshal([]byte(n.Name.Value), &s); err != nil {
					return nil, fmt.Errorf("name of a %s: %w", role, err)
				}
			}
			names = append(names, s)
		}
		return names, nil
	}
}

// screenshot saves a PNG of the whole page under t.TempDir(), and also in
// $INTUNEADMIN_SCREENSHOTS when set (t.TempDir() is removed after the test;
// CI can keep that directory as an artifact).
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png := run(t, ctx, "screenshot", chromedp.FullScreenshot(100))
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, png, 0o644))
	t.Logf("screenshot: %s (%d bytes)", path, len(png))
	if dir := os.Getenv("INTUNEADMIN_SCREENSHOTS"); dir != "" {
		kept := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(dir, 0o755))
		require.NoError(t, os.WriteFile(kept, png, 0o644))
		t.Logf("screenshot kept: %s", kept)
	}
}

func serve(t *testing.T, f *fixture) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/admin/intune/test", f.page)
	// A page that does run an onerror handler: proof that the check of
	// the tests below would see one run.
	mux.HandleFunc("/control/unescaped", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = fmt.Fprint(w, `<!DOCTYPE html><title>control</title>`+evilHTML)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// evilHTML sets window.pwned when a browser renders it as HTML (the control
// page proves it). It has no quotes, which the checks' details would escape
// with backslashes.
const evilHTML = `<img src=x onerror=window.pwned=1>`

func TestBrowserChecksAPastedToken(t *testing.T) {
	f := newFixture(t)
	base := serve(t, f)
	ctx := newBrowser(t)
	pageURL := base + "/admin/intune/test"

	// The form, as assistive technology sees it.
	do(t, ctx, "open the page", chromedp.Navigate(pageURL), chromedp.WaitVisible(chromedp.ID("token")))
	assert.Equal(t, []string{"Access token", "App registration manifest (JSON)"}, run(t, ctx, "textbox names", axNames("textbox")))
	assert.Equal(t, []string{"Check this token", "Check the configuration and key set only", "Check this app registration"}, run(t, ctx, "button names", axNames("button")))

	// A good token: the verdict names the user.
	tok := f.tenant.Token()
	verdict := submitToken(t, ctx, pageURL, tok)
	assert.Equal(t, "This token would sign in as user "+f.alice.ID+" (username alice, email alice@contoso.onmicrosoft.com) (objectId "+
		intunetest.UserOID+", provider openid).", verdict)
	rows := tableRows(t, ctx)
	require.Len(t, rows, 16)
	for _, r := range rows {
		require.Len(t, r, 5)
		assert.Equal(t, "OK", r[1], r[0])
		assert.Empty(t, r[3], r[0])
	}
	assert.Equal(t, []string{intune.CheckSignature, "OK", "RS256 signature verifies with key " + f.tenant.SigningKey().ID, "", ""}, rows[5])
	assert.Equal(t, "", run(t, ctx, "the field after submit", chromedp.Value(chromedp.ID("token"))), "the form comes back empty")
	body := run(t, ctx, "page text", chromedp.Text(chromedp.CSS("body")))
	for _, part := range strings.Split(tok, ".") {
		assert.NotContains(t, body, part, "the token is not shown")
	}
	assert.Contains(t, run(t, ctx, "heading names", axNames("heading")), verdict, "the verdict is a heading")
	assert.Equal(t, verdict, run(t, ctx, "status text", chromedp.Evaluate[string](`document.querySelector('[role="status"]').innerText.trim()`)), "and the status")
	assert.Contains(t, run(t, ctx, "table names", axNames("table")), "Every check, in the order sign-in runs them; sign-in stops at the first FAIL and does not run the checks after it")
	// The inline style applies: its hash in the Content-Security-Policy is right.
	assert.Equal(t, "collapse", run(t, ctx, "table style", chromedp.Evaluate[string](`getComputedStyle(document.querySelector("table")).borderCollapse`)))
	screenshot(t, ctx, "intuneadmin-signs-in.png")

	// An expired token: the verdict and the failing row say what to do.
	verdict = submitToken(t, ctx, pageURL, f.tenant.Token(intunetest.WithExpiry(time.Now().Add(-time.Hour))))
	assert.Equal(t, "Sign-in would answer "+intune.ErrTokenExpired.ID+" — next step: "+intune.ErrTokenExpired.AdminNextStep, verdict)
	rows = tableRows(t, ctx)
	require.Len(t, rows, 16)
	expiry := rows[6]
	assert.Equal(t, []string{intune.CheckExpiry, "FAIL"}, expiry[:2])
	assert.Regexp(t, `^token expired at \S+Z, 1h0m\d+s ago`, expiry[2])
	assert.Equal(t, []string{intune.ErrTokenExpired.ID, intune.ErrTokenExpired.AdminNextStep}, expiry[3:])
	assert.Equal(t, "FAIL: Intune MAM sign-in test", run(t, ctx, "title", chromedp.Title()))
	// Sign-in stops at expiry: the later checks are not run, and what the
	// page found for them is marked as what they would have found.
	for _, r := range rows[7:] {
		assert.Equal(t, "Not run", r[1], r[0])
		assert.True(t, strings.HasPrefix(r[2], "Would pass: "), "%s: %s", r[0], r[2])
		assert.Equal(t, []string{"", ""}, r[3:], r[0])
	}
	assert.Equal(t, "Would pass: signs in as user "+f.alice.ID+" (username alice, email alice@contoso.onmicrosoft.com) (objectId "+
		intunetest.UserOID+", provider openid)", rows[15][2])
	colours := run(t, ctx, "result colours", chromedp.Evaluate[[]string](
		`Array.from(document.querySelectorAll("tbody tr"), tr => getComputedStyle(tr.cells[1]).color)`))
	assert.Equal(t, "rgb(180, 35, 24)", colours[6], "the deciding FAIL is red")
	for i, c := range colours[7:] {
		assert.Equal(t, "rgb(77, 77, 77)", c, "a check not run is neutral, neither red nor green: %s", rows[7+i][0])
	}
	screenshot(t, ctx, "intuneadmin-token-expired.png")

	// An unparseable token: one FAIL, and the checks after it not run.
	verdict = submitToken(t, ctx, pageURL, "garbage")
	assert.True(t, strings.HasPrefix(verdict, "Sign-in would answer "+intune.ErrInvalidToken.ID), verdict)
	rows = tableRows(t, ctx)
	require.Len(t, rows, 16)
	results := map[string]int{}
	for _, r := range rows {
		results[r[1]]++
	}
	assert.Equal(t, map[string]int{"OK": 2, "FAIL": 1, "Not run": 13}, results)
	assert.Equal(t, []string{intune.CheckFormat, "FAIL"}, rows[2][:2])
	assert.Equal(t, intune.ErrInvalidToken.ID, rows[2][3])
	assert.Equal(t, []string{intune.CheckAlgorithm, "Not run", "Not run here either: the token could not be parsed.", "", ""}, rows[3])
	screenshot(t, ctx, "intuneadmin-unparseable.png")
}

func TestBrowserNeverRunsPastedHTML(t *testing.T) {
	f := newFixture(t)
	base := serve(t, f)
	ctx := newBrowser(t)
	pageURL := base + "/admin/intune/test"

	// Without its Content-Security-Policy, the page's escaping is all that
	// stands between a paste and the browser: test that alone.
	_, err := chromedp.Call(ctx, page.SetBypassCSP, page.SetBypassCSPParams{Enabled: true})
	require.NoError(t, err)
	pwned := func() string {
		return run(t, ctx, "read window.pwned", chromedp.Evaluate[string](`typeof window.pwned`))
	}

	// The check works: a page that reflects the HTML runs it.
	do(t, ctx, "open the control page", chromedp.Navigate(base+"/control/unescaped"))
	run(t, ctx, "the control's onerror runs", chromedp.Poll[bool](`window.pwned === 1`, chromedp.WithPollingTimeout(stepTimeout)))

	// HTML pasted as the token: refused as a token, never run, never shown.
	for _, text := range []string{evilHTML, `</textarea>` + evilHTML, `"><script>window.pwned=1</script>`, `<img src=x onerror="window.pwned=1">`} {
		verdict := submitToken(t, ctx, pageURL, text)
		assert.True(t, strings.HasPrefix(verdict, "Sign-in would answer "+intune.ErrInvalidToken.ID+" — next step: The client did not post an Entra access token"), "%s (%s)", verdict, text)
		assert.Equal(t, "undefined", pwned(), text)
		assert.Zero(t, run(t, ctx, "count images", chromedp.Evaluate[int](`document.images.length + document.scripts.length`)), text)
		assert.NotContains(t, run(t, ctx, "page text", chromedp.Text(chromedp.CSS("body"))), "pwned", text)
		assert.Equal(t, "", run(t, ctx, "the field after submit", chromedp.Value(chromedp.ID("token"))), text)
	}
	screenshot(t, ctx, "intuneadmin-html-paste.png")

	// HTML inside a valid token's claims, which the user check quotes: shown
	// as text, never run.
	evil := intunetest.User{OID: "11111111-2222-4333-8444-555555555555", Email: evilHTML}
	verdict := submitToken(t, ctx, pageURL, f.tenant.Token(intunetest.WithUser(evil)))
	assert.Contains(t, verdict, "This token would sign in as a new user")
	assert.Contains(t, verdict, evilHTML, "the claim is shown as the text it is")
	assert.Equal(t, "undefined", pwned())
	assert.Zero(t, run(t, ctx, "count images", chromedp.Evaluate[int](`document.images.length`)))
	rows := tableRows(t, ctx)
	require.Len(t, rows, 16)
	assert.Contains(t, rows[15][2], evilHTML)
	screenshot(t, ctx, "intuneadmin-html-claim.png")
}
