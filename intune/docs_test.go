package intune_test

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mamlogin/mamlogin/intune"
)

var updateDocs = flag.Bool("update-docs", false, "rewrite the generated parts of docs/ from the code")

const (
	catalogBegin = "<!-- BEGIN catalog: generated from intune.Catalog by `go test ./intune -run TestDocs -update-docs`; do not edit -->"
	catalogEnd   = "<!-- END catalog -->"
)

// catalogTable is the error catalog as the docs show it, made from the
// code's own values, so that the two cannot drift.
func catalogTable() string {
	var b strings.Builder
	esc := func(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
	row := func(e *intune.AppError) {
		msg := e.Message
		if msg == "" {
			msg = "(silent)"
		}
		fmt.Fprintf(&b, "| `%s` | %d | %s | %s | %s | %s | %s |\n", e.ID, e.StatusCode, esc(msg), e.Retry, e.Fallback, esc(e.AdminCause), esc(e.AdminNextStep))
	}
	b.WriteString("| ID | HTTP | user message | retry | fallback | admin cause | admin next step |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- |\n")
	for _, e := range intune.Catalog() {
		row(e)
	}
	b.WriteString("\nThe host's own rows, outside the documented catalog: its failures (a 500, so that the app\nnever mistakes a broken store for \"account not found\"), an address another account holds,\nand a server still loading its configuration:\n\n")
	b.WriteString("| ID | HTTP | user message | retry | fallback | admin cause | admin next step |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- |\n")
	row(intune.ErrStoreFailed)
	row(intune.ErrSessionFailed)
	row(intune.ErrEmailInUse)
	row(intune.ErrNotReady)
	return b.String()
}

// TestDocsCatalogIsTheCodes: docs/contract.md carries the catalog exactly as
// the code defines it. Run with -update-docs after changing a row.
func TestDocsCatalogIsTheCodes(t *testing.T) {
	const path = "../docs/contract.md"
	doc, err := os.ReadFile(path)
	require.NoError(t, err)
	text := string(doc)
	i, j := strings.Index(text, catalogBegin), strings.Index(text, catalogEnd)
	require.True(t, i >= 0 && j > i, "docs/contract.md has the catalog markers")
	want := text[:i+len(catalogBegin)] + "\n" + catalogTable() + text[j:]
	if *updateDocs {
		require.NoError(t, os.WriteFile(path, []byte(want), 0o644))
		return
	}
	require.Equal(t, want, text, "docs/contract.md's catalog differs from the code: go test ./intune -run TestDocs -update-docs")
}
