package intune

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
)

const fixProfile = "Make the user JSON (User.Profile) carry \"id\" and \"auth_service\" equal to Config.AuthService, as Mattermost's user object does: the app enforces MAM only for a user whose auth_service matches IntuneAuthService."

// successBody marshals the user JSON and checks that the app can enforce
// MAM with it: "id" set, "auth_service" the published IntuneAuthService
// (ignoring case, as the app compares). Anything else is a 500, never a 200
// after which the app silently skips MAM enrollment.
func successBody(u *User, svc AuthService) ([]byte, *AppError) {
	profile := u.Profile
	if profile == nil {
		profile = map[string]string{"id": u.ID, "auth_service": string(svc)}
	}
	body, err := json.Marshal(profile)
	if err != nil {
		return nil, errStoreFailed.because("the profile of user %q does not marshal to JSON: %v", u.ID, err).fixedBy(fixProfile)
	}
	var f profileFields
	err = readInto(body, &f)
	switch {
	case err != nil:
		return nil, errStoreFailed.because("the profile of user %q is not a JSON object: %v", u.ID, err).fixedBy(fixProfile)
	case f.wrongType != "":
		return nil, errStoreFailed.because("the profile of user %q is unusable: %s", u.ID, f.wrongType).fixedBy(fixProfile)
	case !f.hasID || f.id == "":
		return nil, errStoreFailed.because("the profile of user %q has no \"id\"", u.ID).fixedBy(fixProfile)
	case !f.hasService || !strings.EqualFold(f.authService, string(svc)):
		return nil, errStoreFailed.because("the profile of user %q has auth_service %q, the published IntuneAuthService is %q: the app would skip MAM enrollment",
			u.ID, clipFact(f.authService), svc).fixedBy(fixProfile)
	}
	return body, nil
}

// profileFields are the members of the user JSON that successBody checks,
// read as the other documents are (readInto): hasID and hasService say the
// member was a string; wrongType says which was not, and what it was (a
// host with integer user ids would otherwise read "no id").
type profileFields struct {
	id, authService   string
	hasID, hasService bool
	wrongType         string
}

// profileMembers are the members of the user JSON profileFields reads.
var profileMembers = []string{"id", "auth_service"}

func (f *profileFields) UnmarshalJSONFrom(d *jsontext.Decoder) error {
	return walkObject(d, profileMembers, f.member)
}

func (f *profileFields) member(d *jsontext.Decoder, name string) error {
	dst, has := &f.id, &f.hasID
	if name == "auth_service" {
		dst, has = &f.authService, &f.hasService
	}
	other, err := stringValue(d, dst)
	*has = other == nil
	if other != nil {
		f.wrongType = name + " is " + kindPhrase(other.Kind()) + ", not a string"
	}
	return err
}

// fail answers e as an app_error body and logs it (rate-limited).
func (h *LoginHandler) fail(w http.ResponseWriter, r *http.Request, a *signInAttempt, e *AppError) {
	status := h.Status(e)
	msg := e.Message
	if h.messages != nil {
		if m := h.messages(r, e.ID, e.Message); m != "" {
			msg = m
		}
	}
	if status == http.StatusUnauthorized { // RFC 6750; nothing more: no internals
		w.Header()["Www-Authenticate"] = []string{`Bearer error="invalid_token"`}
	}
	w.WriteHeader(status)
	body := errorBodies.Get().(*[]byte)
	*body = appErrorBody((*body)[:0], e.ID, msg, a.rid, status)
	_, _ = w.Write(*body)    // an io.Writer keeps nothing of it
	if cap(*body) <= 4<<10 { // a host's long message does not pin a large buffer
		errorBodies.Put(body)
	}

	if e.Facts == (TokenFacts{}) && a.claims != nil {
		e.Facts = a.claims.facts(a.claims.kid) // a failure after validation: the verified facts
	}
	took := time.Since(a.start)
	if h.failures.allow() {
		e.readUnverified()
		h.logFailure(r, a, e, status, took)
	}
	h.emit(a, e, status, took)
}

// errorBodies recycles the buffers error bodies are written from: a
// rejected flood writes one per request.
var errorBodies = sync.Pool{New: func() any {
	b := make([]byte, 0, 512)
	return &b
}}

