// Command intune-doctor explains a failing Intune MAM sign-in from the server
// side, before anyone touches a phone.
//
//	intune-doctor check --tenant <GUID> --client <GUID>
//	    the configuration, and whether the tenant's discovery document and key
//	    set can be fetched and parsed from here
//	intune-doctor token [--tenant <GUID> --client <GUID>] < token.txt
//	    every sign-in check on a captured access token, with the error ID each
//	    failure produces and the admin's next step
//
// Flags: --authority (national clouds), --jwks-url, --provider, --allowed-client
// (repeatable), --at (RFC 3339 time to judge exp/nbf by), --json. The exit
// status is 0 when every check passes, 1 when one fails, 2 on a usage error.
// The token is read from standard input; it is never printed, nor is its
// signature.
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

	"github.com/mamlogin/mamlogin/intune"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

const usage = `usage:
  intune-doctor check --tenant <GUID> --client <GUID> [flags]
  intune-doctor token [--tenant <GUID> --client <GUID>] [flags] < token
flags: --authority URL  --jwks-url URL  --provider openid|office365|saml
       --allowed-client GUID (repeatable)  --at RFC3339  --json
`

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "check" && args[0] != "token") {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd := args[0]
	fs := flag.NewFlagSet("intune-doctor "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg intune.Config
	var allowed listFlag
	var provider, at string
	var asJSON bool
	fs.StringVar(&cfg.TenantID, "tenant", "", "Directory (tenant) ID")
	fs.StringVar(&cfg.ClientID, "client", "", "Application (client) ID of the server API app")
	fs.StringVar(&cfg.Authority, "authority", "", "Entra authority (default the public cloud)")
	fs.StringVar(&cfg.JWKSURL, "jwks-url", "", "key-set URL instead of discovery")
	fs.StringVar(&provider, "provider", "openid", "enforced provider")
	fs.Var(&allowed, "allowed-client", "allowed mobile client ID (azp); repeatable")
	fs.StringVar(&at, "at", "", "judge exp/nbf at this RFC 3339 time instead of now")
	fs.BoolVar(&asJSON, "json", false, "machine-readable output")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	cfg.Enable, cfg.AuthService, cfg.AllowedClientIDs = true, intune.AuthService(provider), allowed
	// The report says what a fetch failure means; the cache's own log would repeat it.
	opts := []intune.Option{intune.WithKeySetLogger(slog.New(slog.DiscardHandler))}
	if at != "" {
		t, err := time.Parse(time.RFC3339, at)
		if err != nil {
			fmt.Fprintf(stderr, "intune-doctor: --at: %v\n", err)
			return 2
		}
		opts = append(opts, intune.WithClock(func() time.Time { return t }))
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()

	var report *intune.Report
	var notes []string
	if cmd == "check" {
		if fs.NArg() > 0 {
			fmt.Fprint(stderr, usage)
			return 2
		}
		report = intune.DiagnoseConfig(ctx, cfg, opts...)
	} else {
		raw, err := readToken(fs.Args(), stdin, stderr)
		if err != nil {
			fmt.Fprintf(stderr, "intune-doctor: %v\n", err)
			return 2
		}
		notes = fillFromToken(&cfg, raw)
		report = intune.Diagnose(ctx, cfg, raw, opts...)
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(struct {
			*intune.Report
			Notes []string `json:"notes,omitempty"`
		}{report, notes})
	} else {
		printReport(stdout, report, notes)
	}
	if !report.OK {
		return 1
	}
	return 0
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
	b, err := io.ReadAll(io.LimitReader(stdin, intune.MaxTokenBytes+1024))
	if err != nil {
		return "", err
	}
	// A file or a pipe ends the token with a line break: that is the end of
	// the input, not part of the token. Nothing else is trimmed: a Bearer
	// prefix or spaces are reported as the server would answer them.
	raw := strings.TrimRight(string(b), "\r\n")
	if raw == "" {
		return "", errors.New("no token on standard input")
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

func printReport(w io.Writer, r *intune.Report, notes []string) {
	for _, n := range notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	for _, c := range r.Checks {
		if c.OK {
			fmt.Fprintf(w, "  ok    %-10s %s\n", c.Name, c.Detail)
			continue
		}
		fmt.Fprintf(w, "  FAIL  %-10s %s\n", c.Name, c.Detail)
		fmt.Fprintf(w, "        %-10s sign-in answers %s\n", "", c.ErrorID)
		fmt.Fprintf(w, "        %-10s next step: %s\n", "", c.NextStep)
	}
	if r.OK {
		fmt.Fprintln(w, "result: every check passed; this token would sign in")
	} else {
		fmt.Fprintln(w, "result: sign-in would fail; fix the first FAIL above")
	}
}
