// Command intune-doctor explains a failing Intune MAM sign-in from the server
// side, before anyone touches a phone.
//
//	intune-doctor check --tenant <GUID> --client <GUID>
//	    the configuration, and whether the tenant's discovery document and key
//	    set can be fetched and parsed from here; no token is checked
//	intune-doctor token [--tenant <GUID> --client <GUID>] < token.txt
//	    every sign-in check on a captured access token, with the error ID each
//	    failure produces and the admin's next step
//	intune-doctor app [--client <GUID>] FILE|-
//	    the server API app's registration (its manifest) checked before
//	    rollout, with the JSON that fixes each failure
//
// Both also show this server's clock offset to Entra's when Entra's answer
// carried a Date header. Run intune-doctor --help for every flag, examples
// and the exit statuses (0 every check passed, 1 a check failed, 2 a usage
// error). The token is read from standard input; it is never printed, nor
// is its signature.
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/mamlogin/mamlogin/internal/outcome"
	"github.com/mamlogin/mamlogin/intune"
)

func main() {
	if fi, err := os.Stdin.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 && len(os.Args) > 1 && os.Args[1] == "token" && !hasPositional(os.Args[2:]) {
		fmt.Fprintln(os.Stderr, "intune-doctor: reading the token from standard input: paste it, then press Enter and Ctrl-D")
	}
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// Exit statuses.
const (
	exitOK    = 0 // every check passed
	exitFail  = 1 // a check failed
	exitUsage = 2 // the command line or the input was not usable
)

// help is the full usage, printed on --help, -h and "help".
const help = `intune-doctor explains a failing Intune MAM mobile sign-in from the chat
server's side, before anyone touches a phone. Run it on the server, with the
values of System Console > Environment > Mobile Security.

Usage:
  intune-doctor check --tenant GUID --client GUID [flags]
  intune-doctor token [--tenant GUID --client GUID] [flags] < token.txt
  intune-doctor app [--client GUID] [--provider NAME] [--json] FILE|-
  intune-doctor help

Commands:
  check   Checks the configuration (Tenant ID, Client ID, provider) and fetches
          the tenant's discovery document and signing key set from here, as
          the server does at start-up. It checks no token: a pass means this
          server can verify tokens for the tenant, not that a user's token
          would sign in.
  token   Runs every check sign-in makes on one captured access token, read
          from standard input (one trailing line break is ignored; nothing
          else is trimmed), and says what the server would answer: the error
          ID each failure produces and the admin's next step. Without --tenant
          or --client it checks the token against its own tid and aud, and
          says so. The token and its signature are never printed.
  app     Checks the server API app's registration before rollout: its
          manifest (Entra admin center > App registrations > the app >
          Manifest > Download, either format, or az ad app show --id GUID),
          from FILE or, with -, standard input. One check per requirement,
          each with the value found, what it breaks and the next step, and
          the JSON that fixes it, to paste into the manifest editor. Without
          --client it judges the app as its own. Admin consent is not in the
          manifest: the report says how to confirm it. Its --json keys:
          command, ok, format, app_id, checks_run, checks, fix, notes, summary.

Flags:
  --tenant GUID          Directory (tenant) ID
  --client GUID          Application (client) ID of the server API app
  --provider NAME        enforced Auth Provider: openid (default), office365
                         or saml
  --allowed-client GUID  an allowed mobile client ID (azp); repeat the flag
                         for each; none: any client is allowed. The
                         Mattermost app's clients are
                         9ac649f1-4f77-44d6-9792-b2f54ab3c9a7 (release: the
                         App Store build; a list without it refuses every
                         App Store user),
                         64e9952b-20eb-46dc-92ad-99089ed24903 (beta) and
                         b8543726-2747-4acc-950a-f1ec2766bc2a (pull request
                         builds); a token from one the list lacks gets a
                         next step naming its build
  --authority URL        Entra authority (default
                         https://login.microsoftonline.com); a national
                         cloud's, or http://127.0.0.1:PORT for a fake tenant
                         on loopback
  --jwks-url URL         fetch the key set from URL instead of through the
                         tenant's discovery document
  --at TIME              token only: judge exp and nbf at TIME instead of
                         now, in RFC 3339 (e.g. 2024-06-17T08:00:00Z), for a
                         token captured earlier
  --json                 print the report as JSON (snake_case keys: command,
                         ok, verdict, token_checked, checks_run, checks,
                         clock, notes, summary)
  -h, --help             print this help
Flags may be written with one dash or two.

Both commands also show this server's clock offset to Entra's, from the Date
header of Entra's answer: fresh tokens fail once this server is 5 minutes
behind Entra.

Examples:
  intune-doctor check --tenant 72f988bf-86f1-41af-91ab-2d7cd011db47 \
      --client 6a1f5c2e-9b7d-4d3e-8f21-0c4b7a9e3d15
  intune-doctor token --tenant 72f988bf-86f1-41af-91ab-2d7cd011db47 \
      --client 6a1f5c2e-9b7d-4d3e-8f21-0c4b7a9e3d15 < token.txt
  intune-doctor token --at 2024-06-17T08:00:00Z --json < token.txt
  az ad app show --id 6a1f5c2e-9b7d-4d3e-8f21-0c4b7a9e3d15 | intune-doctor app -
  intune-doctor check --json --tenant ... --client ... | jq -r .verdict
  # against a fake tenant (intunetest) listening on loopback:
  intune-doctor check --authority http://127.0.0.1:PORT \
      --tenant 72f988bf-86f1-41af-91ab-2d7cd011db47 \
      --client 6a1f5c2e-9b7d-4d3e-8f21-0c4b7a9e3d15

Exit status:
  0  every check passed
  1  a check failed: the report says which, what sign-in answers, what to do
  2  usage error: unknown command or flag, a bad --at, no token on standard
     input, no manifest (app)
`

// shortUsage follows a usage error.
const shortUsage = `usage:
  intune-doctor check --tenant GUID --client GUID [flags]
  intune-doctor token [--tenant GUID --client GUID] [flags] < token.txt
  intune-doctor app [--client GUID] FILE|-
Run 'intune-doctor --help' for every flag, examples and the exit statuses.
`

// maxInput bounds what is read from standard input: the largest body the
// sign-in handler reads. A longer input is not a token.
const maxInput = intune.MaxBodyBytes

// flags are the command line's flags; help lists every one.
type flags struct {
	cfg          intune.Config
	allowed      listFlag
	provider, at string
	asJSON       bool
}

func (f *flags) define(fs *flag.FlagSet) {
	fs.StringVar(&f.cfg.TenantID, "tenant", "", "Directory (tenant) ID")
	fs.StringVar(&f.cfg.ClientID, "client", "", "Application (client) ID of the server API app")
	fs.StringVar(&f.cfg.Authority, "authority", "", "Entra authority (default the public cloud)")
	fs.StringVar(&f.cfg.JWKSURL, "jwks-url", "", "key-set URL instead of discovery")
	fs.StringVar(&f.provider, "provider", "openid", "enforced provider")
	fs.Var(&f.allowed, "allowed-client", "allowed mobile client ID (azp); repeatable")
	fs.StringVar(&f.at, "at", "", "judge exp/nbf at this RFC 3339 time instead of now")
	fs.BoolVar(&f.asJSON, "json", false, "machine-readable output")
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "help", "-h", "-help", "--help":
			fmt.Fprint(stdout, help)
			return exitOK
		}
	}
	if len(args) > 0 && args[0] == "app" {
		return runApp(args[1:], stdin, stdout, stderr)
	}
	if len(args) == 0 || (args[0] != "check" && args[0] != "token") {
		if len(args) > 0 {
			fmt.Fprintf(stderr, "intune-doctor: unknown command %q\n", args[0])
		}
		fmt.Fprint(stderr, shortUsage)
		return exitUsage
	}
	cmd := args[0]
	fs := flag.NewFlagSet("intune-doctor "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {} // errors are followed by shortUsage; --help prints help
	var f flags
	f.define(fs)
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, help)
			return exitOK
		}
		fmt.Fprint(stderr, shortUsage)
		return exitUsage
	}
	cfg, at := f.cfg, f.at
	cfg.Enable, cfg.AuthService, cfg.AllowedClientIDs = true, intune.AuthService(f.provider), f.allowed
	// The report says what a fetch failure means; the cache's own log would repeat it.
	opts := []intune.Option{intune.WithKeySetLogger(slog.New(slog.DiscardHandler))}
	var notes []string
	if at != "" {
		t, err := time.Parse(time.RFC3339, at)
		if err != nil {
			fmt.Fprintf(stderr, "intune-doctor: --at %q is not a time in RFC 3339 format; expected e.g. 2024-06-17T08:00:00Z (UTC) or 2024-06-17T10:00:00+02:00\n", at)
			return exitUsage
		}
		if cmd == "check" {
			notes = append(notes, "--at has no effect on check: no token is checked")
		}
		opts = append(opts, intune.WithClock(func() time.Time { return t }))
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()

	var report *intune.Report
	if cmd == "check" {
		if fs.NArg() > 0 {
			fmt.Fprintf(stderr, "intune-doctor: check takes no token (%q); use intune-doctor token\n", fs.Arg(0))
			fmt.Fprint(stderr, shortUsage)
			return exitUsage
		}
		report = intune.DiagnoseConfig(ctx, cfg, opts...)
	} else {
		raw, err := readToken(fs.Args(), stdin, stderr)
		if err != nil {
			fmt.Fprintf(stderr, "intune-doctor: %v\n", err)
			return exitUsage
		}
		notes = append(notes, fillFromToken(&cfg, raw)...)
		report = intune.Diagnose(ctx, cfg, raw, opts...)
	}
	out := newOutput(cmd, report, reading(report.Clock), notes)
	return answer(stdout, f.asJSON, out, func() { printReport(stdout, out) }, report.OK)
}

