package intune_test

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mamlogin/mamlogin/intune"
)

// catalogRows reads testdata/errors.tsv, a copy of the contract's catalog.
func catalogRows(t *testing.T) []map[string]string {
	t.Helper()
	f, err := os.Open("../testdata/errors.tsv")
	require.NoError(t, err)
	defer f.Close()
	r := csv.NewReader(f)
	r.Comma, r.LazyQuotes = '\t', true
	recs, err := r.ReadAll()
	require.NoError(t, err)
	require.Greater(t, len(recs), 1)
	var rows []map[string]string
	for _, rec := range recs[1:] {
		row := map[string]string{}
		for i, col := range recs[0] {
			row[col] = rec[i]
		}
		rows = append(rows, row)
	}
	return rows
}

func TestCatalogMatchesErrorsTSV(t *testing.T) {
	rows := catalogRows(t)
	cat := intune.Catalog()
	require.Len(t, cat, len(rows), "one catalog entry per row")
	for i, row := range rows {
		e := cat[i]
		t.Run(row["id"], func(t *testing.T) {
			assert.Equal(t, row["id"], e.ID)
			assert.Equal(t, row["http"], strconv.Itoa(e.StatusCode))
			msg := row["user_message"]
			if msg == "(silent)" {
				msg = ""
			}
			assert.Equal(t, msg, e.Message)
			assert.Equal(t, row["retry"], string(e.Retry))
			assert.Equal(t, row["fallback"], string(e.Fallback))
			assert.Equal(t, row["admin_cause"], e.AdminCause)
			assert.Equal(t, row["admin_next_step"], e.AdminNextStep)
			got, ok := intune.LookupError(row["id"])
			assert.True(t, ok)
			assert.Same(t, e, got)
		})
	}
}

func TestAppErrorIsAndAs(t *testing.T) {
	tenant := newTenant(t)
	v := newValidator(t, tenant.Config())
	_, err := v.Validate(t.Context(), tenant.Token(withExpired()))
	require.Error(t, err)
	assert.ErrorIs(t, err, intune.ErrTokenExpired)
	assert.NotErrorIs(t, err, intune.ErrInvalidToken)
	wrapped := fmt.Errorf("sign-in: %w", err)
	assert.ErrorIs(t, wrapped, intune.ErrTokenExpired)
	var ae *intune.AppError
	require.True(t, errors.As(wrapped, &ae))
	assert.NotEmpty(t, ae.Reason, "the copy carries the internal reason")
	assert.Empty(t, intune.ErrTokenExpired.Reason, "the catalog row is not modified")
	assert.Contains(t, ae.Error(), intune.ErrTokenExpired.ID)
}

func TestAppErrorJSONHasNoInternals(t *testing.T) {
	e := *intune.ErrInvalidToken
	e.Reason = "aud is \"secret-internal\""
	e.RequestID = "req-1"
	b, err := json.Marshal(&e)
	require.NoError(t, err)
	assert.JSONEq(t, `{"id":"ent.intune.validate_token.invalid_token.app_error",
		"message":"We couldn't verify your sign in. Please try again.",
		"detailed_error":"","request_id":"req-1","status_code":400}`, string(b))

	silent, err := json.Marshal(intune.ErrNotConfigured)
	require.NoError(t, err)
	assert.Contains(t, string(silent), `"message":""`)
}
