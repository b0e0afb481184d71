package intuneadmin

import (
	"errors"
	"html/template"
	"log/slog"
	"mime"
	"net/http"
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/mamlogin/mamlogin/intune"
)

// The page's app registration section: the admin pastes the server API
// app's manifest and gets intune.CheckAppRegistration's report against the
// live configuration, with the JSON that fixes each failure. Its form posts
// to the page's own URL with the query check=app, so that the token form's
// reading and its bound stay as they are: which form a POST is must be known
// before its body is read. The token form names its own section
// (check=token): a form without an action posts to the page's current URL,
// which after an app check still says check=app.

// MaxAppBodyBytes bounds a POST of the app registration form: a manifest
// of intune.MaxManifestBytes, form-encoded (up to three bytes per byte),
// and a little more.
const MaxAppBodyBytes = 3*intune.MaxManifestBytes + 4<<10

// The sections a POST names with the query "check"; none is the token's.
const (
	checkToken = "token"
	checkApp   = "app"
)

// postedCheck is the section a POST names: checkApp or checkToken, or a
// refusal for any other value.
func postedCheck(r *http.Request) (string, *refusal) {
	switch c := r.URL.Query().Get("check"); c {
	case "", checkToken:
		return checkToken, nil
	case checkApp:
		return checkApp, nil
	default:
		return "", refuse(http.StatusBadRequest, "Unknown check %q: post a token with check=token (or no check), a manifest with check=app.", clip(c))
	}
}

func (p *Page) postApp(w http.ResponseWriter, r *http.Request) {
	manifest, rf := readManifestBody(w, r)
	if rf != nil {
		p.refused(w, r, rf)
		return
	}
	cfg := p.Config()
	rep := intune.CheckAppRegistration(manifest, cfg)
	var failing []string
	for _, c := range rep.Checks {
		if !c.OK && !c.NotRun {
			failing = append(failing, c.Name)
		}
	}
	// The manifest is the admin's own, but it is not logged: only its size
	// and what the checks found wrong.
	p.logger().LogAttrs(r.Context(), slog.LevelInfo, "intuneadmin: app registration check run",
		slog.Int("manifest_bytes", len(manifest)), slog.String("format", rep.Format),
		slog.Bool("ok", rep.OK), slog.String("failed_checks", strings.Join(failing, ",")))
	if isJSON(r) || prefersJSON(r) {
		writeJSON(w, http.StatusOK, rep)
		return
	}
	d := p.view(cfg, nil, nil)
	d.App = rep
	p.render(w, http.StatusOK, d)
}

// readManifestBody reads the manifest from the form field "manifest", or
// from JSON {"manifest": ...} (the manifest itself, or a string holding
// it), bounded by MaxAppBodyBytes.
func readManifestBody(w http.ResponseWriter, r *http.Request) ([]byte, *refusal) {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil && ct != "" {
		return nil, refuse(http.StatusUnsupportedMediaType, "The body's Content-Type %q cannot be read; send a form (application/x-www-form-urlencoded) or JSON (application/json).", clip(ct))
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxAppBodyBytes)
	var manifest []byte
	switch mt {
	case "application/x-www-form-urlencoded":
		if err := r.ParseForm(); err != nil {
			return nil, manifestBodyError(err, "The form cannot be read: it is not valid application/x-www-form-urlencoded.")
		}
		manifest = []byte(r.PostForm.Get("manifest"))
	case "application/json":
		var body struct {
			Manifest jsontext.Value `json:"manifest"`
		}
		if err := json.UnmarshalRead(r.Body, &body); err != nil {
			return nil, manifestBodyError(err, "The JSON body cannot be read; send {\"manifest\": <the app registration's manifest>}.")
		}
		switch body.Manifest.Kind() {
		case '"':
			var s string
			_ = json.Unmarshal(body.Manifest, &s) // a valid JSON string
			manifest = []byte(s)
		default:
			manifest = body.Manifest
		}
	default:
		return nil, refuse(http.StatusUnsupportedMediaType, "The body must be a form (application/x-www-form-urlencoded) or JSON (Content-Type: application/json), not %q.", clip(ct))
	}
	if len(strings.TrimSpace(string(manifest))) == 0 {
		return nil, refuse(http.StatusBadRequest, "No manifest was given: paste the server API app's manifest (Entra admin center > App registrations > the app > Manifest).")
	}
	return manifest, nil
}

