package intune_test

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mamlogin/mamlogin/intune"
)

// FuzzCheckAppRegistration: whatever the document, the reader never panics,
// every check comes back in order, OK is every check's, the checks not run
// are exactly those after an unreadable document's manifest check, and a
// fix is one JSON object that, pasted over a readable document (applyFix,
// as the manifest editor does), leaves it readable and in its format, and
// makes the check it fixes pass; the whole fragment makes every check with
// a fix pass.
// Seeds: testdata/fuzz/FuzzCheckAppRegistration and the hand-made manifests.
func FuzzCheckAppRegistration(f *testing.F) {
	for _, name := range []string{"graph-good.json", "legacy-good.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", "appreg", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	cfg := goodConfig()
	f.Fuzz(func(t *testing.T, doc []byte) {
		r := intune.CheckAppRegistration(doc, cfg)
		if len(r.Checks) != len(allAppChecks) {
			t.Fatalf("%d checks", len(r.Checks))
		}
		ok := true
		for i, c := range r.Checks {
			if c.Name != allAppChecks[i] {
				t.Fatalf("check %d is %q", i, c.Name)
			}
			if c.OK == (c.NextStep != "") || c.Found == "" || c.Detail == "" {
				t.Fatalf("check %+v", c)
			}
			ok = ok && c.OK
			if c.NotRun != (r.Format == "" && i > 0) || (c.NotRun && c.OK) {
				t.Fatalf("check %+v not run, format %q", c, r.Format)
			}
		}
		if ok != r.OK {
			t.Fatalf("OK %v, checks %v", r.OK, ok)
		}
		if r.Format == "" {
			if r.Fix != "" || r.Checks[0].OK {
				t.Fatalf("unreadable, yet %+v", r)
			}
			return
		}
		if r.Fix != "" && !strings.HasPrefix(r.Fix, "{") {
			t.Fatalf("fix %q", r.Fix)
		}
		// The reader takes a byte order mark; the paste-back's JSON does not.
		doc = bytes.TrimPrefix(doc, []byte("\xef\xbb\xbf"))
		var fixed []string // the checks with a fix
		for _, c := range r.Checks {
			if c.Fix == "" {
				continue
			}
			fixed = append(fixed, c.Name)
			after := pastedBack(t, doc, c.Fix, r.Format, cfg)
			if a := after.Checks[slices.Index(allAppChecks, c.Name)]; !a.OK {
				t.Fatalf("%s after its own fix %s: %+v", c.Name, c.Fix, a)
			}
		}
		if (r.Fix == "") != (len(fixed) == 0) {
			t.Fatalf("fragment %q, checks with a fix %v", r.Fix, fixed)
		}
		if r.Fix == "" {
			return
		}
		after := pastedBack(t, doc, r.Fix, r.Format, cfg)
		for _, name := range fixed {
			if a := after.Checks[slices.Index(allAppChecks, name)]; !a.OK {
				t.Fatalf("%s after the whole fragment %s: %+v", name, r.Fix, a)
			}
		}
	})
}

// pastedBack is the report on doc with fix pasted over it, which must be
// readable and in the same format.
func pastedBack(t *testing.T, doc []byte, fix, format string, cfg intune.Config) *intune.AppReport {
	t.Helper()
	fixedDoc := applyFix(t, doc, fix)
	after := intune.CheckAppRegistration(fixedDoc, cfg)
	if after.Format != format {
		t.Fatalf("the fix %s turned the document unreadable or into format %q: %+v\ndocument: %s", fix, after.Format, after.Checks[0], fixedDoc)
	}
	return after
}

func BenchmarkCheckAppRegistration(b *testing.B) {
	doc, err := os.ReadFile(filepath.Join("..", "testdata", "entra", "app-registrations", "graph_portal-export_Z3l2A-github-io_app-js.json"))
	if err != nil {
		b.Fatal(err)
	}
	cfg := goodConfig()
	cfg.ClientID = "08e4b1a2-42ae-45a1-b281-f6ecf20f717a"
	b.ReportAllocs()
	for b.Loop() {
		if r := intune.CheckAppRegistration(doc, cfg); r.OK {
			b.Fatal("the portal export passed")
		}
	}
}
