// Package outcome reads an intune.Report as sign-in lives it, for the
// admin's views of it (the test page, the doctor's text report).
//
// Diagnose runs every check it can, to say everything there is to fix, but
// sign-in stops at the first failure: the checks before it passed, the first
// failure decides what the app gets, and sign-in never reaches the rest.
// Showing those later checks as OK or FAIL reads as if sign-in had run them
// ("user OK signs in as ..." under a verdict that refuses the token), and an
// unparseable token would read as a dozen failures. Read marks them as not
// reached, and keeps what Diagnose found for them, to be shown as such.
package outcome

import (
	"strings"

	"github.com/mamlogin/mamlogin/intune"
)

// Stage is where a check stands in the sign-in the report describes.
type Stage int

const (
	Passed     Stage = iota // sign-in ran it and it passed
	Decides                 // the first failure: the error the app gets
	NotReached              // after the first failure: sign-in never runs it
)

// notRunPrefix opens the Detail of a check Diagnose could not run (it had
// nothing to run it on: no parsed token, no key set, no key).
const notRunPrefix = "not run: "

// Row is one check with its stage.
type Row struct {
	intune.Check
	Stage Stage
	// Ran is false when Diagnose could not run the check either; its
	// ErrorID and NextStep are then the blocking check's, not its own.
	Ran bool
	// Found is what the check found (its Detail), or, when it did not run,
	// why not (Detail without Diagnose's "not run: ").
	Found string
}

// Read stages checks, which are in the order sign-in runs them.
func Read(checks []intune.Check) []Row {
	rows := make([]Row, 0, len(checks))
	decided := false
	for _, c := range checks {
		found, cut := strings.CutPrefix(c.Detail, notRunPrefix)
		r := Row{Check: c, Ran: !cut, Found: found}
		switch {
		case decided:
			r.Stage = NotReached
		case !c.OK:
			r.Stage, decided = Decides, true
		}
		rows = append(rows, r)
	}
	return rows
}
