package intune

import (
	"flag"
	"fmt"
	"os"
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
