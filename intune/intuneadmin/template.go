package intuneadmin

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/mamlogin/mamlogin/internal/outcome"
	"github.com/mamlogin/mamlogin/intune"
)

// css is the page's only style, inline and allowed by its hash in the
// Content-Security-Policy. Colour is never the only cue: every result also
// says OK, FAIL or Not run in words.
const css = `
body{font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1b1b1b;background:#fff}
main{max-width:72rem;margin:0 auto;padding:1rem 1.5rem 3rem}
h1{font-size:1.6rem;margin:.5rem 0 1rem}
h2{font-size:1.25rem;margin:1.5rem 0 .5rem}
.box{border:2px solid;border-radius:6px;padding:.25rem 1rem;margin:1rem 0}
.box h2{margin:.5rem 0}
.box.ok{border-color:#1a7f37}
.box.fail{border-color:#b42318}
td.ok{color:#1a7f37;font-weight:bold}
td.fail{color:#b42318;font-weight:bold}
td.notrun{color:#4d4d4d}
tr.notrun td,tr.notrun th{background:#f6f6f6;color:#4d4d4d}
table{border-collapse:collapse;width:100%;margin:1rem 0;table-layout:fixed}
col.name{width:8rem}
col.result{width:5.5rem}
col.id{width:14rem}
col.next{width:26%}
caption{text-align:left;padding:.25rem 0;font-weight:bold}
th,td{border:1px solid #8c8c8c;padding:.35rem .5rem;text-align:left;vertical-align:top;overflow-wrap:anywhere}
thead th{background:#eef0f3}
tbody th{font-family:ui-monospace,Menlo,Consolas,monospace;font-weight:normal}
@media (max-width:48rem){col.name{width:6rem}col.id{width:8rem}col.next{width:auto}}
.id{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.9em}
label{font-weight:bold;display:block}
.help{margin:.25rem 0 .5rem;color:#3d3d3d}
textarea{box-sizing:border-box;width:100%;font:14px/1.4 ui-monospace,Menlo,Consolas,monospace;padding:.5rem;border:1px solid #6b6b6b;border-radius:4px}
button{font:inherit;padding:.45rem 1rem;margin:.5rem .5rem 0 0;border:1px solid #1b1b1b;border-radius:4px;background:#f5f5f5;color:#1b1b1b;cursor:pointer}
button.primary{background:#1f4fa8;border-color:#1f4fa8;color:#fff}
:focus-visible{outline:3px solid #f0a800;outline-offset:2px}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem}
dt{font-weight:bold}
dd{margin:0;overflow-wrap:anywhere}
pre.fix{white-space:pre-wrap;overflow-wrap:anywhere;font:13px/1.35 ui-monospace,Menlo,Consolas,monospace;background:#f5f5f5;padding:.5rem;border:1px solid #8c8c8c;border-radius:4px}
`

// contentSecurityPolicy forbids every script, every fetch and every frame;
// it allows the inline style by its hash and the form's post to this origin.
var contentSecurityPolicy = func() string {
	sum := sha256.Sum256([]byte(css))
	return "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) +
		"'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
}()

