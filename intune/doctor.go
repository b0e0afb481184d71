package intune

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/mamlogin/mamlogin/internal/jwkscache"
)

// Report is what Diagnose found.
type Report struct {
	Checks []Check // in the order below; a check that cannot run (no key, no signature) fails
	OK     bool    // every check passed: this token would sign in
}

// Check is one line of a Report.
type Check struct {
	Name     string // one of the names below
	OK       bool
	ErrorID  string // the documented ID this failure produces at sign-in; "" when OK
	Detail   string // what was found and what was expected; safe to show an admin
	NextStep string // the admin's next step from the catalog; "" when OK
}

// Check names, in report order: the quick diagnostics of the contract.
const (
	CheckConfig    = "config"
	CheckKeySet    = "keyset"
	CheckFormat    = "format"
	CheckAlgorithm = "algorithm"
	CheckKey       = "key"
	CheckSignature = "signature"
)

// Diagnose runs every check below on rawToken without stopping at the first failure,
// plus checks of cfg itself and of the tenant's key set, and says what to fix.
// It fetches the discovery document and key set once (no cache is kept) and
// never includes the token or its signature in the report. Claims of a token
// whose signature does not verify are still checked, and their Detail says
// they were read without a verified signature.
func Diagnose(ctx context.Context, cfg Config, rawToken string, opts ...Option) *Report {
	o := buildOptions(opts)
	r, set := diagnoseConfig(ctx, cfg, o)
	v := newValidator(cfg, o)
	d := &diagnosis{r: r, blocked: ""}

	t, e := parseToken(strings.TrimSpace(rawToken))
	d.add(CheckFormat, e, func() string { return "compact JWS, header " + t.headerSummary() })
	if t == nil {
		d.blocked = "the token could not be parsed"
	}
	d.step(CheckAlgorithm, func() *AppError { return t.checkAlg() }, func() string { return "alg RS256" })

	var key *jwkscache.Key
	d.step(CheckKey, func() *AppError {
		if e := t.checkKID(); e != nil {
			return e
		}
		if set == nil {
			return ErrInvalidToken.because("cannot run: the key set could not be fetched")
		}
		if key = set.Key(t.kid); key == nil {
			return ErrInvalidToken.because("kid %q is not among the %d keys of the tenant's key set %v. If the server API app has a claims-mapping policy it signs with its own keys, listed only at the discovery URL with ?appid=<ClientID>; a token for another tenant or cloud names keys of that tenant", t.kid, set.Len(), set.KIDs())
		}
		return nil
	}, func() string { return fmt.Sprintf("kid %q is in the tenant's key set", t.kid) })

	verified := false
	d.step(CheckSignature, func() *AppError {
		if key == nil {
			return ErrInvalidToken.because("cannot run: no key to verify with")
		}
		return verify(t, key)
	}, func() string { verified = true; return "RS256 signature verifies with key " + key.ID })

	var c *Claims
	if t != nil {
		c, e = decodeClaims(t.payload64)
		if e != nil {
			d.blocked = "the payload could not be decoded (" + e.Reason + ")"
		} else {
			d.blocked = ""
		}
	}
	note := ""
	if !verified {
		note = " (read without a verified signature)"
	}
	now := o.now()
	for _, chk := range claimChecks {
		d.step(chk.name, func() *AppError { return chk.run(v, c, key, now) },
			func() string { return passDetail(chk.name, v, c, now) + note })
	}
	r.OK = true
	for _, ch := range r.Checks {
		r.OK = r.OK && ch.OK
	}
	return r
}

// DiagnoseConfig runs the "config" and "keyset" checks alone: is the
// configuration well formed, and can the tenant's discovery document and key
// set be fetched and parsed.
func DiagnoseConfig(ctx context.Context, cfg Config, opts ...Option) *Report {
	r, _ := diagnoseConfig(ctx, cfg, buildOptions(opts))
	r.OK = r.Checks[0].OK && r.Checks[1].OK
	return r
}