// answer writes a command's result, as indented JSON or as text for a
// person, and returns the exit status that goes with its verdict: the
// same for every command.
func answer(stdout io.Writer, asJSON bool, out any, printText func(), ok bool) int {
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(out)
	} else {
		printText()
	}
	if !ok {
		return exitFail
	}
	return exitOK
}

// hasPositional reports whether args hold a token argument after the flags
// (a rough look, for the terminal prompt only).
func hasPositional(args []string) bool {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--json" || a == "-json" || strings.Contains(a, "="):
		case strings.HasPrefix(a, "-"):
			i++ // the flag's value
		default:
			return true
		}
	}
	return false
}

// readToken takes the token from stdin; a token given as an argument is
// accepted with a warning, since it lands in shell history and process lists.
func readToken(args []string, stdin io.Reader, stderr io.Writer) (string, error) {
	if len(args) > 1 {
		return "", errors.New("give one token, on standard input")
	}
	if len(args) == 1 {
		fmt.Fprintln(stderr, "intune-doctor: warning: a token on the command line stays in shell history and is visible to other users in the process list; pipe it on standard input instead")
		return args[0], nil
	}
	b, err := io.ReadAll(io.LimitReader(stdin, maxInput+1))
	if err != nil {
		return "", fmt.Errorf("reading standard input: %w", err)
	}
	if len(b) > maxInput {
		return "", fmt.Errorf("standard input holds more than %d bytes: an Entra access token is 1.5 to 4 KB; give the token alone", maxInput)
	}
	// A file or a pipe ends the token with a line break: that is the end of
	// the input, not part of the token. Nothing else is trimmed: a Bearer
	// prefix, spaces or a second line are reported as the server would
	// answer them.
	raw := string(b)
	raw = strings.TrimSuffix(raw, "\n")
	raw = strings.TrimSuffix(raw, "\r")
	if raw == "" {
		return "", errors.New("no token on standard input (pipe the access token in, e.g. intune-doctor token ... < token.txt)")
	}
	return raw, nil
}

