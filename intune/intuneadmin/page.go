package intuneadmin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/mamlogin/mamlogin/intune"
)

// MaxBodyBytes bounds a POST body: room for a token of intune.MaxTokenBytes,
// form-encoded (up to three bytes per byte), and a little more. A larger
// body is refused with 413 before it is read to the end.
const MaxBodyBytes = 64 << 10

// DefaultTimeout bounds one run of the checks (the key set is fetched from
// the tenant) when Page.Timeout is zero.
const DefaultTimeout = 15 * time.Second

// DefaultTitle is the page's title when Page.Title is empty.
const DefaultTitle = "Intune MAM sign-in test"

// Page is the administrator's test page, an http.Handler. It does no
// authentication: mount it behind the host's administrator check (see the
// package documentation). Its fields are read on every request and must not
// change while it serves.
type Page struct {
	// Config returns the configuration sign-in runs on now, e.g. the
	// LoginHandler's Config method. Required.
	Config func() intune.Config
	// Status is the status sign-in answers an error with, e.g. the
	// LoginHandler's Status method (WithRetryStatus changes it for the
	// `retry once` rows); nil: the documented status.
	Status func(*intune.AppError) int
	// Options are passed to intune.Diagnose and intune.DiagnoseConfig, e.g.
	// intune.WithUserStore(store) (the page then says who the token signs
	// in as), intune.WithKeySetLogger(logger), intune.WithClock(...) (tests).
	Options []intune.Option
	// Title heads the page; DefaultTitle when empty.
	Title string
	// Timeout bounds one run of the checks; DefaultTimeout when zero.
	Timeout time.Duration
	// Logger receives one record per run (the verdict and the token's
	// length, never the token) and per refused request; slog.Default()
	// when nil.
	Logger *slog.Logger
	// CrossOrigin decides which POSTs come from another site and are
	// refused; a zero CrossOriginProtection (same origin only) when nil.
	// Add trusted origins to it when a proxy in front of the host rewrites
	// the Host header.
	CrossOrigin *http.CrossOriginProtection
}

// Result is the JSON answer to a POST: the intune.Report (with its
// snake_case keys) and the verdict.
type Result struct {
	// Checks are the report's checks, in the order sign-in runs them.
	Checks []intune.Check `json:"checks"`
	// OK is the report's: every check passed.
	OK bool `json:"ok"`
	// Verdict is the error ID sign-in would answer; "" when it would sign
	// in. It is the report's Verdict (a disabled configuration fails the
	// config check: sign-in answers not_configured whatever the token).
	Verdict string `json:"verdict"`
	// VerdictStatus is the HTTP status of Verdict (Page.Status's, else the
	// documented one); 0 when "".
	VerdictStatus int `json:"verdict_status,omitempty"`
	// FailedCheck is the check that decides Verdict; "" when it is "".
	FailedCheck string `json:"failed_check,omitempty"`
	// NextStep is the admin's next step for Verdict; "" when it is "".
	NextStep string `json:"next_step"`
	// Summary is the one-line verdict the page shows at its top.
	Summary string `json:"summary"`
	// TokenChecked is false when only the configuration and the key set
	// were checked.
	TokenChecked bool `json:"token_checked"`
	// Notes say what the page did with the input (no token, whitespace
	// removed, ...).
	Notes []string `json:"notes,omitempty"`
}

// ErrorBody is the JSON answer to a request that was refused (a body too
// large, a cross-site post, a malformed body, ...).
type ErrorBody struct {
	Error      string `json:"error"`
	StatusCode int    `json:"status_code"`
}

// sameOrigin is the check used when Page.CrossOrigin is nil: its zero value
// trusts no other origin.
var sameOrigin = new(http.CrossOriginProtection)

// input is what a POST asked for.
type input struct {
	token      string
	configOnly bool
	notes      []string
}

// refusal is a request the page will not run, with the status and the
// message to answer.
type refusal struct {
	status int
	msg    string
}

func (e *refusal) Error() string { return e.msg }

func refuse(status int, format string, args ...any) *refusal {
	return &refusal{status: status, msg: fmt.Sprintf(format, args...)}
}

// ServeHTTP answers GET and HEAD with the form, POST with the checks' result.
func (p *Page) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Add("Vary", "Accept")

	if p.Config == nil {
		p.logger().Error("intuneadmin: Page.Config is nil; the test page cannot run")
		p.fail(w, r, refuse(http.StatusInternalServerError, "The test page is not set up: the host gave it no configuration (Page.Config is nil)."))
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		p.render(w, http.StatusOK, p.view(p.Config(), nil, nil))
	case http.MethodPost:
		p.post(w, r)
	default:
		h.Set("Allow", "GET, HEAD, POST")
		p.fail(w, r, refuse(http.StatusMethodNotAllowed, "Method %s is not allowed here: use GET for the form and POST to run the checks.", r.Method))
	}
}

