package intune

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-json-experiment/json/jsontext"
	"golang.org/x/time/rate"

	"github.com/mamlogin/mamlogin/internal/dispatch"
	"github.com/mamlogin/mamlogin/internal/mmid"
)

// Bounds on the request. A real body is a 1.5-4 KB token and two short ids.
const (
	MaxBodyBytes    = MaxTokenBytes + 8<<10
	MaxDeviceIDLen  = 512
	RequestIDHeader = "X-Request-ID"
)

// HandlerOption configures NewLoginHandler.
type HandlerOption func(*LoginHandler)

// WithLogger sets the admin log of sign-ins (default slog.Default()). The
// key set's own events go to the Validator's logger (WithKeySetLogger).
func WithLogger(l *slog.Logger) HandlerOption { return func(h *LoginHandler) { h.log = l } }

// WithAvailability sets the host's check of this build or licence: when ok
// returns false, the feature is lacking and sign-ins answer not_available (501).
func WithAvailability(ok func(ctx context.Context) bool) HandlerOption {
	return func(h *LoginHandler) { h.available = ok }
}

// WithProviderCheck sets the host's check of the enforced provider: when ok
// returns false, that provider is not itself configured in the host and
// sign-ins answer ent.intune.login.not_configured (403).
func WithProviderCheck(ok func(ctx context.Context, s AuthService) bool) HandlerOption {
	return func(h *LoginHandler) { h.providerOK = ok }
}

// WithRetryStatus sets the status of the `retry once` rows (invalid_token, token_expired,
// extract_auth_data); default 400 as documented; the shipping app retries only on 401.
// ID, message and body are unchanged; a 401 carries WWW-Authenticate. Only 400
// and 401 are accepted: NewLoginHandler panics on any other.
func WithRetryStatus(code int) HandlerOption { return func(h *LoginHandler) { h.retryStatus = code } }

// WithMessages localises user messages per request (e.g. by Accept-Language): it gets the
// error ID and the documented English text ("" for silent rows); returning "" keeps English.
// It may give a silent row text (the real server says "Microsoft Intune authentication is
// not configured." where the catalog is silent; the app shows an empty message as
// "Response with status code N").
func WithMessages(msg func(r *http.Request, id, english string) string) HandlerOption {
	return func(h *LoginHandler) { h.messages = msg }
}

// WithSuccessLevel sets the level of the log record of a successful sign-in
// (default slog.LevelDebug: successes are the audit trail's, through
// WithEvents, and at thousands a second would bury the failures).
func WithSuccessLevel(l slog.Level) HandlerOption {
	return func(h *LoginHandler) { h.successLevel = l }
}

// WithFailureLogLimit bounds the failure records: perSecond on average with
// bursts of burst (default 10 and 100). Beyond it, records are dropped and
// counted, and a summary with the count is logged ten seconds after the
// first drop. A flood of garbage cannot fill the disk; events (WithEvents)
// still see every failure.
func WithFailureLogLimit(perSecond float64, burst int) HandlerOption {
	return func(h *LoginHandler) { h.logLimit, h.logBurst = rate.Limit(perSecond), burst }
}

// WithIDAttribute names the host's setting that maps the user's identity
// (Mattermost: "IdAttribute"), so that next steps about an oid that cannot
// be mapped tell the admin to set it to objectId. Without it they do not
// mention a setting the host does not have.
func WithIDAttribute(setting string) HandlerOption {
	return func(h *LoginHandler) { h.idAttribute = setting }
}

// WithIdAttribute is the old spelling of WithIDAttribute, kept so that
// integrators' code still compiles.
//
// Deprecated: use WithIDAttribute.
//
//lint:ignore ST1003 the old spelling is the point: integrators call it.
func WithIdAttribute(setting string) HandlerOption { return WithIDAttribute(setting) }

// WithValidatorOptions are the options of the Validators the handler builds
// when SetConfig changes the tenant, client, authority or key source.
func WithValidatorOptions(opts ...Option) HandlerOption {
	return func(h *LoginHandler) { h.validatorOpts = append(h.validatorOpts, opts...) }
}

