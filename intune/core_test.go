package intune_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mamlogin/mamlogin/intune"
	it "github.com/mamlogin/mamlogin/intune/intunetest"
)

// TestDiagnoseAgreesWithValidate: on every input of the fuzz corpus and the
// hostile set, the first failed check of Diagnose is the ID Validate returns
// (and both accept the same tokens). They walk one table of steps; this
// proves no input slips between them.
func TestDiagnoseAgreesWithValidate(t *testing.T) {
	tenant := newTenant(t)
	cfg := tenant.Config()
	v := newValidator(t, cfg)
	inputs := hostileTokens(t, tenant)
	files, err := filepath.Glob("../testdata/fuzz/validate/*")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		inputs[filepath.Base(f)] = string(b)
	}
	inputs["good"] = tenant.Token()
	inputs["Bearer prefix"] = "Bearer " + tenant.Token()
	inputs["trailing space"] = tenant.Token() + " "
	require.Greater(t, len(inputs), 80)

	for name, tok := range inputs {
		t.Run(name, func(t *testing.T) {
			want := ""
			if _, err := v.Validate(t.Context(), tok); err != nil {
				ae, ok := err.(*intune.AppError)
				require.True(t, ok, "%T", err)
				want = ae.ID
			}
			r := intune.Diagnose(t.Context(), cfg, tok, intune.WithKeySetLogger(quiet))
			assert.Equal(t, want, r.Verdict(), "%+v", r.Checks)
			assert.Equal(t, want == "", r.OK)
		})
	}
}

// TestDiagnoseSaysWhatTheServerAnswersToABearerPrefix: nothing is trimmed;
// the report gives the server's answer and the fix.
func TestDiagnoseSaysWhatTheServerAnswersToABearerPrefix(t *testing.T) {
	tenant := newTenant(t)
	r := intune.Diagnose(t.Context(), tenant.Config(), "Bearer "+tenant.Token(), intune.WithKeySetLogger(quiet))
	require.False(t, r.OK)
	assert.Equal(t, intune.ErrInvalidToken.ID, r.Verdict())
	got := failures(t, r)
	assert.Contains(t, got[intune.CheckFormat].Detail, "remove the prefix")
}

// TestClockSkew: a server clock up to five minutes behind Entra's never
// fails a fresh token (Entra sets nbf = iat = issue time); Leeway widens
// exp and nbf.
func TestClockSkew(t *testing.T) {
	tenant := newTenant(t)
	fresh := func(issued time.Time) string {
		return tenant.Token(it.WithClaim("nbf", issued.Unix()), it.WithClaim("iat", issued.Unix()), it.WithExpiry(issued.Add(time.Hour)))
	}
	now := time.Now()
	tests := []struct {
		name   string
		behind time.Duration // this server's clock behind Entra's
		leeway time.Duration
		want   *intune.AppError
	}{
		{"in step", 0, 0, nil},
		{"4m59s behind", 4*time.Minute + 59*time.Second, 0, nil},
		{"5m30s behind", 5*time.Minute + 30*time.Second, 0, intune.ErrInvalidToken},
		{"5m30s behind, leeway 1m", 5*time.Minute + 30*time.Second, time.Minute, nil},
		{"11m behind, leeway at its 5m bound", 11 * time.Minute, 5 * time.Minute, intune.ErrInvalidToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tenant.Config()
			cfg.Leeway = tt.leeway
			serverNow := now.Add(-tt.behind)
			v := newValidator(t, cfg, intune.WithClock(func() time.Time { return serverNow }))
			if ae := validateAs(t, v, fresh(now), tt.want); ae != nil {
				assert.Contains(t, ae.Reason, "check the server's clock")
			}
		})
	}

	t.Run("iat far in the future alone", func(t *testing.T) {
		v := newValidator(t, tenant.Config())
		_, err := v.Validate(t.Context(), tenant.Token(it.WithClaim("iat", now.Add(time.Hour).Unix())))
		ae := requireAppError(t, err, intune.ErrInvalidToken)
		assert.Contains(t, ae.Reason, "iat")
	})
	t.Run("leeway widens exp", func(t *testing.T) {
		cfg := tenant.Config()
		cfg.Leeway = 2 * time.Minute
		v := newValidator(t, cfg)
		_, err := v.Validate(t.Context(), tenant.Token(it.WithExpiry(now.Add(-time.Minute))))
		require.NoError(t, err)
	})
}

// TestScopesSplitOnSpaceOnly: Entra joins scopes with U+0020; a tab or a
// newline is part of a bogus scope name.
func TestScopesSplitOnSpaceOnly(t *testing.T) {
	tenant := newTenant(t)
	v := newValidator(t, tenant.Config())
	c, err := v.Validate(t.Context(), tenant.Token(it.WithClaim("scp", "User.Read  login.mattermost ")))
	require.NoError(t, err)
	assert.Equal(t, []string{"User.Read", "login.mattermost"}, c.Scopes)
	for _, scp := range []string{"User.Read\tlogin.mattermost", "User.Read\nlogin.mattermost", "User.Read\u00a0login.mattermost"} {
		_, err := v.Validate(t.Context(), tenant.Token(it.WithClaim("scp", scp)))
		requireAppError(t, err, intune.ErrInvalidToken)
	}
}