func (p *Page) post(w http.ResponseWriter, r *http.Request) {
	if err := p.crossOrigin().Check(r); err != nil {
		p.logger().LogAttrs(r.Context(), slog.LevelWarn, "intuneadmin: cross-origin POST refused",
			slog.String("origin", clip(r.Header.Get("Origin"))), slog.String("sec_fetch_site", clip(r.Header.Get("Sec-Fetch-Site"))),
			slog.String("host", clip(r.Host)))
		p.fail(w, r, refuse(http.StatusForbidden,
			"Refused: this request comes from another site (%v). Open the test page on this server and submit it from there.", err))
		return
	}
	check, unknown := postedCheck(r)
	switch {
	case unknown != nil:
		p.refused(w, r, unknown)
		return
	case check == checkApp:
		p.postApp(w, r)
		return
	}
	in, err := readInput(w, r)
	if err != nil {
		var rf *refusal
		if !errors.As(err, &rf) {
			rf = refuse(http.StatusBadRequest, "%v", err)
		}
		p.refused(w, r, rf)
		return
	}

	cfg := p.Config()
	ctx, cancel := context.WithTimeout(r.Context(), p.timeout())
	defer cancel()
	var rep *intune.Report
	if in.token == "" || in.configOnly {
		rep = intune.DiagnoseConfig(ctx, cfg, p.Options...)
	} else {
		rep = intune.Diagnose(ctx, cfg, in.token, p.Options...)
	}
	if ctx.Err() != nil && r.Context().Err() == nil {
		in.notes = append(in.notes, fmt.Sprintf("The checks ran out of time (%s): a check that fetches from the tenant may have failed for that reason.", p.timeout()))
	}
	res := newResult(cfg, rep, in)
	if e, ok := intune.LookupError(res.Verdict); ok && p.Status != nil {
		res.VerdictStatus = p.Status(e) // what the app is answered, not only what is documented
	}
	p.logger().LogAttrs(r.Context(), slog.LevelInfo, "intuneadmin: sign-in test run",
		slog.Bool("token_checked", res.TokenChecked), slog.Int("token_bytes", len(in.token)),
		slog.String("verdict", res.Verdict), slog.String("failed_check", res.FailedCheck))

	if isJSON(r) || prefersJSON(r) {
		writeJSON(w, http.StatusOK, res)
		return
	}
	p.render(w, http.StatusOK, p.view(cfg, res, nil))
}

// readInput reads the form or JSON body, bounded by MaxBodyBytes.
func readInput(w http.ResponseWriter, r *http.Request) (input, error) {
	var in input
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil && ct != "" {
		return in, refuse(http.StatusUnsupportedMediaType, "The body's Content-Type %q cannot be read; send a form (application/x-www-form-urlencoded) or JSON (application/json).", clip(ct))
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	switch mt {
	case "application/json":
		var body struct {
			Token       *string `json:"token"`
			AccessToken *string `json:"access_token"`
			ConfigOnly  bool    `json:"config_only"`
		}
		dec := json.NewDecoder(r.Body)
		if err := dec.Decode(&body); err != nil {
			return in, bodyError(err, "The JSON body cannot be read (%v); send {\"token\": \"<access token>\"}.", jsonProblem(err))
		}
		if dec.More() {
			return in, refuse(http.StatusBadRequest, "The JSON body holds more than one value; send one object: {\"token\": \"<access token>\"}.")
		}
		switch {
		case body.Token != nil && body.AccessToken != nil:
			return in, refuse(http.StatusBadRequest, "The JSON body has both \"token\" and \"access_token\"; send one.")
		case body.Token != nil:
			in.token = *body.Token
		case body.AccessToken != nil:
			in.token = *body.AccessToken
		}
		in.configOnly = body.ConfigOnly
	case "application/x-www-form-urlencoded":
		if err := r.ParseForm(); err != nil {
			return in, bodyError(err, "The form cannot be read: it is not valid application/x-www-form-urlencoded.")
		}
		in.token = r.PostForm.Get("token")
		switch a := r.PostForm.Get("action"); a {
		case "", "token":
		case "config":
			in.configOnly = true
		default:
			return in, refuse(http.StatusBadRequest, "Unknown action %q: use \"token\" or \"config\".", clip(a))
		}
	default:
		return in, refuse(http.StatusUnsupportedMediaType, "The body must be a form (application/x-www-form-urlencoded) or JSON (Content-Type: application/json), not %q.", clip(ct))
	}
	in.token, in.notes = cleanToken(in.token, in.configOnly)
	if len(in.token) > intune.MaxTokenBytes {
		return in, refuse(http.StatusBadRequest,
			"The pasted text is %d bytes; an access token is at most %d bytes here (Entra's are 1.5 to 4 KB). Paste only the access token: the three dot-separated parts the app sends as access_token.",
			len(in.token), intune.MaxTokenBytes)
	}
	return in, nil
}

// bodyError is 413 for a body over MaxBodyBytes, else 400 with msg.
func bodyError(err error, format string, args ...any) error {
	var mb *http.MaxBytesError
	if errors.As(err, &mb) {
		return refuse(http.StatusRequestEntityTooLarge,
			"The request body is over %d bytes. Paste only the access token (Entra's are 1.5 to 4 KB; at most %d bytes are read).", MaxBodyBytes, intune.MaxTokenBytes)
	}
	return refuse(http.StatusBadRequest, format, args...)
}

// jsonProblem describes a JSON decoding error without quoting the body.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return "not JSON at byte " + strconv.FormatInt(se.Offset, 10)
	case errors.As(err, &te):
		return fmt.Sprintf("%q must be a JSON %s", te.Field, map[string]string{"token": "string", "access_token": "string", "config_only": "boolean"}[te.Field])
	case errors.Is(err, context.Canceled):
		return "the request was cancelled"
	}
	return "it is empty or cut short"
}