// LoginHandler is the sign-in endpoint: an http.Handler the host mounts
// where the shipping app posts (POST /oauth/intune) and at
// POST /api/v4/users/login/intune. Its configuration can change while it
// serves (SetConfig). It is safe for concurrent use.
type LoginHandler struct {
	store    UserStore
	sessions SessionIssuer

	// Set by options, then read-only.
	log           *slog.Logger
	available     func(context.Context) bool
	providerOK    func(context.Context, AuthService) bool
	retryStatus   int
	messages      func(r *http.Request, id, english string) string
	successLevel  slog.Level
	logLimit      rate.Limit
	logBurst      int
	idAttribute   string
	validatorOpts []Option
	events        func(SignInEvent)
	pending       bool // WithConfigPending: not ready until the first SetConfig

	state    atomic.Pointer[binding] // the configuration sign-ins run on
	changing sync.Mutex              // serialises SetConfig and Close
	closed   bool                    // Close ran: SetConfig is refused (under changing)
	failures *failureLog
	dispatch *dispatch.Dispatcher[SignInEvent] // nil without WithEvents
}

// NewLoginHandler returns the sign-in endpoint for cfg, validating tokens
// with v, resolving users by oid through store and opening sessions through
// sessions. It applies the gates in order (available, enabled and
// complete, provider configured), then validates, resolves and signs in.
// Every failure is answered with its app_error and logged once.
//
// v must have been built for cfg (same tenant, client, authority, key-set
// URL, allowed clients and leeway); a handler never acts on a configuration
// its Validator was not built for: otherwise every sign-in is refused as
// not_configured and the mismatch is logged, naming the field. v may be nil
// while Intune MAM is disabled. The handler does not close v; it closes the
// Validators it builds itself (SetConfig) on Close. The handler keeps a copy
// of cfg: changing yours afterwards changes nothing. A host that loads its
// configuration later builds the handler WithConfigPending.
func NewLoginHandler(cfg Config, v *Validator, store UserStore, sessions SessionIssuer, opts ...HandlerOption) *LoginHandler {
	h := &LoginHandler{store: store, sessions: sessions, log: slog.Default(), retryStatus: http.StatusBadRequest,
		successLevel: slog.LevelDebug, logLimit: 10, logBurst: 100}
	for _, o := range opts {
		o(h)
	}
	if h.retryStatus != http.StatusBadRequest && h.retryStatus != http.StatusUnauthorized {
		panic(fmt.Sprintf("intune: WithRetryStatus(%d): only 400 (documented) or 401 (the shipping app's retry)", h.retryStatus))
	}
	h.failures = newFailureLog(h.log, h.logLimit, h.logBurst)
	var receive func(SignInEvent)
	if h.events != nil {
		receive = func(ev SignInEvent) { ev.complete(); h.events(ev) }
	}
	h.dispatch = newDispatcher(receive, newReceiverLog(h.log, h.logLimit, h.logBurst).panicked)
	cfg = cfg.clone() // the caller keeps theirs: only SetConfig changes this one
	if h.pending {
		h.state.Store(pendingBinding(cfg))
		return h
	}
	b := bind(cfg, v, false)
	if b.mismatch != "" {
		h.log.Error("intune: configuration refused: "+b.mismatch, "next_step", "build the Validator from the same Config, or use LoginHandler.SetConfig")
	}
	h.state.Store(b)
	return h
}

// Status is the HTTP status the handler answers e with: the row's own,
// or for a `retry once` row the one WithRetryStatus set. A test page that
// shows the verdict says it (intuneadmin's Page.Status).
func (h *LoginHandler) Status(e *AppError) int {
	if e.Retry == RetryOnce {
		return h.retryStatus
	}
	return e.StatusCode
}

// request is the app's body: {"device_id", "voip_device_id", "access_token"}.
type request struct {
	accessToken, deviceID, voipDeviceID string
	in                                  bodyReader // the body, while parseRequest reads it
}

// attempt records one sign-in for its answer, its log and its event.
type signInAttempt struct {
	rid     string
	start   time.Time
	b       *binding
	req     *request // nil until the body is read
	body    request  // req's storage
	check   attempt  // the token's validation
	claims  *Claims
	user    *User
	created bool
}

