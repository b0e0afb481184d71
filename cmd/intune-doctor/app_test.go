package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mamlogin/mamlogin/intune"
)

const (
	goodManifest   = "../../intune/testdata/appreg/graph-good.json"
	legacyManifest = "../../intune/testdata/appreg/legacy-good.json"
	portalExport   = "../../testdata/entra/app-registrations/graph_portal-export_Z3l2A-github-io_app-js.json"
	goodClient     = "6a1f5c2e-9b7d-4d3e-8f21-0c4b7a9e3d15"
)

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

// appReport is the app command's JSON, decoded strictly.
type appReport struct {
	Command   string            `json:"command"`
	OK        bool              `json:"ok"`
	Format    string            `json:"format"`
	AppID     string            `json:"app_id"`
	ChecksRun []string          `json:"checks_run"`
	Checks    []intune.AppCheck `json:"checks"`
	Fix       string            `json:"fix"`
	Notes     []string          `json:"notes"`
	Summary   string            `json:"summary"`
}

func decodeApp(t *testing.T, out string) appReport {
	t.Helper()
	var r appReport
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&r), out)
	return r
}

// TestAppExitStatus: 0 when every check passes, 1 when one fails (an
// unreadable manifest included), 2 when the command line or the input is
// not usable.
func TestAppExitStatus(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.json")
	require.NoError(t, os.WriteFile(empty, nil, 0o644))
	for _, tc := range []struct {
		name   string
		stdin  string
		args   []string
		code   int
		stdout []string
		stderr []string
	}{
		{"good, Graph format", "", []string{"app", "--client", goodClient, goodManifest}, 0, []string{"  ok    token_version", "result: The app registration has everything"}, nil},
		{"good, legacy format", "", []string{"app", "--client", goodClient, legacyManifest}, 0, []string{"(azure_ad_graph format)", "accessTokenAcceptedVersion 2"}, nil},
		{"good, on standard input", readFile(t, goodManifest), []string{"app", "--client", goodClient, "-"}, 0, []string{"result: The app registration has everything"}, nil},
		{"good, without --client", "", []string{"app", goodManifest}, 0, []string{"note: no --client: checking against the manifest's own appId " + goodClient}, nil},
		{"another app's manifest", "", []string{"app", "--client", "11111111-2222-4333-8444-555555555555", goodManifest}, 1,
			[]string{"  FAIL  app_id", "sign-in answers " + intune.ErrInvalidToken.ID}, nil},
		{"a portal export that fails", "", []string{"app", portalExport}, 1,
			[]string{"  FAIL  sign_in_audience", "  FAIL  mam_permission", "corrected fragment", `"signInAudience": "AzureADMyOrg"`}, nil},
		{"not JSON", "appId=1", []string{"app", "-"}, 1, []string{"  FAIL  manifest", "not JSON", "not a readable app registration",
			"  -     app_id           not run: the document could not be read (see manifest)\n", "  -     mam_permission   not run"}, nil},
		{"no manifest", "", []string{"app"}, 2, nil, []string{"app needs the manifest"}},
		{"two manifests", "", []string{"app", goodManifest, legacyManifest}, 2, nil, []string{"give one manifest"}},
		{"missing file", "", []string{"app", filepath.Join(dir, "nope.json")}, 2, nil, []string{"reading the manifest", "no such file"}},
		{"empty file", "", []string{"app", empty}, 2, nil, []string{"is empty", "Manifest > Download"}},
		{"empty standard input", " \n", []string{"app", "-"}, 2, nil, []string{"standard input is empty"}},
		{"standard input too long", strings.Repeat(" ", intune.MaxManifestBytes+1), []string{"app", "-"}, 2, nil, []string{"more than", "the manifest alone"}},
		{"bad --client", "", []string{"app", "--client", "api://x", goodManifest}, 2, nil, []string{"ClientID", "not a GUID", "usage:"}},
		{"bad --provider", "", []string{"app", "--provider", "ldap", goodManifest}, 2, nil, []string{"AuthService", "usage:"}},
		{"unknown flag", "", []string{"app", "--tenant", "x", goodManifest}, 2, nil, []string{"flag provided but not defined: -tenant", "usage:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := doctor(t, tc.stdin, tc.args...)
			assert.Equal(t, tc.code, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
			for _, w := range tc.stdout {
				assert.Contains(t, out, w)
			}
			for _, w := range tc.stderr {
				assert.Contains(t, errOut, w)
			}
			if tc.code == 2 {
				assert.Empty(t, out, "a usage error prints nothing on standard output")
			} else {
				assert.Empty(t, errOut)
			}
		})
	}
}

func TestAppJSON(t *testing.T) {
	code, out, _ := doctor(t, readFile(t, portalExport), "app", "--json", "--client", "08e4b1a2-42ae-45a1-b281-f6ecf20f717a", "-")
	require.Equal(t, 1, code)
	r := decodeApp(t, out)
	assert.Equal(t, "app", r.Command)
	assert.False(t, r.OK)
	assert.Equal(t, intune.ManifestGraph, r.Format)
	assert.Equal(t, "08e4b1a2-42ae-45a1-b281-f6ecf20f717a", r.AppID)
	assert.Equal(t, []string{"manifest", "app_id", "sign_in_audience", "identifier_uri", "scope", "pre_authorized", "token_version", "optional_claims", "mam_permission"}, r.ChecksRun)
	require.Len(t, r.Checks, 9)
	assert.True(t, r.Checks[1].OK, "the --client given is the manifest's")
	var fix map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.Fix), &fix), "the fragment is JSON")
	assert.ElementsMatch(t, []string{"identifierUris", "signInAudience", "optionalClaims", "api", "requiredResourceAccess"}, keys(fix))
	assert.Contains(t, r.Notes[len(r.Notes)-1], "Admin consent is not in the manifest")
	assert.Contains(t, r.Summary, "paste the corrected fragment")
	// Keys are snake_case, as the other commands'.
	var raw map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &raw))
	for _, c := range raw["checks"].([]any) {
		for k := range c.(map[string]any) {
			assert.Regexp(t, `^[a-z_]+$`, k)
		}
	}
}

// TestAppNotRun: an unreadable manifest is one failure, the manifest
// check; the eight checks it kept from running are printed with "-", not
// as FAIL, and JSON marks them not_run.
func TestAppNotRun(t *testing.T) {
	code, out, _ := doctor(t, "appId=1", "app", "-")
	require.Equal(t, 1, code)
	assert.Equal(t, 1, strings.Count(out, "FAIL"), out)
	assert.Equal(t, 8, strings.Count(out, "\n  -     "), out)
	assert.NotContains(t, out, "(not run)", "the reason is printed, not the placeholder")

	code, out, _ = doctor(t, "appId=1", "app", "--json", "-")
	require.Equal(t, 1, code)
	r := decodeApp(t, out)
	require.Len(t, r.Checks, 9)
	assert.False(t, r.Checks[0].NotRun, "the manifest check ran")
	for _, c := range r.Checks[1:] {
		assert.True(t, c.NotRun, c.Name)
		assert.False(t, c.OK, c.Name)
	}
	var raw struct {
		Checks []map[string]any `json:"checks"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &raw))
	assert.NotContains(t, raw.Checks[0], "not_run", "a check that ran says nothing of it")
	assert.Equal(t, true, raw.Checks[1]["not_run"], "JSON says it plainly")
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