// fillFromToken takes the tenant and client the token names when the flags
// did not give them, and says so: the checks then judge the token against
// its own tenant, which still finds v1, scope, expiry and key problems.
func fillFromToken(cfg *intune.Config, raw string) []string {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 || (cfg.TenantID != "" && cfg.ClientID != "") {
		return nil
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil
	}
	var c struct{ Tid, Aud any }
	if json.Unmarshal(b, &c) != nil {
		return nil
	}
	var notes []string
	if s, ok := c.Tid.(string); ok && cfg.TenantID == "" {
		cfg.TenantID = s
		notes = append(notes, "no --tenant: checking against the token's own tid "+s)
	}
	if s, ok := c.Aud.(string); ok && cfg.ClientID == "" {
		cfg.ClientID = strings.TrimPrefix(s, "api://")
		notes = append(notes, "no --client: checking against the token's own aud "+s)
	}
	return notes
}

// clockReading is this server's clock against Entra's.
type clockReading struct {
	EntraDate  string `json:"entra_date"`  // Entra's Date header, RFC 3339
	ServerDate string `json:"server_date"` // this server's clock when it came, to the second
	// OffsetSeconds is Entra's clock minus this server's (1 s resolution):
	// positive when this server is behind.
	OffsetSeconds float64 `json:"offset_seconds"`
	Source        string  `json:"source"`            // the URL whose answer carried the Date header
	Warning       string  `json:"warning,omitempty"` // set when the offset matters
}

// reading is the library's clock reading as the doctor shows it, or nil
// when no answer carried a Date header.
func reading(c *intune.ClockReading) *clockReading {
	if c == nil {
		return nil
	}
	off := c.Offset
	r := &clockReading{EntraDate: c.EntraDate.UTC().Format(time.RFC3339), ServerDate: c.ServerDate.UTC().Format(time.RFC3339),
		OffsetSeconds: off.Seconds(), Source: c.URL}
	switch {
	case off >= maxBehind:
		r.Warning = fmt.Sprintf("this server is %s behind Entra: fresh tokens fail now (invalid_token, nbf in the future); synchronise the clock (NTP)", off)
	case off > quietSkew:
		r.Warning = fmt.Sprintf("this server is %s behind Entra: fresh tokens fail once it is %s behind; synchronise the clock (NTP)", off, maxBehind)
	case off < -quietSkew:
		r.Warning = fmt.Sprintf("this server is %s ahead of Entra: tokens are taken as expired that early; synchronise the clock (NTP)", -off)
	}
	return r
}

