package outcome_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mamlogin/mamlogin/internal/outcome"
	"github.com/mamlogin/mamlogin/intune"
	"github.com/mamlogin/mamlogin/intune/intunetest"
)

// TestReadStagesARealReport reads Diagnose's own reports, so a change in how
// Diagnose marks a check it could not run breaks this test, not the views.
func TestReadStagesARealReport(t *testing.T) {
	tenant := intunetest.NewTenant()
	t.Cleanup(tenant.Close)
	cfg := tenant.Config()
	tests := []struct {
		name    string
		token   string
		decides string // "" when every check passes
		ran     map[string]bool
		failing []string // checks after the deciding one that ran and would fail too
	}{
		{"signs in", tenant.Token(), "", nil, nil},
		{"unparseable: one failure, the rest not run", "garbage", intune.CheckFormat,
			map[string]bool{intune.CheckAlgorithm: false, intune.CheckSignature: false, intune.CheckObjectID: false}, nil},
		{"expired and for another app: the later failure would be found too",
			tenant.Token(intunetest.WithExpiry(time.Now().Add(-time.Hour)), intunetest.WithClaim("aud", "11111111-2222-4333-8444-555555555555")),
			intune.CheckExpiry, map[string]bool{intune.CheckAudience: true, intune.CheckObjectID: true}, []string{intune.CheckAudience}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep := intune.Diagnose(t.Context(), cfg, tc.token)
			rows := outcome.Read(rep.Checks)
			require.Len(t, rows, len(rep.Checks))
			stage := outcome.Passed
			var failing []string
			for _, r := range rows {
				switch {
				case r.Name == tc.decides:
					assert.Equal(t, outcome.Decides, r.Stage, r.Name)
					assert.False(t, r.OK)
					assert.Equal(t, rep.Verdict(), r.ErrorID)
					stage = outcome.NotReached
					continue
				case stage == outcome.Passed:
					assert.True(t, r.OK, r.Name)
				case r.Ran && !r.OK:
					failing = append(failing, r.Name)
				}
				assert.Equal(t, stage, r.Stage, r.Name)
				if ran, ok := tc.ran[r.Name]; ok {
					assert.Equal(t, ran, r.Ran, r.Name)
				}
				if !r.Ran {
					assert.Equal(t, "not run: "+r.Found, r.Detail, r.Name)
				} else {
					assert.Equal(t, r.Detail, r.Found, r.Name)
				}
			}
			assert.Equal(t, tc.failing, failing)
		})
	}
}
