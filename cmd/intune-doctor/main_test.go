package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mamlogin/mamlogin/intune"
	"github.com/mamlogin/mamlogin/intune/intunetest"
)

func doctor(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(t.Context(), args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

// report is the JSON output, decoded.
type report struct {
	Command      string   `json:"command"`
	OK           bool     `json:"ok"`
	Verdict      string   `json:"verdict"`
	TokenChecked bool     `json:"token_checked"`
	ChecksRun    []string `json:"checks_run"`
	Checks       []struct {
		Name     string `json:"name"`
		OK       bool   `json:"ok"`
		ErrorID  string `json:"error_id"`
		Detail   string `json:"detail"`
		NextStep string `json:"next_step"`
	} `json:"checks"`
	Clock *struct {
		EntraDate     string  `json:"entra_date"`
		ServerDate    string  `json:"server_date"`
		OffsetSeconds float64 `json:"offset_seconds"`
		Source        string  `json:"source"`
		Warning       string  `json:"warning"`
	} `json:"clock"`
	Notes   []string `json:"notes"`
	Summary string   `json:"summary"`
}

func decode(t *testing.T, out string) report {
	t.Helper()
	var r report
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&r), out)
	return r
}

func flagsFor(tenant *intunetest.Tenant) []string {
	return []string{"--tenant", tenant.TenantID, "--client", tenant.ClientID, "--authority", tenant.URL()}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{
		{"--help"}, {"-h"}, {"-help"}, {"help"}, {"help", "token"},
		{"check", "--help"}, {"check", "-h"}, {"token", "--help"}, {"token", "--tenant", "x", "-h"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, out, errOut := doctor(t, "", args...)
			assert.Equal(t, 0, code)
			assert.Equal(t, help, out, "the help, on standard output")
			assert.Empty(t, errOut)
		})
	}
}