// TestKeyMaterialOnlyOverHTTPS: Check decides by parsing, never by prefix.
func TestKeyMaterialOnlyOverHTTPS(t *testing.T) {
	base := intune.Config{Enable: true, AuthService: intune.AuthServiceOpenID, TenantID: tenantGUID, ClientID: clientGUID}
	for raw, ok := range map[string]bool{
		"http://127.attacker.example":       false,
		"http://localhost.attacker.example": false,
		"http://127.0.0.1.nip.io":           false,
		"http://10.1.2.3":                   false,
		"http://127.0.0.1:9000":             true,
		"http://[::1]:9000":                 true,
		"http://localhost:9000":             true,
		"https://login.microsoftonline.us":  true,
	} {
		for _, field := range []string{"Authority", "JWKSURL"} {
			cfg := base
			if field == "Authority" {
				cfg.Authority = raw
			} else {
				cfg.JWKSURL = raw + "/keys"
			}
			err := cfg.Check()
			if ok {
				assert.NoError(t, err, "%s %s", field, raw)
				continue
			}
			var ce *intune.ConfigError
			require.ErrorAs(t, err, &ce, "%s %s", field, raw)
			assert.Equal(t, field, ce.Field)
		}
	}
}

// TestAttackersWordsAreNotFacts: a token whose signature fails says nothing
// but its kid; one naming an unknown key is read only for a few clipped,
// unverified facts; a verified token's facts are marked verified.
func TestAttackersWordsAreNotFacts(t *testing.T) {
	tenant := newTenant(t)
	v := newValidator(t, tenant.Config())
	attacker := it.NewKey()
	long := strings.Repeat("x", 5000)

	_, err := v.Validate(t.Context(), tenant.Token(it.WithSignatureFrom(attacker), it.WithClaim("tid", "attacker-tid")))
	ae := requireAppError(t, err, intune.ErrInvalidToken)
	assert.Equal(t, intune.TokenFacts{KeyID: tenant.SigningKey().ID}, ae.Facts, "nothing of the payload")

	_, err = v.Validate(t.Context(), tenant.Token(it.WithKey(attacker), it.WithClaim("aud", long), it.WithClaim("tid", "other-tenant")))
	ae = requireAppError(t, err, intune.ErrInvalidToken)
	assert.False(t, ae.Facts.Verified)
	assert.Equal(t, "other-tenant", ae.Facts.TenantID, "kept to help the admin")
	assert.Less(t, len(ae.Facts.Audience), 100, "clipped")

	_, err = v.Validate(t.Context(), tenant.Token(it.WithClaim("aud", "api://other")))
	ae = requireAppError(t, err, intune.ErrInvalidToken)
	assert.True(t, ae.Facts.Verified)
	assert.Equal(t, "api://other", ae.Facts.Audience)
	assert.Equal(t, it.UserOID, ae.Facts.ObjectID)
}

// TestValidatorLivesUntilClose: the context given to NewValidator bounds the
// first fetch only. Cancelled at once (a start-up context), the validator
// still follows Entra's next key rotation.
func TestValidatorLivesUntilClose(t *testing.T) {
	tenant := newTenant(t)
	ctx, cancel := context.WithCancel(context.Background())
	v, err := intune.NewValidator(ctx, tenant.Config(), intune.WithKeySetLogger(quiet), intune.WithKeyRefresh(time.Hour, time.Nanosecond))
	require.NoError(t, err)
	cancel()
	defer v.Close()

	tenant.Rotate() // Entra signs with a new key
	_, err = v.Validate(t.Context(), tenant.Token())
	require.NoError(t, err, "the unknown kid triggers a refresh after the start-up context is gone")

	require.NoError(t, v.Close())
	require.NoError(t, v.Close(), "Close is idempotent")
	_, err = v.Validate(t.Context(), tenant.Token())
	require.NoError(t, err, "a closed validator answers from the keys it holds")
}

// TestNoKeysYetIsTheServersFault: Entra unreachable since start-up answers
// jwks_init (a 500), and names what failed from where; once keys have been
// fetched, an outage changes nothing.
func TestNoKeysYetIsTheServersFault(t *testing.T) {
	tenant := newTenant(t)
	tenant.SetKeysHandler(status(http.StatusBadGateway))
	v := newValidator(t, tenant.Config(), intune.WithKeyRefresh(time.Hour, time.Nanosecond))
	for _, tok := range []string{tenant.Token(), "garbage"} {
		_, err := v.Validate(t.Context(), tok)
		ae := requireAppError(t, err, intune.ErrJWKSInit)
		assert.Contains(t, ae.Reason, "status 502")
		assert.Contains(t, ae.Reason, tenant.URL())
	}
	tenant.SetKeysHandler(nil)
	_, err := v.Validate(t.Context(), tenant.Token())
	require.NoError(t, err, "a request may try one rate-limited fetch, and it brings the keys")
	tenant.SetKeysHandler(status(http.StatusBadGateway))
	require.Error(t, v.RefreshKeys(t.Context()))
	_, err = v.Validate(t.Context(), tenant.Token())
	require.NoError(t, err)
}

// TestUnreachableEntraIsNotAnHTTPSProblem: a refused connection is a
// network problem; only a real downgrade gets the https-only next step.
func TestUnreachableEntraIsNotAnHTTPSProblem(t *testing.T) {
	tenant := newTenant(t)
	cfg := tenant.Config()
	cfg.JWKSURL = "http://127.0.0.1:1/keys" // nothing listens on port 1
	v := newValidator(t, cfg, intune.WithKeyRefresh(time.Hour, time.Hour))
	_, err := v.Validate(t.Context(), tenant.Token())
	ae := requireAppError(t, err, intune.ErrJWKSInit)
	assert.Contains(t, ae.NextStep(), "reaches the Entra authority")
	assert.NotContains(t, ae.NextStep(), "redirects to http")

	r := intune.Diagnose(t.Context(), tenant.Config(), "Bearer "+tenant.Token(), intune.WithKeySetLogger(quiet))
	got := failures(t, r)
	assert.Contains(t, got[intune.CheckFormat].NextStep, "no Bearer prefix")
}