// ServeHTTP answers one sign-in. It reads top to bottom: the configuration
// this sign-in runs on, the gates, the request, the token, the user, the
// body, the session.
func (h *LoginHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusMethodNotAllowed)
		_, _ = w.Write(appErrorBody(nil, "api.context.method_not_allowed.app_error", "", requestID(r), http.StatusMethodNotAllowed))
		return
	}
	a := &signInAttempt{rid: requestID(r), start: time.Now(), b: h.state.Load()}
	setAnswerHeaders(w.Header(), a.rid)
	body, e := h.signIn(w, r, a)
	if e != nil {
		h.fail(w, r, a, e)
		return
	}
	w.Header()["Content-Type"] = []string{"application/json"} // again: the session issuer may have changed it
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
	h.succeeded(r, a)
}

// requestIDKey is RequestIDHeader as net/http keys it.
var requestIDKey = http.CanonicalHeaderKey(RequestIDHeader)

// setAnswerHeaders sets what every answer carries: the request id, no
// caching, a JSON body. The keys are canonical and the values share one
// allocation (as Header.Clone does): a rejected flood pays for each header.
// Each value slice has a capacity of one, so an Add appends elsewhere.
func setAnswerHeaders(hdr http.Header, rid string) {
	v := [...]string{rid, "no-store", "application/json"}
	vs := v[:] // one allocation for the three
	hdr[requestIDKey] = vs[0:1:1]
	hdr["Cache-Control"] = vs[1:2:2]
	hdr["Content-Type"] = vs[2:3:3]
}

// signIn runs every step and returns the success body.
func (h *LoginHandler) signIn(w http.ResponseWriter, r *http.Request, a *signInAttempt) ([]byte, *AppError) {
	ctx := r.Context()
	if e := h.gates(ctx, a.b); e != nil {
		setRetryAfter(w.Header(), e)
		return nil, e
	}
	if e := readRequest(w, r, &a.body); e != nil {
		return nil, e
	}
	a.req = &a.body
	a.check.ctx, a.check.raw = ctx, a.req.accessToken
	c, e := a.b.v.validate(&a.check)
	if e != nil {
		return nil, e
	}
	a.claims = c
	a.user, a.created, e = h.resolve(ctx, a.b.cfg.AuthService, c)
	if e != nil {
		return nil, e
	}
	// The body is made and checked before the session, so that no failure
	// can follow a session's credentials out of the door.
	body, e := successBody(a.user, a.b.cfg.AuthService)
	if e != nil {
		return nil, e
	}
	if e := h.issueSession(ctx, w, r, a); e != nil {
		return nil, e
	}
	return body, nil
}

// gates are the first checks: available, enabled and complete (on a
// Validator built for it), the provider configured in the host.
func (h *LoginHandler) gates(ctx context.Context, b *binding) *AppError {
	if h.available != nil && !h.available(ctx) {
		return errNotAvailable.because("the host reports Intune MAM unavailable in this build or licence")
	}
	if b.off != nil {
		return b.off.because("%s", b.off.Reason)
	}
	if h.providerOK != nil && !h.providerOK(ctx, b.cfg.AuthService) {
		return errProviderNotConfigured.because("the enforced provider %q is not configured in the host", b.cfg.AuthService)
	}
	return nil
}

// Fitted next steps for requests that did not come as the app sends them.
const (
	fixBody   = "The request did not come as the shipping app sends it: check the client, or a proxy that rewrites request bodies; the server's Entra settings are not the cause."
	fixForged = "Only the app may post here: a request without a JSON Content-Type or X-Requested-With: XMLHttpRequest is what a cross-site form sends (login CSRF). If it is your own client, send the app's headers."
)

// readRequest refuses what a browser could forge, then reads the bounded
// JSON body. Unknown members are ignored (a newer app may add some); a
// body that is not JSON, a repeated member, a non-string value, no
// access_token, an oversized id, one with control characters or a VoIP id
// not in the <platform>:<token> format is invalid_param (400, whatever the
// retry status: a new MSAL token would not help).
func readRequest(w http.ResponseWriter, r *http.Request, req *request) *AppError {
	if !fromApp(r) {
		return errInvalidToken.because("refused a request a browser could forge: Content-Type %q and no X-Requested-With: XMLHttpRequest",
			clipFact(r.Header.Get("Content-Type"))).fixedBy(fixForged)
	}
	return parseRequest(w, r, req)
}

