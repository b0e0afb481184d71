package intune

import (
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var updateDocs = flag.Bool("update-docs", false, "rewrite the generated parts of docs/ from the code")

const (
	catalogBegin = "<!-- BEGIN catalog: generated from intune's catalog rows by `go test ./intune -run TestDocs -update-docs`; do not edit -->"
	catalogEnd   = "<!-- END catalog -->"
)

// catalogTable is the error catalog as the docs show it, made from the
// package's own table of rows, so that the two cannot drift.
func catalogTable() string {
	var b strings.Builder
	esc := func(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
	table := func(host bool) {
		b.WriteString("| ID | HTTP | user message | retry | fallback | admin cause | admin next step |\n")
		b.WriteString("| --- | --- | --- | --- | --- | --- | --- |\n")
		for _, r := range rows {
			if r.host != host {
				continue
			}
			e, msg := r.err, r.err.Message
			if msg == "" {
				msg = "(silent)"
			}
			fmt.Fprintf(&b, "| `%s` | %d | %s | %s | %s | %s | %s |\n", e.ID, e.StatusCode, esc(msg), e.Retry, e.Fallback, esc(e.AdminCause), esc(e.AdminNextStep))
		}
	}
	table(false)
	b.WriteString("\nThe host's own rows, outside the documented catalog: its failures (a 500, so that the app\nnever mistakes a broken store for \"account not found\"), an address another account holds,\nand a server still loading its configuration:\n\n")
	table(true)
	return b.String()
}

// TestDocsCatalogIsTheCodes: docs/contract.md carries the catalog exactly as
// the code defines it. Run with -update-docs after changing a row.
func TestDocsCatalogIsTheCodes(t *testing.T) {
	const path = "../docs/contract.md"
	doc, err := os.ReadFile(path)
	require.NoError(t, err)
	text := string(doc)
	i := strings.Index(text, "<!-- BEGIN catalog:")
	j := strings.Index(text, catalogEnd)
	require.True(t, i >= 0 && j > i, "docs/contract.md has the catalog markers")
	want := text[:i] + catalogBegin + "\n" + catalogTable() + text[j:]
	if *updateDocs {
		require.NoError(t, os.WriteFile(path, []byte(want), 0o644))
		return
	}
	require.Equal(t, want, text, "docs/contract.md's catalog differs from the code: go test ./intune -run TestDocs -update-docs")
}

// TestPackageDocListsEveryRow: the package documentation lists every row
// by its sentinel, ID and status, in the order of Rows (the catalog, then the
// host's rows), since go doc shows the sentinels only as
// "var ErrNotAvailable = sentinel(errNotAvailable) ...".
func TestPackageDocListsEveryRow(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	require.NoError(t, err)
	line := regexp.MustCompile(`(?m)^//   - \[(Err\w+)\]: (\S+), (\d+)$`)
	var listed []string
	for _, m := range line.FindAllStringSubmatch(string(doc), -1) {
		listed = append(listed, m[1]+" "+m[2]+" "+m[3])
	}
	// The sentinels by name (a name that is gone does not compile).
	byName := map[string]*AppError{
		"ErrNotAvailable": ErrNotAvailable, "ErrNotConfigured": ErrNotConfigured,
		"ErrBotLoginForbidden": ErrBotLoginForbidden, "ErrAccountLocked": ErrAccountLocked,
		"ErrProviderNotConfigured": ErrProviderNotConfigured, "ErrExtractAuthData": ErrExtractAuthData,
		"ErrAccountNotFound": ErrAccountNotFound, "ErrInvalidToken": ErrInvalidToken,
		"ErrTokenExpired": ErrTokenExpired, "ErrMissingClaims": ErrMissingClaims,
		"ErrInvalidTenant": ErrInvalidTenant, "ErrJWKSInit": ErrJWKSInit, "ErrInvalidParam": ErrInvalidParam,
		"ErrStoreFailed": ErrStoreFailed, "ErrSessionFailed": ErrSessionFailed,
		"ErrEmailInUse": ErrEmailInUse, "ErrNotReady": ErrNotReady,
	}
	var want []string
	for _, r := range Rows() {
		name := ""
		for n, s := range byName {
			if s.ID == r.ID {
				name = n
			}
		}
		require.NotEmpty(t, name, "%s: a row this test does not know; add its sentinel to byName and to doc.go", r.ID)
		want = append(want, fmt.Sprintf("%s %s %d", name, r.ID, r.StatusCode))
	}
	require.Equal(t, want, listed, "intune/doc.go's list of rows")
}
