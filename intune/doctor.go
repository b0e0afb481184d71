package intune

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/mamlogin/mamlogin/internal/jwkscache"
)

// Report is what Diagnose found.
type Report struct {
	Checks []Check `json:"checks"` // in the order of the Check* constants; a check that cannot run fails
	OK     bool    `json:"ok"`     // every check passed: this token would sign in
	// Clock compares this server's clock with Entra's, from the Date header
	// of the key-set fetch; nil when no answer carried one.
	Clock *ClockReading `json:"clock,omitempty"`
}

// ClockReading is this server's clock against Entra's, read from the Date
// header of Entra's answer: fresh tokens fail once this server is 5 minutes
// behind, and expire early when it is ahead.
type ClockReading struct {
	EntraDate  time.Time     `json:"entra_date"`  // Entra's Date header
	ServerDate time.Time     `json:"server_date"` // this server's clock when it came, to the second
	Offset     time.Duration `json:"offset"`      // EntraDate minus ServerDate: positive when this server is behind
	URL        string        `json:"url"`         // the key-set URL, without query; "" when discovery failed first
}

// Check is one line of a Report.
type Check struct {
	Name     string `json:"name"`                // one of the Check* constants
	OK       bool   `json:"ok"`                  // the check passed
	ErrorID  string `json:"error_id,omitempty"`  // the documented ID this failure produces at sign-in; "" when OK
	Detail   string `json:"detail"`              // what was found and what was expected; safe to show an admin
	NextStep string `json:"next_step,omitempty"` // the admin's next step from the catalog; "" when OK
}

// Verdict is the error ID sign-in answers for the token diagnosed: the ID of
// the first failed check, "" when every check passed. For an enabled
// configuration it is what Validate returns for the same token and time
// (Validate does not look at Enable; the handler answers not_configured).
func (r *Report) Verdict() string {
	for _, c := range r.Checks {
		if !c.OK {
			return c.ErrorID
		}
	}
	return ""
}

// Diagnose runs every check on rawToken without stopping at the first
// failure, plus the checks of cfg itself and of the tenant's key set, and
// says what to fix. The checks are Validate's own, in its order, so the
// first failure is the error sign-in answers (Report.Verdict). A check that
// needs what an earlier one could not give (no key set, no parsed token, no
// key) fails as "not run" with the blocking check's ID.
//
// It fetches the discovery document and key set once and keeps no cache and
// no goroutine. The token is taken as given: nothing is trimmed. Claims of a
// token whose signature did not verify are still checked, to help, and
// their Detail says they were read unverified. The report never includes
// the token or its signature.
func Diagnose(ctx context.Context, cfg Config, rawToken string, opts ...Option) *Report {
	d := newDiagnosis(ctx, cfg, buildOptions(opts))
	a := attempt{ctx: ctx, raw: rawToken, now: d.v.now(), diagnose: true}
	r := &Report{}
	blocker := d.run(r, checks[:], &a)
	if d.store != nil {
		r.Checks = append(r.Checks, d.checkUser(ctx, cfg.AuthService, &a, blocker))
	}
	r.OK, r.Clock = r.Verdict() == "", d.clock()
	return r
}

// clock is what the key-set fetch said of Entra's clock, or nil.
func (d *diagnosis) clock() *ClockReading {
	st, ok := d.v.keys.(*jwkscache.Static)
	if !ok || st.Fetch.ServerDate.IsZero() {
		return nil
	}
	f := st.Fetch
	return &ClockReading{EntraDate: f.ServerDate, ServerDate: f.At.Truncate(time.Second), Offset: f.ClockOffset(), URL: f.URL}
}

// checkUser resolves the user as the login handler would, without creating
// or syncing anyone.
func (d *diagnosis) checkUser(ctx context.Context, svc AuthService, a *attempt, blocker *Check) Check {
	switch {
	case a.claims == nil:
		return notRunCheck(CheckUser, "no claims to find the user by", blocker)
	case a.claims.ObjectID == "" || !isCanonicalGUID(a.claims.ObjectID):
		return notRunCheck(CheckUser, "no usable oid in the token", blocker)
	case !svc.known():
		return notRunCheck(CheckUser, "no provider configured (AuthService)", blocker)
	}
	oid, note := a.claims.ObjectID, ""
	if !a.verified {
		note = " (the oid was read unverified)"
	}
	u, err := d.store.UserByObjectID(ctx, svc, oid)
	switch {
	case err == nil && u == nil:
		return failed(CheckUser, errStoreFailed.because("UserByObjectID(%q) returned neither a user nor an error", oid).fixedBy(fixStoreNil))
	case errors.Is(err, ErrUserNotFound):
		switch {
		case !svc.createsUsers():
			return failed(CheckUser, errAccountNotFound.because("no user has objectId %q for provider %q, and mobile sign-in never creates SAML users%s", oid, svc, note))
		case !hasAddress(a.claims):
			return failed(CheckUser, errMissingClaims.because("no user has objectId %q for provider %q yet, and the token carries no address to create one%s", oid, svc, note).fixedBy(fixNoEmail))
		}
		checker, ok := d.store.(NewUserChecker)
		if !ok {
			return Check{Name: CheckUser, OK: true, Detail: fmt.Sprintf("no user has objectId %s for provider %s yet: the first sign-in creates one (email %q) if the store accepts it: it may refuse it (e.g. %s when another account holds the address; this store cannot tell beforehand)%s",
				oid, svc, address(a.claims), errEmailInUse.ID, note)}
		}
		if err := checker.CheckNewUser(ctx, svc, a.claims); err != nil {
			return failed(CheckUser, storeError(err, "checking a first sign-in of objectId %q", oid))
		}
		return Check{Name: CheckUser, OK: true, Detail: fmt.Sprintf("no user has objectId %s for provider %s yet: the first sign-in creates one (email %q; the store accepts it now)%s",
			oid, svc, address(a.claims), note)}
	case err != nil:
		return failed(CheckUser, storeError(err, "looking up objectId %q", oid))
	}
	if e := admissible(u); e != nil {
		return failed(CheckUser, e)
	}
	return Check{Name: CheckUser, OK: true, Detail: fmt.Sprintf("signs in as user %s%s (objectId %s, provider %s)%s", u.ID, who(u), oid, svc, note)}
}