// bodyReader is the request body as parseRequest's JSON decoder reads it:
// the decoder reads straight from the connection into its own recycled
// buffer, and the strings it keeps are copied out of it (stringValue), so
// that a request allocates no buffer for its body. bodyReader counts the
// bytes, stops one past the declared length (a body longer than declared
// is an error, not truncated), and keeps the body's own read error apart
// from the JSON's faults.
type bodyReader struct {
	body    io.Reader
	left    int64 // bytes still allowed: the declared length, plus one
	read    int64
	eof     bool
	readErr error // the body's error, other than io.EOF
}

func (b *bodyReader) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.body.Read(p)
	b.left -= int64(n)
	b.read += int64(n)
	switch {
	case err == io.EOF:
		b.eof = true
	case err != nil:
		b.readErr = err
	}
	return n, err
}

// parseRequest reads the bounded body into req: with its declared length
// when that is within the bound (the app declares it), else as it comes,
// up to the bound.
func parseRequest(w http.ResponseWriter, r *http.Request, req *request) *AppError {
	declared := r.ContentLength
	req.in = bodyReader{body: r.Body, left: declared + 1}
	if declared <= 0 || declared > MaxBodyBytes {
		// MaxBytesReader also tells the server to close the connection
		// after an oversized body.
		req.in = bodyReader{body: http.MaxBytesReader(w, r.Body, MaxBodyBytes), left: MaxBodyBytes + 1}
		declared = -1
	}
	err := readFrom(&req.in, req)
	in := req.in
	req.in = bodyReader{} // keeps nothing of the request
	switch {
	case in.readErr != nil:
		if _, ok := errors.AsType[*http.MaxBytesError](in.readErr); ok {
			return errInvalidParam.because("request body is over the %d-byte bound", MaxBodyBytes).fixedBy(fixBody)
		}
		return errInvalidParam.because("reading the request body: %v", in.readErr).fixedBy(fixBody)
	case declared >= 0 && in.read > declared:
		return errInvalidParam.because("reading the request body: the body is longer than its Content-Length").fixedBy(fixBody)
	case declared >= 0 && in.eof && in.read < declared:
		return errInvalidParam.because("reading the request body: the body is shorter than its Content-Length").fixedBy(fixBody)
	case err != nil:
		return errInvalidParam.because("request body: %v", err).fixedBy(fixBody)
	}
	if e := checkRequest(req); e != nil {
		return e.fixedBy(fixBody)
	}
	return nil
}