// manifestBodyError is 413 for a body over MaxAppBodyBytes, else 400 with msg.
func manifestBodyError(err error, msg string) *refusal {
	var mb *http.MaxBytesError
	if errors.As(err, &mb) {
		return refuse(http.StatusRequestEntityTooLarge, "The request body is over %d bytes: an app registration's manifest is a few kilobytes (at most %d bytes are read). Paste the manifest alone.", MaxAppBodyBytes, intune.MaxManifestBytes)
	}
	return refuse(http.StatusBadRequest, "%s", msg)
}

func init() { template.Must(pageTemplate.Parse(appTemplate)) }

// appTemplate is the page's app registration section: its result, when
// there is one, and its form.
const appTemplate = `{{define "appreg"}}
<h2 id="app">Check the app registration</h2>
<p>Before rollout, paste the server API app's manifest to see whether Entra is set up as mobile sign-in needs: each requirement with what was found, what it breaks and the JSON that fixes it. Download it in the Entra admin center (App registrations &gt; the app &gt; Manifest), in either format, or with az ad app show. The manifest is not stored, not logged and not shown again.</p>
{{with .App}}
<section aria-labelledby="app-verdict" class="box {{if .OK}}ok{{else}}fail{{end}}">
<div role="status">
<h2 id="app-verdict">{{.Summary}}</h2>
</div>
{{with .Notes}}<ul>{{range .}}
<li>{{.}}</li>{{end}}
</ul>{{end}}
</section>
<table id="app-checks">
<caption>Every requirement of the server API app, in order</caption>
<colgroup><col class="name"><col class="result"><col><col><col class="next"></colgroup>
<thead>
<tr><th scope="col">Check</th><th scope="col">Result</th><th scope="col">Found</th><th scope="col">Detail</th><th scope="col">Next step</th></tr>
</thead>
<tbody>{{range $c := .Checks}}
<tr{{if .NotRun}} class="notrun"{{end}}><th scope="row">{{.Name}}</th><td class="{{if .OK}}ok{{else if .NotRun}}notrun{{else}}fail{{end}}">{{if .OK}}OK{{else if .NotRun}}Not run{{else}}FAIL{{end}}</td><td>{{.Found}}</td><td>{{.Detail}}{{with .ErrorID}} Sign-in answers <span class="id">{{.}}</span>.{{end}}</td><td>{{.NextStep}}</td></tr>{{with .Fix}}
<tr class="fix"><td colspan="5">The fix for <span class="id">{{$c.Name}}</span> alone, to paste over the same members:<pre class="fix">{{.}}</pre></td></tr>{{end}}{{end}}
</tbody>
</table>
{{with .Fix}}
<h3 id="app-fix-heading">The corrected fragment</h3>
<p>Every fix above at once: in the manifest editor, replace each member it names with its value, keep every other member, and save.</p>
<pre id="app-fix" class="fix" aria-labelledby="app-fix-heading">{{.}}</pre>
{{end}}
{{end}}
<form method="post" action="?check=app" autocomplete="off" aria-labelledby="app">
<label for="manifest">App registration manifest (JSON)</label>
<p id="manifest-help" class="help">The whole manifest of the server API app whose Application (client) ID is configured here, as the portal downloads it.</p>
<textarea id="manifest" name="manifest" rows="10" cols="80" spellcheck="false" autocapitalize="off" autocomplete="off" aria-describedby="manifest-help"></textarea>
<div>
<button type="submit" class="primary">Check this app registration</button>
</div>
</form>
{{end}}`