func TestHelpSaysEverything(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	(&flags{}).define(fs)
	n := 0
	fs.VisitAll(func(f *flag.Flag) {
		n++
		assert.Regexp(t, regexp.MustCompile(`(?m)^  --`+regexp.QuoteMeta(f.Name)+` `), help, "flag --%s is documented", f.Name)
	})
	assert.Equal(t, 8, n)
	for _, want := range []string{
		"  check   ", "It checks no token", "  token   ", "standard input",
		"-h, --help",
		"--authority http://127.0.0.1:PORT", // an example against a fake tenant
		"2024-06-17T08:00:00Z",
		"Exit status:", "  0  every check passed", "  1  a check failed", "  2  usage error",
	} {
		assert.Contains(t, help, want)
	}
	for i, line := range strings.Split(help, "\n") {
		assert.LessOrEqual(t, len(line), 80, "help line %d is too wide: %q", i+1, line)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
		want  []string // on standard error
	}{
		{"no command", "", nil, []string{"usage:", "--help"}},
		{"unknown command", "", []string{"frobnicate"}, []string{`unknown command "frobnicate"`, "usage:"}},
		{"unknown flag", "", []string{"check", "--frob"}, []string{"flag provided but not defined: -frob", "--help"}},
		{"flag without value", "", []string{"check", "--tenant"}, []string{"flag needs an argument", "usage:"}},
		{"check with a token", "", []string{"check", "eyJ.x.y"}, []string{"check takes no token"}},
		{"no token on stdin", "", []string{"token"}, []string{"no token on standard input"}},
		{"only a line break on stdin", "\n", []string{"token"}, []string{"no token on standard input"}},
		{"two tokens", "", []string{"token", "a", "b"}, []string{"give one token"}},
		{"stdin too long", strings.Repeat("a", maxInput+1), []string{"token"}, []string{"more than", "give the token alone"}},
		{"bad --at", "x.y.z", []string{"token", "--at", "yesterday"}, []string{`--at "yesterday"`, "RFC 3339", "2024-06-17T08:00:00Z"}},
		{"--at without a zone", "x.y.z", []string{"token", "--at", "2024-06-17T08:00:00"}, []string{"RFC 3339", "2024-06-17T08:00:00Z"}},
		{"bad --at on check", "", []string{"check", "--at", "2024-06-17"}, []string{"RFC 3339", "2024-06-17T08:00:00Z"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := doctor(t, tc.stdin, tc.args...)
			assert.Equal(t, 2, code)
			assert.Empty(t, out, "nothing on standard output")
			for _, w := range tc.want {
				assert.Contains(t, errOut, w)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	tenant := intunetest.NewTenant()
	defer tenant.Close()
	gone := intunetest.NewTenant()
	gone.Close()

	for _, tc := range []struct {
		name      string
		args      []string
		code      int
		verdict   string
		text      []string
		checksRun []string
	}{
		{"good", flagsFor(tenant), 0, "",
			[]string{"ok    config", "ok    keyset", "1 usable keys", "result: the configuration is usable", "no token was checked"},
			[]string{intune.CheckConfig, intune.CheckKeySet}},
		{"tenant is a domain", []string{"--tenant", "contoso.onmicrosoft.com", "--client", tenant.ClientID}, 1, intune.ErrNotConfigured.ID,
			[]string{"FAIL  config", "TenantID", "-     keyset     not run: the configuration is not usable", "cannot verify any token"},
			[]string{intune.CheckConfig, intune.CheckKeySet}},
		{"Entra unreachable", flagsFor(gone), 1, intune.ErrJWKSInit.ID,
			[]string{"ok    config", "FAIL  keyset", "cannot verify any token"},
			[]string{intune.CheckConfig, intune.CheckKeySet}},
		{"unknown tenant", []string{"--tenant", "00000000-0000-0000-0000-000000000001", "--client", tenant.ClientID, "--authority", tenant.URL()}, 1, intune.ErrJWKSInit.ID,
			[]string{"FAIL  keyset", "status 400"},
			[]string{intune.CheckConfig, intune.CheckKeySet}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, _ := doctor(t, "", append([]string{"check"}, tc.args...)...)
			assert.Equal(t, tc.code, code, out)
			for _, w := range tc.text {
				assert.Contains(t, out, w)
			}
			assert.NotContains(t, out, "would sign in", "check judges no token")
			assert.NotContains(t, out, "this token")

			code, out, _ = doctor(t, "", append([]string{"check", "--json"}, tc.args...)...)
			assert.Equal(t, tc.code, code)
			r := decode(t, out)
			assert.Equal(t, "check", r.Command)
			assert.False(t, r.TokenChecked)
			assert.Equal(t, tc.checksRun, r.ChecksRun)
			assert.Equal(t, tc.code == 0, r.OK)
			assert.Equal(t, tc.verdict, r.Verdict)
			assert.NotContains(t, r.Summary, "would sign in")
		})
	}
}

func TestCheckAtIsNoted(t *testing.T) {
	tenant := intunetest.NewTenant()
	defer tenant.Close()
	code, out, _ := doctor(t, "", append([]string{"check", "--at", "2024-06-17T08:00:00Z"}, flagsFor(tenant)...)...)
	assert.Equal(t, 0, code, out)
	assert.Contains(t, out, "note: --at has no effect on check")
}

func TestToken(t *testing.T) {
	tenant := intunetest.NewTenant()
	defer tenant.Close()
	good := tenant.Token()
	captured := time.Date(2024, 6, 17, 8, 0, 0, 0, time.UTC)
	old := tenant.Token(intunetest.WithClaim("iat", captured.Add(-5*time.Minute).Unix()), intunetest.WithClaim("nbf", captured.Add(-5*time.Minute).Unix()),
		intunetest.WithExpiry(captured.Add(time.Hour)))

	for _, tc := range []struct {
		name    string
		stdin   string
		args    []string
		code    int
		verdict string
		text    []string
	}{
		{"good, with a line break", good + "\n", nil, 0, "", []string{"ok    object_id", "result: every check passed; this token would sign in"}},
		{"good, with CRLF", good + "\r\n", nil, 0, "", []string{"every check passed"}},
		{"good, no line break", good, nil, 0, "", []string{"every check passed"}},
		{"only one line break is stripped", good + "\n\n", nil, 1, intune.ErrInvalidToken.ID, []string{"FAIL  format"}},
		{"leading space is not trimmed", " " + good, nil, 1, intune.ErrInvalidToken.ID, []string{"FAIL  format"}},
		{"Bearer prefix", "Bearer " + good + "\n", nil, 1, intune.ErrInvalidToken.ID, []string{"FAIL  format", `starts with "Bearer "`, "remove the prefix"}},
		{"wrong scope", tenant.Token(intunetest.WithClaim("scp", "User.Read")), nil, 1, intune.ErrInvalidToken.ID,
			[]string{"FAIL  scope", "sign-in answers " + intune.ErrInvalidToken.ID, "next step:", "result: sign-in would fail with " + intune.ErrInvalidToken.ID}},
		{"expired", tenant.Token(intunetest.WithExpiry(time.Now().Add(-time.Hour))), nil, 1, intune.ErrTokenExpired.ID, []string{"FAIL  expiry"}},
		{"captured earlier, judged now", old, nil, 1, intune.ErrTokenExpired.ID, []string{"FAIL  expiry"}},
		{"captured earlier, judged --at then", old, []string{"--at", "2024-06-17T08:30:00Z"}, 0, "", []string{"every check passed"}},
		{"--at with an offset", old, []string{"--at", "2024-06-17T10:30:00+02:00"}, 0, "", []string{"every check passed"}},
		{"other tenant", tenant.Token(intunetest.WithClaim("tid", "00000000-0000-0000-0000-000000000001")), nil, 1, intune.ErrInvalidTenant.ID, []string{"FAIL  tenant"}},
		{"garbage", "garbage", nil, 1, intune.ErrInvalidToken.ID, []string{"FAIL  format", "sign-in stops here", "-     algorithm  not run: the token could not be parsed"}},
		{"expired and for another app", tenant.Token(intunetest.WithExpiry(time.Now().Add(-time.Hour)), intunetest.WithClaim("aud", "11111111-2222-4333-8444-555555555555")),
			nil, 1, intune.ErrTokenExpired.ID, []string{"FAIL  expiry", "-     tenant     not run; would pass: tid ",
				"-     audience   not run; would fail too (" + intune.ErrInvalidToken.ID + "): aud is "}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append(append([]string{"token"}, flagsFor(tenant)...), tc.args...)
			code, out, errOut := doctor(t, tc.stdin, args...)
			assert.Equal(t, tc.code, code, out)
			for _, w := range tc.text {
				assert.Contains(t, out, w)
			}
			assert.Equal(t, min(tc.code, 1), strings.Count(out, "FAIL  "), "only the deciding check fails: sign-in stops there")
			assert.NotContains(t, errOut, "warning", "a token on stdin draws no warning")
			if parts := strings.Split(strings.TrimSpace(tc.stdin), "."); len(parts) == 3 {
				assert.NotContains(t, out, parts[2], "never the signature")
			}

			code, out, _ = doctor(t, tc.stdin, append(args, "--json")...)
			assert.Equal(t, tc.code, code)
			r := decode(t, out)
			assert.Equal(t, "token", r.Command)
			assert.True(t, r.TokenChecked)
			assert.Equal(t, tc.verdict, r.Verdict)
			assert.Len(t, r.Checks, 15)
			assert.Len(t, r.ChecksRun, 15)
			assert.Equal(t, intune.CheckObjectID, r.ChecksRun[14])
		})
	}
}

// Every key of the JSON output is snake_case, at every depth.
func TestJSONKeysAreSnakeCase(t *testing.T) {
	tenant := intunetest.NewTenant()
	defer tenant.Close()
	snake := regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)
	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
		keys  []string // must be present at the top
	}{
		{"check", "", append([]string{"check", "--json"}, flagsFor(tenant)...),
			[]string{"command", "ok", "verdict", "token_checked", "checks_run", "checks", "clock", "summary"}},
		{"failed token with notes", tenant.Token(intunetest.WithClaim("scp", "x")), []string{"token", "--json", "--authority", tenant.URL()},
			[]string{"command", "ok", "verdict", "token_checked", "checks_run", "checks", "clock", "notes", "summary"}},
		{"failed check", "", []string{"check", "--json", "--tenant", "x", "--client", "y"},
			[]string{"command", "ok", "verdict", "token_checked", "checks_run", "checks", "summary"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, out, _ := doctor(t, tc.stdin, tc.args...)
			var v map[string]any
			require.NoError(t, json.Unmarshal([]byte(out), &v))
			for _, k := range tc.keys {
				assert.Contains(t, v, k)
			}
			var walk func(path string, v any)
			walk = func(path string, v any) {
				switch v := v.(type) {
				case map[string]any:
					for k, x := range v {
						assert.Regexp(t, snake, k, "key %s.%s", path, k)
						walk(path+"."+k, x)
					}
				case []any:
					for _, x := range v {
						walk(path+"[]", x)
					}
				}
			}
			walk("", v)
			if v["ok"] == false {
				assert.Contains(t, out, `"error_id"`)
				assert.Contains(t, out, `"next_step"`)
			}
		})
	}
}