// fromApp reports whether r carries what a cross-site HTML form cannot send
// without a CORS preflight: a JSON Content-Type (parameters allowed) or the
// app's X-Requested-With: XMLHttpRequest.
func fromApp(r *http.Request) bool {
	if strings.EqualFold(firstValue(r.Header, "X-Requested-With"), "XMLHttpRequest") {
		return true
	}
	ct := firstValue(r.Header, "Content-Type")
	if strings.EqualFold(ct, "application/json") {
		return true // what the app sends, without parsing (ParseMediaType allocates)
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "application/json"
}

// requestMembers are the members of the body parseRequest reads; others
// are ignored.
var requestMembers = []string{"access_token", "device_id", "voip_device_id"}

// UnmarshalJSONFrom reads the body's members of requestMembers (readInto).
func (req *request) UnmarshalJSONFrom(d *jsontext.Decoder) error {
	return walkObject(d, requestMembers, req.member)
}

// member reads one member of requestMembers into req: a string, or null
// for absent.
func (req *request) member(d *jsontext.Decoder, name string) error {
	dst := &req.accessToken
	switch name {
	case "device_id":
		dst = &req.deviceID
	case "voip_device_id":
		dst = &req.voipDeviceID
	}
	if d.PeekKind() == 'n' { // null: absent
		return d.SkipValue()
	}
	return requireString(d, name, dst)
}

// checkRequest checks the members parseRequest read: an access token, and
// device ids within their bounds.
func checkRequest(req *request) *AppError {
	if req.accessToken == "" {
		return errInvalidParam.because("request body has no access_token")
	}
	for _, id := range [...]struct{ name, v string }{{"device_id", req.deviceID}, {"voip_device_id", req.voipDeviceID}} {
		if len(id.v) > MaxDeviceIDLen {
			return errInvalidParam.because("%s is %d bytes, over the %d-byte bound", id.name, len(id.v), MaxDeviceIDLen)
		}
		if i := strings.IndexFunc(id.v, func(r rune) bool { return r < 0x20 || r == 0x7f }); i >= 0 {
			return errInvalidParam.because("%s has a control character at offset %d", id.name, i)
		}
	}
	if req.voipDeviceID != "" {
		if fault := deviceIDFault(req.voipDeviceID); fault != "" {
			return errInvalidParam.because("voip_device_id is not in the <platform>:<token> format (%d bytes, %s)", len(req.voipDeviceID), fault)
		}
	}
	return nil
}

// deviceIDFault says what keeps id from the push device id format the real
// server accepts, "<platform>:<token>" with a platform of letters, digits,
// '_', '-' or '.' (apple_rn-v2, apple_voip, android_rn) and a non-empty
// token; "" when it has that format. It never repeats the id: the id is
// the client's words, and a push token is not for the log.
func deviceIDFault(id string) string {
	platform, token, ok := strings.Cut(id, ":")
	switch {
	case !ok:
		return "no ':' between platform and token"
	case platform == "":
		return "no platform before ':'"
	case token == "":
		return "no token after ':'"
	}
	for i := 0; i < len(platform); i++ {
		if !isIDByte(platform[i]) {
			return "the platform has a character other than a letter, digit, '_', '-' or '.'"
		}
	}
	return ""
}

// isIDByte reports whether c may stand in a request id or a device id's
// platform: a letter, a digit, '-', '_' or '.'.
func isIDByte(c byte) bool {
	return c == '-' || c == '_' || c == '.' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// issueSession opens the host's session. If the issuer fails, the response
// headers go back to what they were before the call: what the issuer set is
// taken back, and what middleware set before the handler (load-balancer
// affinity, tracing cookies) stays.
func (h *LoginHandler) issueSession(ctx context.Context, w http.ResponseWriter, r *http.Request, a *signInAttempt) *AppError {
	before := w.Header().Clone()
	s := &SignIn{User: a.user, Claims: a.claims, DeviceID: a.req.deviceID, VoIPDeviceID: a.req.voipDeviceID}
	if err := h.sessions.IssueSession(ctx, w, r, s); err != nil {
		hdr := w.Header()
		for k := range hdr {
			delete(hdr, k)
		}
		for k, v := range before {
			hdr[k] = v
		}
		return errSessionFailed.because("IssueSession for user %q: %v", a.user.ID, err)
	}
	return nil
}

// requestID takes the client's X-Request-ID when it is a sane token, else
// makes one (26 characters, as Mattermost's ids).
func requestID(r *http.Request) string {
	if id := firstValue(r.Header, requestIDKey); id != "" && len(id) <= 64 {
		ok := true
		for i := 0; i < len(id) && ok; i++ {
			ok = isIDByte(id[i])
		}
		if ok {
			return id
		}
	}
	return mmid.NewRequestID()
}

// firstValue is Header.Get for a key already canonical: Get canonicalises
// its key on every call, and a key that is not canonical ("X-Request-ID")
// costs an allocation each time.
func firstValue(h http.Header, canonicalKey string) string {
	if v := h[canonicalKey]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Close stops the event goroutine and closes the Validator the handler built
// (SetConfig); a Validator given to NewLoginHandler is the host's to close.
// Sign-ins after Close are still answered.
func (h *LoginHandler) Close() error {
	h.changing.Lock()
	defer h.changing.Unlock()
	h.closed = true
	if b := h.state.Load(); b.owned && b.v != nil {
		_ = b.v.Close()
	}
	if h.dispatch != nil {
		h.dispatch.Close()
	}
	return nil
}

// EventsDropped is the number of sign-in events not delivered to the
// WithEvents receiver because it fell behind.
func (h *LoginHandler) EventsDropped() uint64 {
	if h.dispatch == nil {
		return 0
	}
	return h.dispatch.Dropped()
}