var pageTemplate = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{{with .Result}}{{if .Verdict}}FAIL{{else}}OK{{end}}: {{end}}{{.Title}}</title>
<style>` + css + `</style>
</head>
<body>
<main>
<h1>{{.Title}}</h1>
<p>Paste an access token that the mobile app got from Microsoft Entra (MSAL) to see whether this server would sign it in, and as whom, or which error the app would get and what to fix. Nothing changes: no user is created or updated and no session is opened. The token is not stored, not logged and not shown again.</p>
{{with .Error}}
<div role="alert" class="box fail">
<h2>The checks did not run</h2>
<p>{{.}}</p>
</div>
{{end}}
{{with .Result}}
<section aria-labelledby="verdict" class="box {{if .Verdict}}fail{{else}}ok{{end}}">
<div role="status">
<h2 id="verdict">{{.Summary}}</h2>
</div>
{{with $.Failed}}<p>Decided by the check <span class="id">{{.Name}}</span>: {{.Detail}}</p>{{end}}
{{with $.NotReached}}<p>Sign-in stops there: the {{.}} checks after it are not run. The table shows them as not run, with what they would have found.</p>{{end}}
{{if .Verdict}}<p>The app gets <span class="id">{{.Verdict}}</span>{{with .VerdictStatus}} (HTTP {{.}}){{end}}.</p>{{end}}
{{with .Notes}}<ul>{{range .}}
<li>{{.}}</li>{{end}}
</ul>{{end}}
</section>
<table>
<caption>Every check, in the order sign-in runs them; sign-in stops at the first FAIL and does not run the checks after it</caption>
<colgroup><col class="name"><col class="result"><col><col class="id"><col class="next"></colgroup>
<thead>
<tr><th scope="col">Check</th><th scope="col">Result</th><th scope="col">Detail</th><th scope="col">Sign-in answers</th><th scope="col">Next step</th></tr>
</thead>
<tbody>{{range $.Rows}}
<tr{{if eq .Class "notrun"}} class="notrun"{{end}}><th scope="row">{{.Name}}</th><td class="{{.Class}}">{{.Result}}</td><td>{{.Detail}}</td><td class="id">{{.ErrorID}}</td><td>{{.Next}}</td></tr>{{end}}
</tbody>
</table>
{{end}}
<h2 id="check">Check a token</h2>
<form method="post" action="?check=token" autocomplete="off" aria-labelledby="check">
<label for="token">Access token</label>
<p id="token-help" class="help">The access_token the app sends: three parts separated by dots, usually starting with eyJ. Leave it empty to check only the configuration and the tenant's key set.</p>
<textarea id="token" name="token" rows="8" cols="80" spellcheck="false" autocapitalize="off" autocomplete="off" aria-describedby="token-help"></textarea>
<div>
<button type="submit" name="action" value="token" class="primary">Check this token</button>
<button type="submit" name="action" value="config">Check the configuration and key set only</button>
</div>
</form>
{{template "appreg" .}}
<h2 id="config">Configuration under test</h2>
<dl>{{range .Config}}
<dt>{{.Label}}</dt><dd>{{.Value}}</dd>{{end}}
</dl>
</main>
</body>
</html>
`))

// pageData is what the template shows.
type pageData struct {
	Title  string
	Error  string
	Result *Result
	Failed *row // the check that decides the verdict
	// NotReached counts the checks after it, which sign-in does not run.
	NotReached int
	Rows       []row
	Config     []field
	App        *intune.AppReport // the app registration check's report, when one ran (appreg.go)
}

// row is one check as sign-in lives it (internal/outcome): passed, the
// deciding failure, or not run because sign-in stopped before it. A check
// that sign-in does not reach says what Diagnose found for it, marked as
// what it would have found, and answers nothing.
type row struct {
	Name    string
	Class   string // the Result cell's style: "ok", "fail" or "notrun"
	Result  string // OK, FAIL or Not run
	Detail  string
	ErrorID string // what sign-in answers: the deciding check's only
	Next    string // the next step, or "Same as above." when it repeats the one before
}

// newRow words r for the table.
func newRow(r outcome.Row) row {
	switch {
	case r.Stage == outcome.Passed:
		return row{Name: r.Name, Class: "ok", Result: "OK", Detail: r.Found}
	case r.Stage == outcome.Decides:
		return row{Name: r.Name, Class: "fail", Result: "FAIL", Detail: r.Found, ErrorID: r.ErrorID, Next: r.NextStep}
	case !r.Ran:
		return row{Name: r.Name, Class: "notrun", Result: "Not run", Detail: "Not run here either: " + r.Found + "."}
	case r.OK:
		return row{Name: r.Name, Class: "notrun", Result: "Not run", Detail: "Would pass: " + r.Found}
	}
	// A later failure: not what the app gets now, but the next thing to fix.
	return row{Name: r.Name, Class: "notrun", Result: "Not run",
		Detail: "Would fail too (" + r.ErrorID + "): " + r.Found, Next: r.NextStep}
}

type field struct{ Label, Value string }

// view is the page for cfg with a result, a refusal, or neither (the form).
func (p *Page) view(cfg intune.Config, res *Result, rf *refusal) *pageData {
	d := &pageData{Title: p.title(), Result: res, Config: configFields(cfg)}
	if rf != nil {
		d.Error = rf.msg
	}
	if res == nil {
		return d
	}
	prev := ""
	for _, c := range outcome.Read(res.Checks) {
		r := newRow(c)
		if r.Next != "" && r.Next == prev {
			r.Next = "Same as above."
		} else if r.Next != "" {
			prev = r.Next
		}
		d.Rows = append(d.Rows, r)
	}
	for i := range d.Rows {
		switch d.Rows[i].Class {
		case "fail":
			d.Failed = &d.Rows[i]
		case "notrun":
			d.NotReached++
		}
	}
	return d
}

func configFields(cfg intune.Config) []field {
	orNot := func(s string) string {
		if s == "" {
			return "(not set)"
		}
		return s
	}
	enabled := "no: sign-in answers " + intune.ErrNotConfigured.ID
	if cfg.Enable {
		enabled = "yes"
	}
	authority := cfg.Authority
	if authority == "" {
		authority = intune.AuthorityPublic + " (the default: Microsoft's public cloud)"
	}
	allowed := "any (no allow-list)"
	if len(cfg.AllowedClientIDs) > 0 {
		allowed = allowedClients(cfg.AllowedClientIDs)
	}
	fs := []field{
		{"Enabled", enabled},
		{"Auth provider", orNot(string(cfg.AuthService))},
		{"Tenant ID", orNot(cfg.TenantID)},
		{"Client ID (server API app)", orNot(cfg.ClientID)},
		{"Scope the app requests", orNot(cfg.Scope())},
		{"Authority", authority},
		{"Allowed mobile client IDs", allowed},
	}
	if cfg.JWKSURL != "" {
		fs = append(fs, field{"Key set", "a key-set URL is configured (JWKSURL); discovery is not used"})
	}
	if cfg.Leeway != 0 {
		fs = append(fs, field{"Leeway on exp and nbf", cfg.Leeway.String()})
	}
	if len(cfg.AllowedClientIDs) > 0 && !slices.ContainsFunc(cfg.AllowedClientIDs, func(id string) bool { return strings.EqualFold(id, intune.MobileClientRelease) }) {
		fs = append(fs, field{"Problem", "the allow-list lacks the App Store build of the Mattermost app (" + intune.MobileClientRelease +
			"): every App Store user is refused; add it to the allowed mobile client IDs"})
	}
	if err := cfg.Check(); err != nil {
		fs = append(fs, field{"Problem", err.Error()})
	}
	return fs
}

// allowedClients lists the allow-list, each official client of the
// Mattermost app with its build: an admin reads "release" faster than a GUID.
func allowedClients(ids []string) string {
	named := make([]string, len(ids))
	for i, id := range ids {
		named[i] = id
		for _, c := range intune.MobileClients() {
			if strings.EqualFold(c.ID, id) {
				named[i] = id + " (the Mattermost app's " + c.Build + " build)"
			}
		}
	}
	return strings.Join(named, ", ")
}

// render writes the page; a template error (a bug) is a plain 500.
func (p *Page) render(w http.ResponseWriter, status int, d *pageData) {
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, d); err != nil {
		p.logger().Error("intuneadmin: the page cannot be rendered", "error", err)
		http.Error(w, "intuneadmin: the page cannot be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
