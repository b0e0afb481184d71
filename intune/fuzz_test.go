package intune_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/mamlogin/mamlogin/intune"
	"github.com/mamlogin/mamlogin/intune/intunetest"
)

// FuzzValidate: no input panics or hangs, every rejection is a catalog error
// with a reason of at most 1 KB, and nothing but a token the tenant really signed is accepted.
// Seeds: testdata/fuzz/validate (real Entra tokens and malformed shapes) and
// fresh tokens of the fake tenant.
//
//	go test -run '^$' -fuzz FuzzValidate -fuzztime 30s ./intune/
func FuzzValidate(f *testing.F) {
	for _, s := range seeds(f, "validate") {
		f.Add(string(s))
	}
	tenant := newTenant(f)
	v := newValidator(f, tenant.Config())
	signed := map[string]bool{}
	for _, tok := range []string{
		tenant.Token(),
		tenant.Token(intunetest.WithClaim("aud", "api://"+tenant.ClientID)),
		tenant.Token(intunetest.WithClaim("oid", "not-a-guid")),
		tenant.Token(intunetest.WithClaim("exp", "soon")),
	} {
		signed[tok] = true
		f.Add(tok)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := v.Validate(t.Context(), raw)
		if err == nil {
			if !signed[raw] {
				t.Fatalf("accepted a token the tenant did not sign: %q", raw)
			}
			if c.TenantID != tenant.TenantID || c.ObjectID == "" {
				t.Fatalf("accepted claims %+v", c)
			}
			return
		}
		ae, ok := err.(*intune.AppError)
		if !ok {
			t.Fatalf("not an *AppError: %T %v", err, err)
		}
		if _, ok := intune.LookupError(ae.ID); !ok || ae.Reason == "" {
			t.Fatalf("undocumented or reasonless error: %v", ae)
		}
		if len(ae.Reason) > 1024 { // a log line, in the sender's words: bounded
			t.Fatalf("reason of %d bytes: %.200s", len(ae.Reason), ae.Reason)
		}
	})
}

// seeds reads the seed corpus testdata/fuzz/<dir> of the repository root.
func seeds(f *testing.F, dir string) [][]byte {
	f.Helper()
	files, err := filepath.Glob("../testdata/fuzz/" + dir + "/*")
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds in testdata/fuzz/%s: %v", dir, err)
	}
	var out [][]byte
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}