// cleanToken removes what a paste commonly carries around a token: a
// "Bearer " prefix and surrounding whitespace. It says so in notes.
func cleanToken(raw string, configOnly bool) (string, []string) {
	var notes []string
	tok := strings.TrimSpace(raw)
	if len(tok) >= 7 && strings.EqualFold(tok[:7], "bearer ") {
		tok = strings.TrimSpace(tok[7:])
		notes = append(notes, "A leading \"Bearer \" was removed from the paste.")
	}
	if tok != "" && len(tok) < len(raw) && len(notes) == 0 {
		notes = append(notes, "Whitespace around the paste was removed.")
	}
	switch {
	case configOnly && tok != "":
		notes = append(notes, "Only the configuration and the key set were checked, as asked; the pasted token was not.")
		tok = ""
	case configOnly:
		notes = append(notes, "Only the configuration and the key set were checked, as asked.")
	case tok == "":
		notes = append(notes, "No token was given: only the configuration and the key set were checked.")
	}
	return tok, notes
}

// isJSON says whether the body is JSON (Content-Type application/json).
func isJSON(r *http.Request) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt == "application/json"
}

// prefersJSON says whether the request's Accept ranks application/json above
// text/html.
func prefersJSON(r *http.Request) bool {
	accept := r.Header.Values("Accept")
	if len(accept) == 0 {
		return false
	}
	return quality(accept, "application", "json") > quality(accept, "text", "html")
}

// quality is the q value Accept gives typ/sub: the most specific matching
// range's (RFC 9110, 12.5.1).
func quality(accept []string, typ, sub string) float64 {
	best, q := -1, 0.0
	for _, line := range accept {
		for _, rng := range strings.Split(line, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(rng))
			if err != nil {
				continue
			}
			t, s, _ := strings.Cut(mt, "/")
			spec := -1
			switch {
			case t == typ && s == sub:
				spec = 2
			case t == typ && s == "*":
				spec = 1
			case t == "*" && s == "*":
				spec = 0
			}
			if spec <= best {
				continue
			}
			best, q = spec, 1
			if v, ok := params["q"]; ok {
				if f, err := strconv.ParseFloat(v, 64); err == nil && f >= 0 && f <= 1 {
					q = f
				} else {
					q = 0
				}
			}
		}
	}
	return q
}

// fail answers a refused request: JSON for a JSON body or a client that
// prefers it, else the page with the message and an empty form.
// refused logs a request refused for what it holds, and answers rf.
func (p *Page) refused(w http.ResponseWriter, r *http.Request, rf *refusal) {
	p.logger().LogAttrs(r.Context(), slog.LevelInfo, "intuneadmin: request refused",
		slog.Int("status", rf.status), slog.String("reason", rf.msg))
	p.fail(w, r, rf)
}

func (p *Page) fail(w http.ResponseWriter, r *http.Request, rf *refusal) {
	if isJSON(r) || prefersJSON(r) {
		writeJSON(w, rf.status, ErrorBody{Error: rf.msg, StatusCode: rf.status})
		return
	}
	if p.Config == nil {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(rf.status)
		_, _ = fmt.Fprintln(w, rf.msg)
		return
	}
	p.render(w, rf.status, p.view(p.Config(), nil, rf))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func (p *Page) logger() *slog.Logger {
	if p.Logger != nil {
		return p.Logger
	}
	return slog.Default()
}

func (p *Page) timeout() time.Duration {
	if p.Timeout > 0 {
		return p.Timeout
	}
	return DefaultTimeout
}

func (p *Page) crossOrigin() *http.CrossOriginProtection {
	if p.CrossOrigin != nil {
		return p.CrossOrigin
	}
	return sameOrigin
}

func (p *Page) title() string {
	if p.Title != "" {
		return p.Title
	}
	return DefaultTitle
}

// clip bounds a request header or value quoted in a message or the log.
func clip(s string) string {
	const limit = 100
	if len(s) > limit {
		return strings.ToValidUTF8(s[:limit], "") + "..."
	}
	return s
}
