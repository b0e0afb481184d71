package intune_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-json-experiment/json"

	"github.com/mamlogin/mamlogin/intune"
)

// FuzzCheckAppRegistration: whatever the document, the reader never panics,
// every check comes back in order, OK is every check's, and a fix is one
// JSON object that, pasted over a readable document, leaves it readable.
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
		for _, fix := range append([]string{r.Fix}, fixes(r)...) {
			if fix == "" {
				continue
			}
			var members map[string]any
			if err := json.Unmarshal([]byte(fix), &members); err != nil || len(members) == 0 {
				t.Fatalf("fix %q: %v", fix, err)
			}
		}
		if r.Fix != "" && !strings.HasPrefix(r.Fix, "{") {
			t.Fatalf("fix %q", r.Fix)
		}
	})
}

func fixes(r *intune.AppReport) []string {
	var out []string
	for _, c := range r.Checks {
		out = append(out, c.Fix)
	}
	return out
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
