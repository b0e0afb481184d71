package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/mamlogin/mamlogin/intune"
)

// The app command: the server API app's registration (its manifest, as the
// Entra portal downloads it) checked before rollout, with the JSON that
// fixes each failure. It reads a file or standard input and fetches
// nothing.

// appOutput is what the app command prints, as text or JSON.
type appOutput struct {
	Command   string            `json:"command"` // "app"
	OK        bool              `json:"ok"`      // every check passed
	Format    string            `json:"format"`  // microsoft_graph, azure_ad_graph, or "" when unreadable
	AppID     string            `json:"app_id"`  // the manifest's appId
	ChecksRun []string          `json:"checks_run"`
	Checks    []intune.AppCheck `json:"checks"`
	Fix       string            `json:"fix"` // the whole corrected fragment; "" when nothing to paste
	Notes     []string          `json:"notes,omitempty"`
	Summary   string            `json:"summary"`
}

func runApp(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("intune-doctor app", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {}
	var client, provider string
	var asJSON bool
	fs.StringVar(&client, "client", "", "Application (client) ID of the server API app")
	fs.StringVar(&provider, "provider", "openid", "enforced provider")
	fs.BoolVar(&asJSON, "json", false, "machine-readable output")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, help)
			return exitOK
		}
		fmt.Fprint(stderr, shortUsage)
		return exitUsage
	}
	cfg := intune.Config{AuthService: intune.AuthService(provider), ClientID: client}
	if err := cfg.Check(); err != nil {
		fmt.Fprintf(stderr, "intune-doctor: %v\n", err)
		fmt.Fprint(stderr, shortUsage)
		return exitUsage
	}
	doc, err := readManifestInput(fs.Args(), stdin)
	if err != nil {
		fmt.Fprintf(stderr, "intune-doctor: %v\n", err)
		return exitUsage
	}
	var notes []string
	r := intune.CheckAppRegistration(doc, cfg)
	if client == "" && r.AppID != "" && (intune.Config{ClientID: r.AppID}).Check() == nil {
		// As token does with the token's aud: judge the app as its own.
		cfg.ClientID = r.AppID
		r = intune.CheckAppRegistration(doc, cfg)
		notes = append(notes, "no --client: checking against the manifest's own appId "+r.AppID+"; give --client with the Mobile Security settings' Client ID to compare")
	}
	out := &appOutput{Command: "app", OK: r.OK, Format: r.Format, AppID: r.AppID, ChecksRun: []string{}, Checks: r.Checks,
		Fix: r.Fix, Notes: append(notes, r.Notes...)}
	for _, c := range r.Checks {
		out.ChecksRun = append(out.ChecksRun, c.Name)
	}
	out.Summary = r.Summary()
	return answer(stdout, asJSON, out, func() { printAppReport(stdout, out) }, r.OK)
}

// readManifestInput reads FILE, or standard input for "-".
func readManifestInput(args []string, stdin io.Reader) ([]byte, error) {
	switch {
	case len(args) == 0:
		return nil, errors.New("app needs the manifest: intune-doctor app FILE, or - to read standard input")
	case len(args) > 1:
		return nil, errors.New("give one manifest (FILE, or - for standard input)")
	}
	src, name := stdin, "standard input"
	if args[0] != "-" {
		f, err := os.Open(args[0])
		if err != nil {
			return nil, fmt.Errorf("reading the manifest: %w", err)
		}
		defer f.Close()
		src, name = f, args[0]
	}
	b, err := io.ReadAll(io.LimitReader(src, intune.MaxManifestBytes+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("reading %s: %w", name, err)
	case len(b) > intune.MaxManifestBytes:
		return nil, fmt.Errorf("%s holds more than %d bytes: an app registration's manifest is a few kilobytes; give the manifest alone", name, intune.MaxManifestBytes)
	case len(strings.TrimSpace(string(b))) == 0:
		return nil, fmt.Errorf("%s is empty: download the manifest (Entra admin center > App registrations > the app > Manifest > Download, or az ad app show --id <Client ID>)", name)
	}
	return b, nil
}

func printAppReport(w io.Writer, o *appOutput) {
	if o.Format != "" {
		fmt.Fprintf(w, "app registration %s (%s format)\n", orNone(o.AppID), o.Format)
	}
	for _, c := range o.Checks {
		switch {
		case c.OK:
			fmt.Fprintf(w, "  ok    %-16s %s\n", c.Name, c.Found)
			continue
		case c.NotRun:
			// Not a failure of its own: the manifest check's says what to do.
			fmt.Fprintf(w, "  -     %-16s %s\n", c.Name, c.Detail)
			continue
		}
		fmt.Fprintf(w, "  FAIL  %-16s %s\n", c.Name, c.Found)
		fmt.Fprintf(w, "        %-16s %s\n", "", c.Detail)
		if c.ErrorID != "" {
			fmt.Fprintf(w, "        %-16s sign-in answers %s\n", "", c.ErrorID)
		}
		fmt.Fprintf(w, "        %-16s next step: %s\n", "", c.NextStep)
		if c.Fix != "" {
			fmt.Fprintf(w, "        %-16s fix:\n%s\n", "", indent(c.Fix, "          "))
		}
	}
	for _, n := range o.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	if o.Fix != "" {
		fmt.Fprintf(w, "corrected fragment (every fix above, to paste over the same members in the manifest editor):\n%s\n", o.Fix)
	}
	fmt.Fprintf(w, "result: %s\n", o.Summary)
}

func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}

func orNone(s string) string {
	if s == "" {
		return "(no appId)"
	}
	return s
}