// address is the email a new user would be given.
func address(c *Claims) string {
	switch {
	case c.Email != "":
		return c.Email
	case isAddress(c.UPN):
		return c.UPN
	}
	return c.PreferredUsername
}

// who names a user from the host's user JSON: its username and email, if
// it has them.
func who(u *User) string {
	body, err := json.Marshal(u.Profile)
	if err != nil || u.Profile == nil {
		return ""
	}
	var n userNames
	_ = readInto(body, &n)
	var parts []string
	if n.username != "" {
		parts = append(parts, "username "+clipFact(n.username))
	}
	if n.email != "" {
		parts = append(parts, "email "+clipFact(n.email))
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// userNames are the members of the host's user JSON that name the user
// (who); a member that is not a string is left empty.
type userNames struct{ username, email string }

// userNameMembers are the members userNames reads.
var userNameMembers = []string{"username", "email"}

func (n *userNames) UnmarshalJSONFrom(d *jsontext.Decoder) error {
	return walkObject(d, userNameMembers, n.member)
}

func (n *userNames) member(d *jsontext.Decoder, name string) error {
	dst := &n.username
	if name == "email" {
		dst = &n.email
	}
	_, err := stringValue(d, dst)
	return err
}

// DiagnoseConfig runs the "config" and "keyset" checks alone: is the
// configuration well formed, and can the tenant's discovery document and key
// set be fetched and parsed. It says nothing of any token.
func DiagnoseConfig(ctx context.Context, cfg Config, opts ...Option) *Report {
	d := newDiagnosis(ctx, cfg, buildOptions(opts))
	a := attempt{ctx: ctx, diagnose: true}
	r := &Report{}
	d.run(r, checks[:2], &a)
	r.OK, r.Clock = r.Verdict() == "", d.clock()
	return r
}

// run runs every check of table on a, the same functions Validate runs,
// and reports each: a failure, a check not run (with the ID of the first
// failure, which blocked it), or what a passing check found. It returns
// the first failure.
func (d *diagnosis) run(r *Report, table []check, a *attempt) (blocker *Check) {
	for _, c := range table {
		found, e := c.run(&d.v, a)
		switch {
		case e == nil:
			r.Checks = append(r.Checks, Check{Name: c.name, OK: true, Detail: found})
		case e.ID == "":
			r.Checks = append(r.Checks, notRunCheck(c.name, e.Reason, blocker))
		default:
			f := failed(c.name, e)
			r.Checks = append(r.Checks, f)
			if blocker == nil {
				blocker = &f
			}
		}
	}
	return blocker
}

// diagnosis is a verifier over the key set of one fetch.
type diagnosis struct {
	v     verifier
	store UserStore // nil: no user check
}

func newDiagnosis(ctx context.Context, cfg Config, o options) *diagnosis {
	cfg = cfg.clone() // the caller may change theirs meanwhile
	d := &diagnosis{v: newVerifier(cfg, o), store: o.store}
	if err := cfg.checkForValidator(); err != nil {
		d.v.configErr = errNotConfigured.because("%v", err)
		return d
	}
	keys, err := jwkscache.FetchOnce(ctx, keySetOptions(cfg, o))
	if err != nil {
		d.v.configErr = errNotConfigured.because("%v", err)
		return d
	}
	d.v.keys = keys
	d.v.keyfunc, _ = keyfunc.New(keyfunc.Options{Storage: keys}) // fails only without a storage
	if !cfg.Enable {
		// Sign-in answers not_configured whatever the token: say so first,
		// and run the other checks as if it were enabled.
		d.v.configErr = errNotConfigured.because("Intune MAM is disabled (Enable is false): every sign-in answers %s; the checks below ran as if it were enabled", errNotConfigured.ID).
			fixedBy("Enable Microsoft Intune MAM in the Mobile Security settings once the checks below pass.")
	}
	return d
}

func failed(name string, e *AppError) Check {
	return Check{Name: name, ErrorID: e.ID, Detail: e.Reason, NextStep: e.NextStep()}
}

// notRunCheck is a check that could not run: it fails with the blocker's ID.
func notRunCheck(name, why string, blocker *Check) Check {
	c := Check{Name: name, Detail: "not run: " + why}
	if blocker != nil {
		c.ErrorID, c.NextStep = blocker.ErrorID, blocker.NextStep
	} else {
		c.ErrorID, c.NextStep = errInvalidToken.ID, errInvalidToken.AdminNextStep
	}
	return c
}