func TestClockOffset(t *testing.T) {
	tenant := intunetest.NewTenant()
	defer tenant.Close()
	for _, tc := range []struct {
		name    string
		skew    time.Duration // this server's clock minus Entra's
		text    string
		warning string
	}{
		{"in step", 0, "", ""},
		{"3 minutes behind", -3 * time.Minute, "this server's clock is 3m0s behind Entra's", "fail once it is 5m0s behind"},
		{"6 minutes behind", -6 * time.Minute, "this server's clock is 6m0s behind Entra's", "fresh tokens fail now"},
		{"2 minutes ahead", 2 * time.Minute, "this server's clock is 2m0s ahead of Entra's", "taken as expired"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Entra's Date header says its clock is skew behind this server's.
			tenant.SetKeysHandler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Date", time.Now().Add(-tc.skew).UTC().Format(http.TimeFormat))
				_, _ = w.Write(tenant.KeySetJSON())
			}))
			defer tenant.SetKeysHandler(nil)
			for _, cmd := range []string{"check", "token"} {
				_, out, _ := doctor(t, tenant.Token(), append([]string{cmd}, flagsFor(tenant)...)...)
				assert.Contains(t, out, "clock: this server's clock")
				assert.Contains(t, out, "(Date header of "+tenant.URL()+"/")
				assert.NotContains(t, out, "appid=", "the URL without its query")
				if tc.text != "" {
					// The Date header has a resolution of a second: allow one.
					assert.True(t, strings.Contains(out, tc.text) || strings.Contains(out, strings.Replace(tc.text, "m0s", "m1s", 1)) ||
						strings.Contains(out, strings.Replace(strings.Replace(tc.text, "3m0s", "2m59s", 1), "6m0s", "5m59s", 1)), out)
				}
				if tc.warning != "" {
					assert.Contains(t, out, "WARNING: ")
					assert.Contains(t, out, tc.warning)
				} else {
					assert.NotContains(t, out, "WARNING")
				}

				_, out, _ = doctor(t, tenant.Token(), append([]string{cmd, "--json"}, flagsFor(tenant)...)...)
				r := decode(t, out)
				require.NotNil(t, r.Clock)
				assert.InDelta(t, -tc.skew.Seconds(), r.Clock.OffsetSeconds, 1)
				assert.Contains(t, r.Clock.Warning, tc.warning)
				_, err := time.Parse(time.RFC3339, r.Clock.EntraDate)
				assert.NoError(t, err)
			}
		})
	}
}

