package intune_test

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mamlogin/mamlogin/intune"
)

// TestOperationsSaysWhatTheUserSees: docs/operations.md has one row per
// error the app can be answered with, giving its status and what the user
// sees: the message, or for a silent row the app's "Response with status
// code N".
func TestOperationsSaysWhatTheUserSees(t *testing.T) {
	doc, err := os.ReadFile("../docs/operations.md")
	require.NoError(t, err)
	_, table, ok := strings.Cut(string(doc), "| error ID (short) | status | what the user sees |")
	require.True(t, ok, "the table's header")
	rows := append(intune.Catalog(), intune.ErrStoreFailed, intune.ErrSessionFailed, intune.ErrEmailInUse, intune.ErrNotReady)
	found := map[string]int{}
	for _, line := range strings.Split(table, "\n")[2:] {
		if !strings.HasPrefix(line, "| `") {
			break
		}
		cells := strings.Split(line, " | ")
		short := strings.Trim(cells[0], "| `")
		var row *intune.AppError
		for _, e := range rows {
			id := strings.TrimSuffix(e.ID, ".app_error")
			if id == short || strings.HasSuffix(id, "."+short) {
				require.Nil(t, row, "%q names two rows", short)
				row = e
			}
		}
		require.NotNil(t, row, "%q names no row", short)
		found[row.ID]++
		assert.True(t, strings.HasPrefix(cells[1], strconv.Itoa(row.StatusCode)), "%s: status %q", short, cells[1])
		sees := "Response with status code " + strconv.Itoa(row.StatusCode) + "."
		if !row.Silent() {
			sees = row.Message
		}
		assert.Contains(t, cells[2], `"`+sees+`"`, short)
	}
	for _, e := range rows {
		assert.Equal(t, 1, found[e.ID], "%s has one row", e.ID)
	}
}