// maxBehind is how far this server's clock may be behind Entra's before
// fresh tokens fail (the library's default allowance on nbf and iat);
// quietSkew is the offset worth a warning.
const (
	maxBehind = 5 * time.Minute
	quietSkew = time.Minute
)

// output is what is printed, as text or JSON.
type output struct {
	Command      string         `json:"command"` // "check" or "token"
	OK           bool           `json:"ok"`      // every check that ran passed
	Verdict      string         `json:"verdict"` // the error ID sign-in answers; "" when every check passed
	TokenChecked bool           `json:"token_checked"`
	ChecksRun    []string       `json:"checks_run"` // the names of the checks, in order
	Checks       []intune.Check `json:"checks"`
	Clock        *clockReading  `json:"clock,omitempty"` // absent when Entra's answer had no Date header
	Notes        []string       `json:"notes,omitempty"`
	Summary      string         `json:"summary"` // the result line of the text report
}

func newOutput(cmd string, r *intune.Report, clock *clockReading, notes []string) *output {
	o := &output{Command: cmd, OK: r.OK, Verdict: r.Verdict(), TokenChecked: cmd == "token",
		ChecksRun: []string{}, Checks: r.Checks, Clock: clock, Notes: notes}
	if o.Checks == nil {
		o.Checks = []intune.Check{}
	}
	for _, c := range r.Checks {
		o.ChecksRun = append(o.ChecksRun, c.Name)
	}
	switch {
	case cmd == "check" && r.OK:
		o.Summary = "the configuration is usable and the tenant's key set was fetched from here; no token was checked (intune-doctor token checks a captured one)"
	case cmd == "check":
		o.Summary = "this server cannot verify any token: every sign-in answers " + o.Verdict + "; fix the first FAIL"
	case r.OK:
		o.Summary = "every check passed; this token would sign in (the user lookup and the session are the chat server's and were not tried)"
	default:
		o.Summary = "sign-in would fail with " + o.Verdict + "; fix the first FAIL"
	}
	return o
}

func printReport(w io.Writer, o *output) {
	for _, n := range o.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	// Sign-in stops at the first FAIL: the checks after it are printed as
	// not run, with what the doctor found for them (internal/outcome).
	for _, c := range outcome.Read(o.Checks) {
		switch {
		case c.Stage == outcome.Passed:
			fmt.Fprintf(w, "  ok    %-10s %s\n", c.Name, c.Found)
		case c.Stage == outcome.Decides:
			fmt.Fprintf(w, "  FAIL  %-10s %s\n", c.Name, c.Found)
			fmt.Fprintf(w, "        %-10s sign-in answers %s\n", "", c.ErrorID)
			fmt.Fprintf(w, "        %-10s next step: %s\n", "", c.NextStep)
			fmt.Fprintf(w, "        %-10s sign-in stops here; the checks below are not run\n", "")
		case !c.Ran:
			fmt.Fprintf(w, "  -     %-10s not run: %s\n", c.Name, c.Found)
		case c.OK:
			fmt.Fprintf(w, "  -     %-10s not run; would pass: %s\n", c.Name, c.Found)
		default:
			fmt.Fprintf(w, "  -     %-10s not run; would fail too (%s): %s\n", c.Name, c.ErrorID, c.Found)
			fmt.Fprintf(w, "        %-10s next step: %s\n", "", c.NextStep)
		}
	}
	if c := o.Clock; c != nil {
		fmt.Fprintf(w, "clock: %s\n", clockText(c))
		if c.Warning != "" {
			fmt.Fprintf(w, "  WARNING: %s\n", c.Warning)
		}
	}
	fmt.Fprintf(w, "result: %s\n", o.Summary)
}

func clockText(c *clockReading) string {
	off := time.Duration(c.OffsetSeconds * float64(time.Second))
	src := " (Date header of " + c.Source + ")"
	if c.Source == "" {
		src = " (Date header of Entra's discovery answer)"
	}
	switch {
	case off > 0:
		return fmt.Sprintf("this server's clock is %s behind Entra's%s", off, src)
	case off < 0:
		return fmt.Sprintf("this server's clock is %s ahead of Entra's%s", -off, src)
	}
	return "this server's clock agrees with Entra's to the second" + src
}