func TestClockUnknownWithoutAnswer(t *testing.T) {
	gone := intunetest.NewTenant()
	gone.Close()
	_, out, _ := doctor(t, "", append([]string{"check", "--json"}, flagsFor(gone)...)...)
	assert.Nil(t, decode(t, out).Clock, "no answer, no offset")
	assert.NotContains(t, out, `"clock"`)
}

func TestTokenOnCommandLineWarns(t *testing.T) {
	tenant := intunetest.NewTenant()
	defer tenant.Close()
	code, _, errOut := doctor(t, "", "token", "--authority", tenant.URL(), tenant.Token())
	assert.Equal(t, 0, code, "tenant and client are taken from the token")
	assert.Contains(t, errOut, "shell history")
}

func TestFillsTenantFromToken(t *testing.T) {
	tenant := intunetest.NewTenant()
	defer tenant.Close()
	code, out, _ := doctor(t, tenant.Token(), "token", "--authority", tenant.URL())
	assert.Equal(t, 0, code, out)
	assert.Contains(t, out, "note: no --tenant: checking against the token's own tid "+tenant.TenantID)
	assert.Contains(t, out, "note: no --client")

	_, out, _ = doctor(t, tenant.Token(), "token", "--json", "--authority", tenant.URL())
	assert.Len(t, decode(t, out).Notes, 2)
}
