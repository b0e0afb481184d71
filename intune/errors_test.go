package intune_test

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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

func TestCatalogMatchesErrorsTSV(t *testing.T) { catalogMatchesTSV(t) }

// catalogMatchesTSV: Catalog and LookupError give errors.tsv's rows, as
// copies.
func catalogMatchesTSV(t *testing.T) {
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
			assert.Equal(t, e, got)
			assert.NotSame(t, e, got, "each call returns a copy")
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

// sentinels is every exported row variable, in the order of intune.Rows.
func sentinels() []*intune.AppError {
	return []*intune.AppError{intune.ErrNotAvailable, intune.ErrNotConfigured, intune.ErrBotLoginForbidden,
		intune.ErrAccountLocked, intune.ErrProviderNotConfigured, intune.ErrExtractAuthData, intune.ErrAccountNotFound,
		intune.ErrInvalidToken, intune.ErrTokenExpired, intune.ErrMissingClaims, intune.ErrInvalidTenant,
		intune.ErrJWKSInit, intune.ErrInvalidParam,
		intune.ErrStoreFailed, intune.ErrSessionFailed, intune.ErrEmailInUse, intune.ErrNotReady}
}

// TestRowsAreCatalogThenHostRows: Rows is the catalog, then the host's rows,
// each equal to its sentinel; the copies are the caller's.
func TestRowsAreCatalogThenHostRows(t *testing.T) {
	all, cat, vars := intune.Rows(), intune.Catalog(), sentinels()
	require.Len(t, all, len(vars), "every row has its sentinel in sentinels()")
	assert.Equal(t, cat, all[:len(cat)])
	for i, e := range all {
		assert.Equal(t, *vars[i], *e, "row %d", i)
		assert.NotSame(t, vars[i], e)
		assert.ErrorIs(t, e, vars[i])
	}
	all[0].Message = "changed by the caller"
	assert.NotEqual(t, "changed by the caller", intune.Rows()[0].Message)
	assert.NotEqual(t, "changed by the caller", intune.ErrNotAvailable.Message)
}

// TestSentinelsCannotChangeAnswers: a caller that overwrites every exported
// sentinel changes nothing the library answers (every row, end to end),
// nor what Catalog, Rows and LookupError return, nor what errors.Is matches.
func TestSentinelsCannotChangeAnswers(t *testing.T) {
	vars := sentinels()
	before := intune.Rows()
	saved := make([]intune.AppError, len(vars))
	for i, e := range vars {
		saved[i] = *e
	}
	t.Cleanup(func() {
		for i, e := range vars {
			*e = saved[i]
		}
	})
	for i, e := range vars {
		*e = intune.AppError{ID: fmt.Sprintf("mutated.%d", i), StatusCode: 599, Message: "mutated",
			Retry: "mutated", Fallback: "mutated", AdminCause: "mutated", AdminNextStep: "mutated", Reason: "mutated"}
	}
	intune.ErrInvalidToken.Message = "x" // the example, for good measure

	assert.Equal(t, before, intune.Rows())
	t.Run("catalog", catalogMatchesTSV)
	t.Run("answers", answersEveryCatalogRow)
	t.Run("errors.Is", func(t *testing.T) {
		tenant := newTenant(t)
		_, err := newValidator(t, tenant.Config()).Validate(t.Context(), tenant.Token(withExpired()))
		var ae *intune.AppError
		require.ErrorAs(t, err, &ae)
		assert.Equal(t, "ent.intune.validate_token.token_expired.app_error", ae.ID)
		assert.Equal(t, "Your sign in session has expired. Please try signing in again.", ae.Message)
		assert.ErrorIs(t, err, intune.ErrTokenExpired, "matched by the sentinel's row, not its contents")
		assert.NotErrorIs(t, err, intune.ErrInvalidToken)
	})

	// Then the variables themselves, given other values.
	vars2 := []**intune.AppError{&intune.ErrNotAvailable, &intune.ErrNotConfigured, &intune.ErrBotLoginForbidden,
		&intune.ErrAccountLocked, &intune.ErrProviderNotConfigured, &intune.ErrExtractAuthData, &intune.ErrAccountNotFound,
		&intune.ErrInvalidToken, &intune.ErrTokenExpired, &intune.ErrMissingClaims, &intune.ErrInvalidTenant,
		&intune.ErrJWKSInit, &intune.ErrInvalidParam,
		&intune.ErrStoreFailed, &intune.ErrSessionFailed, &intune.ErrEmailInUse, &intune.ErrNotReady}
	require.Len(t, vars2, len(vars))
	for i, p := range vars2 {
		require.Same(t, vars[i], *p, "vars2 lists the variables in sentinels' order")
		*p = &intune.AppError{ID: "reassigned", StatusCode: 598, Message: "reassigned"}
	}
	t.Cleanup(func() {
		for i, p := range vars2 {
			*p = vars[i]
		}
	})
	assert.Equal(t, before, intune.Rows())
	t.Run("catalog, variables reassigned", catalogMatchesTSV)
	t.Run("answers, variables reassigned", answersEveryCatalogRow)
}

// TestOnlyErrorsGoNamesTheSentinels: outside errors.go, the package's code
// names its rows (errX), never an exported sentinel, on every path, not
// only those TestSentinelsCannotChangeAnswers reaches.
func TestOnlyErrorsGoNamesTheSentinels(t *testing.T) {
	// The sentinels are errors.go's variables made by sentinel(...).
	fset := token.NewFileSet()
	defs, err := parser.ParseFile(fset, "errors.go", nil, 0)
	require.NoError(t, err)
	names := map[string]bool{}
	ast.Inspect(defs, func(n ast.Node) bool {
		if vs, ok := n.(*ast.ValueSpec); ok && len(vs.Values) == len(vs.Names) {
			for i, v := range vs.Values {
				if call, ok := v.(*ast.CallExpr); ok && fmt.Sprint(call.Fun) == "sentinel" {
					names[vs.Names[i].Name] = true
				}
			}
		}
		return true
	})
	require.Len(t, names, len(sentinels()))
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") || name == "errors.go" {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		require.NoError(t, err)
		ast.Inspect(f, func(n ast.Node) bool {
			if id, ok := n.(*ast.Ident); ok && names[id.Name] {
				t.Errorf("%s names the sentinel %s: name its row, err%s", fset.Position(id.Pos()), id.Name, strings.TrimPrefix(id.Name, "Err"))
			}
			return true
		})
	}
}