// logFailure writes the admin's record of one failure: the ID, the cause,
// the next step that fits the reason, the reason, and the safe token facts.
func (h *LoginHandler) logFailure(r *http.Request, a *signInAttempt, e *AppError, status int, took time.Duration) {
	level := slog.LevelWarn
	if status >= 500 && status != http.StatusNotImplemented {
		level = slog.LevelError
	}
	next := e.NextStep()
	if e.identity && h.idAttribute != "" {
		next += " Set " + h.idAttribute + " = objectId for the enforced provider, and confirm objectId <-> oid alignment."
	}
	f := e.Facts
	h.log.LogAttrs(r.Context(), level, "intune: sign-in failed",
		slog.String("request_id", a.rid),
		slog.String("error_id", e.ID),
		slog.Int("status", status),
		slog.String("reason", e.Reason),
		slog.String("cause", e.AdminCause),
		slog.String("next_step", next),
		slog.String("retry", string(e.Retry)),
		slog.String("fallback", string(e.Fallback)),
		slog.Group("token",
			slog.Bool("verified", f.Verified),
			slog.String("tid", f.TenantID), slog.String("oid", f.ObjectID), slog.String("aud", f.Audience),
			slog.String("azp", f.AuthorizedParty), slog.String("kid", f.KeyID), slog.Int64("exp", f.ExpiresAt),
			slog.String("iss", f.Issuer), slog.String("ver", f.Version)),
		slog.String("user_agent", clipFact(r.UserAgent())),
		slog.Duration("took", took),
	)
}

// succeeded logs a sign-in at the host's chosen level and reports it.
func (h *LoginHandler) succeeded(r *http.Request, a *signInAttempt) {
	took := time.Since(a.start)
	if h.log.Enabled(r.Context(), h.successLevel) {
		c := a.claims
		h.log.LogAttrs(r.Context(), h.successLevel, "intune: signed in",
			slog.String("request_id", a.rid), slog.String("user_id", a.user.ID), slog.Bool("created", a.created),
			slog.String("oid", c.ObjectID), slog.String("tid", c.TenantID), slog.String("auth_service", string(a.b.cfg.AuthService)),
			slog.Duration("took", took))
	}
	h.emit(a, nil, http.StatusOK, took)
}

// emit hands the attempt's event to the host's receiver, never waiting.
func (h *LoginHandler) emit(a *signInAttempt, e *AppError, status int, took time.Duration) {
	if h.dispatch == nil {
		return
	}
	ev := SignInEvent{RequestID: a.rid, Start: a.start, Duration: took, Outcome: OutcomeSuccess, Status: status}
	if a.b.off == nil {
		ev.Provider = a.b.cfg.AuthService
	}
	if a.req != nil {
		ev.HasDeviceID, ev.HasVoIPDeviceID = a.req.deviceID != "", a.req.voipDeviceID != ""
	}
	if e != nil {
		// The reason and an unverified token's facts are read on the
		// dispatcher's goroutine (complete), not on the request's: nothing
		// touches e after this.
		ev.Outcome, ev.failure = e.ID, e
	} else {
		ev.UserID, ev.Created, ev.Token = a.user.ID, a.created, a.claims.facts(a.claims.kid)
	}
	h.dispatch.Send(ev)
}

// appErrorBody appends the app_error body the app reads. detailed_error is
// always empty: validation internals are logged, never sent.
func appErrorBody(b []byte, id, message, requestID string, status int) []byte {
	b = append(b, `{"id":`...)
	b = appendJSONString(b, id)
	b = append(b, `,"message":`...)
	b = appendJSONString(b, message)
	b = append(b, `,"detailed_error":"","request_id":`...)
	b = appendJSONString(b, requestID)
	b = append(b, `,"status_code":`...)
	b = strconv.AppendInt(b, int64(status), 10)
	return append(b, '}')
}

// appendJSONString appends s as a JSON string, byte for byte as
// encoding/json writes it: quotes, backslashes and control characters
// escaped, <, > and &, U+2028 and U+2029 escaped, invalid UTF-8 as \ufffd
// (a host's message may hold any text). Runs that need no escape are copied
// whole.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0 // s[start:i] is still to be copied
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if jsonPlain[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default: // other control characters, <, > and &
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// jsonPlain marks the ASCII bytes appendJSONString copies as they are.
var jsonPlain = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()
