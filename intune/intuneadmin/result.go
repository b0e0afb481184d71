package intuneadmin

import (
	"fmt"
	"strings"

	"github.com/mamlogin/mamlogin/intune"
)

// newResult turns a report into the page's answer: the verdict, the check
// that decides it, its next step and the one-line summary.
func newResult(cfg intune.Config, rep *intune.Report, in input) *Result {
	res := &Result{Checks: rep.Checks, OK: rep.OK, TokenChecked: in.token != "", Notes: in.notes}
	if res.Checks == nil {
		res.Checks = []intune.Check{}
	}
	var failed *intune.Check
	for i := range rep.Checks {
		if !rep.Checks[i].OK {
			failed = &rep.Checks[i]
			break
		}
	}
	switch {
	case failed != nil:
		res.Verdict, res.FailedCheck, res.NextStep = failed.ErrorID, failed.Name, failed.NextStep
	}
	if e, ok := intune.LookupError(res.Verdict); ok && res.Verdict != "" {
		res.VerdictStatus = e.StatusCode
	}
	res.Summary = summary(res)
	return res
}

// summary is the one line at the top of the page.
func summary(res *Result) string {
	switch {
	case res.Verdict != "":
		return fmt.Sprintf("Sign-in would answer %s — next step: %s", res.Verdict, res.NextStep)
	case !res.TokenChecked:
		return "Configuration and key set OK; no token checked."
	}
	user, oid := check(res.Checks, intune.CheckUser), check(res.Checks, intune.CheckObjectID)
	switch {
	case user != nil && strings.HasPrefix(user.Detail, "signs in as user "):
		return "This token would sign in as user " + strings.TrimPrefix(user.Detail, "signs in as user ") + "."
	case user != nil && strings.Contains(user.Detail, "first sign-in creates"):
		return "This token would sign in as a new user: " + user.Detail + "."
	case user != nil:
		return "This token would sign in: " + user.Detail + "."
	case oid != nil && strings.HasPrefix(oid.Detail, "oid "):
		return "This token would sign in as the user with objectId " + strings.TrimPrefix(oid.Detail, "oid ") +
			" (not looked up: the host gave this page no user store)."
	}
	return "This token would sign in."
}

func check(cs []intune.Check, name string) *intune.Check {
	for i := range cs {
		if cs[i].Name == name {
			return &cs[i]
		}
	}
	return nil
}