func diagnoseConfig(ctx context.Context, cfg Config, o options) (*Report, *jwkscache.Set) {
	r := &Report{}
	err := cfg.Check()
	if err == nil && (cfg.TenantID == "" || cfg.ClientID == "") {
		err = fmt.Errorf("TenantID and ClientID are needed to check a token")
	}
	if err != nil {
		r.Checks = append(r.Checks, fail(CheckConfig, ErrNotConfigured.because("%v", err)),
			fail(CheckKeySet, ErrInvalidToken.because("cannot run: the configuration is not usable")))
		return r, nil
	}
	detail := fmt.Sprintf("tenant %s, client %s, authority %s, scope %s", strings.ToLower(cfg.TenantID), strings.ToLower(cfg.ClientID), cfg.authority(), cfg.Scope())
	if !cfg.Enable {
		detail += "; note: Enable is false, so sign-in answers " + ErrNotConfigured.ID
	}
	r.Checks = append(r.Checks, Check{Name: CheckConfig, OK: true, Detail: detail})

	// One fetch, no refresh: the cache is closed as soon as the report is made.
	o.refreshEvery, o.minInterval = 24*time.Hour, 24*time.Hour
	co := newValidator(cfg, o).keySetOptions(o)
	where := co.JWKSURL + co.DiscoveryURL
	keys, err := jwkscache.New(ctx, co)
	if err != nil {
		r.Checks = append(r.Checks, fail(CheckKeySet, ErrInvalidToken.because("%v", err)))
		return r, nil
	}
	defer keys.Close()
	set, st := keys.Set(), keys.Stats()
	if set == nil {
		r.Checks = append(r.Checks, fail(CheckKeySet, ErrInvalidToken.because("fetching %s: %s; check that this server reaches the Entra authority and that Tenant ID is right", jwkscache.Redact(where), st.LastError)))
		return r, nil
	}
	detail = fmt.Sprintf("%d usable keys from %s", set.Len(), st.JWKSURL)
	if len(set.Rejected) > 0 {
		detail += fmt.Sprintf(" (%d skipped: %v)", len(set.Rejected), set.Rejected)
	}
	r.Checks = append(r.Checks, Check{Name: CheckKeySet, OK: true, Detail: detail})
	return r, set
}

// diagnosis appends checks; once blocked, later checks fail as "cannot run".
type diagnosis struct {
	r       *Report
	blocked string
}

func (d *diagnosis) add(name string, e *AppError, pass func() string) {
	if e != nil {
		d.r.Checks = append(d.r.Checks, fail(name, e))
		return
	}
	d.r.Checks = append(d.r.Checks, Check{Name: name, OK: true, Detail: pass()})
}

func (d *diagnosis) step(name string, run func() *AppError, pass func() string) {
	if d.blocked != "" {
		d.r.Checks = append(d.r.Checks, fail(name, ErrInvalidToken.because("cannot run: %s", d.blocked)))
		return
	}
	d.add(name, run(), pass)
}

func fail(name string, e *AppError) Check {
	return Check{Name: name, ErrorID: e.ID, Detail: e.Reason, NextStep: e.AdminNextStep}
}

func (t *token) headerSummary() string {
	s := fmt.Sprintf("alg %q, kid %q", t.alg, t.kid)
	if len(t.ignored) > 0 {
		s += fmt.Sprintf("; ignored header members %v (keys come only from the tenant's key set)", t.ignored)
	}
	return s
}

// passDetail says what a passing claim check found.
func passDetail(name string, v *Validator, c *Claims, now time.Time) string {
	switch name {
	case "expiry":
		return fmt.Sprintf("expires %s (in %s)", c.ExpiresAt.UTC().Format(time.RFC3339), c.ExpiresAt.Sub(now).Round(time.Second))
	case "not_before":
		if c.NotBefore.IsZero() {
			return "no nbf"
		}
		return "valid since " + c.NotBefore.UTC().Format(time.RFC3339)
	case "tenant":
		return "tid " + c.TenantID
	case "version":
		return fmt.Sprintf("ver %q (v2 token)", c.Version)
	case "issuer":
		return "iss " + c.Issuer
	case "audience":
		return "aud " + c.Audience
	case "scope":
		return fmt.Sprintf("scp %q", c.scp)
	case "client":
		if len(v.allowAZP) == 0 {
			return fmt.Sprintf("azp %q (no allow-list configured)", c.AuthorizedParty)
		}
		return fmt.Sprintf("azp %q is allowed", c.AuthorizedParty)
	case "object_id":
		return "oid " + c.ObjectID
	}
	return ""
}
