package intune_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mamlogin/mamlogin/intune"
	it "github.com/mamlogin/mamlogin/intune/intunetest"
)

var checkOrder = []string{"config", "keyset", "format", "algorithm", "key", "signature", "expiry", "not_before",
	"tenant", "version", "issuer", "audience", "scope", "client", "object_id"}

// failures returns name -> check for every failed check, after asserting the
// report lists every check in the documented order.
func failures(t *testing.T, r *intune.Report) map[string]intune.Check {
	t.Helper()
	require.Len(t, r.Checks, len(checkOrder))
	out := map[string]intune.Check{}
	for i, c := range r.Checks {
		require.Equal(t, checkOrder[i], c.Name)
		if !c.OK {
			require.NotEmpty(t, c.ErrorID, c.Name)
			require.NotEmpty(t, c.NextStep, c.Name)
			out[c.Name] = c
		} else {
			require.Empty(t, c.ErrorID)
		}
	}
	assert.Equal(t, len(out) == 0, r.OK)
	return out
}

func diagnose(t *testing.T, cfg intune.Config, tok string, opts ...intune.Option) *intune.Report {
	t.Helper()
	r := intune.Diagnose(t.Context(), cfg, tok, append(opts, intune.WithKeySetLogger(quiet))...)
	for _, c := range r.Checks {
		parts := strings.Split(tok, ".")
		if len(parts) == 3 && len(parts[2]) > 10 {
			require.NotContains(t, c.Detail, parts[2], "never the signature")
		}
	}
	return r
}

func TestDiagnoseGoodToken(t *testing.T) {
	tenant := newTenant(t)
	r := diagnose(t, tenant.Config(), tenant.Token())
	assert.Empty(t, failures(t, r))
	assert.True(t, r.OK)
}

// TestDiagnoseCommonMistakes: each mistake admins make shows as the check that
// fails, the ID sign-in answers, and what to fix.
func TestDiagnoseCommonMistakes(t *testing.T) {
	tenant := newTenant(t)
	other := "0d9f2a4b-1c3e-4f5a-8b7c-6d5e4f3a2b1c"
	tests := []struct {
		name   string
		cfg    func(*intune.Config)
		token  string
		fails  map[string]string // check -> ID
		detail string            // in the first failure's Detail
	}{
		{name: "wrong Tenant ID configured", cfg: func(c *intune.Config) { c.TenantID = other; c.JWKSURL = tenant.KeysURL() },
			token: tenant.Token(), fails: map[string]string{"tenant": intune.ErrInvalidTenant.ID, "issuer": intune.ErrInvalidToken.ID}, detail: "expected the configured Tenant ID"},
		{name: "wrong Client ID configured", cfg: func(c *intune.Config) { c.ClientID = other },
			token: tenant.Token(), fails: map[string]string{"audience": intune.ErrInvalidToken.ID}, detail: "aud is"},
		{name: "v1 token", token: tenant.Token(it.WithClaim("ver", "1.0"), it.WithClaim("iss", "https://sts.windows.net/"+it.TenantID+"/")),
			fails: map[string]string{"version": intune.ErrExtractAuthData.ID, "issuer": intune.ErrInvalidToken.ID}, detail: "accessTokenAcceptedVersion = 2"},
		{name: "scope not granted", token: tenant.Token(it.WithClaim("scp", "User.Read")),
			fails: map[string]string{"scope": intune.ErrInvalidToken.ID}, detail: "login.mattermost"},
		{name: "Graph token", token: tenant.Token(it.WithClaim("aud", "00000003-0000-0000-c000-000000000000"), it.WithClaim("scp", "User.Read")),
			fails: map[string]string{"audience": intune.ErrInvalidToken.ID, "scope": intune.ErrInvalidToken.ID}, detail: "Microsoft Graph"},
		{name: "oid not objectId", token: tenant.Token(it.WithoutClaim("oid")),
			fails: map[string]string{"object_id": intune.ErrMissingClaims.ID}, detail: "no oid"},
		{name: "expired and wrong audience at once", token: tenant.Token(withExpired(), it.WithClaim("aud", other)),
			fails: map[string]string{"expiry": intune.ErrTokenExpired.ID, "audience": intune.ErrInvalidToken.ID}, detail: "expired at"},
		{name: "key not in the set (claims-mapping policy)", token: tenant.Token(it.WithKey(it.NewKey())),
			fails: map[string]string{"key": intune.ErrInvalidToken.ID, "signature": intune.ErrInvalidToken.ID}, detail: "is not in the key set"},
		{name: "not a token", token: "hello",
			fails: map[string]string{"format": "", "algorithm": "", "key": "", "signature": "", "expiry": "", "not_before": "", "tenant": "", "version": "", "issuer": "", "audience": "", "scope": "", "client": "", "object_id": ""}, detail: "1 dot-separated"},
		{name: "tenant ID is a domain", cfg: func(c *intune.Config) { c.TenantID = "contoso.onmicrosoft.com" }, token: tenant.Token(),
			fails: map[string]string{"config": intune.ErrNotConfigured.ID, "keyset": "", "key": "", "signature": "", "tenant": "", "issuer": ""}, detail: "TenantID"},
		{name: "Entra unreachable", cfg: func(c *intune.Config) { c.JWKSURL = "http://127.0.0.1:1/keys" }, token: tenant.Token(),
			fails: map[string]string{"keyset": intune.ErrJWKSInit.ID, "key": intune.ErrJWKSInit.ID, "signature": ""}, detail: "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tenant.Config()
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			got := failures(t, diagnose(t, cfg, tt.token))
			names := []string{}
			for n := range got {
				names = append(names, n)
			}
			require.Len(t, got, len(tt.fails), "failed: %v", names)
			first := ""
			for _, n := range checkOrder {
				want, ok := tt.fails[n]
				if !ok {
					continue
				}
				require.Contains(t, got, n)
				if want != "" {
					assert.Equal(t, want, got[n].ErrorID, n)
				}
				if first == "" {
					first = got[n].Detail
				}
			}
			assert.Contains(t, first, tt.detail)
		})
	}
}

// serveFile serves one recorded Entra document on loopback.
func serveFile(t *testing.T, path string) string {
	t.Helper()
	body, err := os.ReadFile(path)
	require.NoError(t, err)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/discovery/v2.0/keys"
}

func readToken(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("../testdata/entra/tokens/" + name)
	require.NoError(t, err)
	return string(b)
}

func at(s string) intune.Option {
	tm, _ := time.Parse(time.RFC3339, s)
	return intune.WithClock(func() time.Time { return tm })
}

// TestDiagnoseRealEntraDocuments: real Entra tokens against the key sets
// Entra served at the time, as recorded (testdata/entra, see its README).
func TestDiagnoseRealEntraDocuments(t *testing.T) {
	const navTenant, navClient = "966ac572-f5b7-4bbe-aa88-c76419c0f851", "bff62dcb-88dc-4a13-9e26-1cbffb96ec64"
	nav := readToken(t, "v2-access_navikt-dp-saksbehandling_exp-2024-06-17T08-52Z_kid-L1KfKFI.jwt")
	navCfg := func(keys string) intune.Config {
		return intune.Config{Enable: true, AuthService: intune.AuthServiceOpenID, TenantID: navTenant, ClientID: navClient,
			JWKSURL: serveFile(t, "../testdata/entra/jwks/"+keys)}
	}

	t.Run("v2 token verifies against the key set of its day", func(t *testing.T) {
		for _, keys := range []string{"panva-wellknown_entra-common_2024-06-05_6ddf0dfb.jwks.json", "panva-wellknown_entra-common_2024-06-16_40b442f0.jwks.json"} {
			got := failures(t, diagnose(t, navCfg(keys), nav, at("2024-06-17T08:00:00Z")))
			// Everything holds but the scope: it was issued for another API.
			require.Len(t, got, 1, "%v", got)
			assert.Contains(t, got["scope"].Detail, `"defaultaccess"`)
		}
	})
	t.Run("the same token after Entra rotated its key out", func(t *testing.T) {
		got := failures(t, diagnose(t, navCfg("panva-wellknown_entra-common_2024-08-23_57541084.jwks.json"), nav, at("2024-06-17T08:00:00Z")))
		assert.Contains(t, got["key"].Detail, "L1KfKFI_jnXbwWc22xZxw1sUHH0")
		assert.Contains(t, got, "signature")
	})
	t.Run("the same token an hour late", func(t *testing.T) {
		got := failures(t, diagnose(t, navCfg("panva-wellknown_entra-common_2024-06-16_40b442f0.jwks.json"), nav, at("2024-06-17T09:52:57Z")))
		assert.Equal(t, intune.ErrTokenExpired.ID, got["expiry"].ErrorID)
	})
	t.Run("a real v1 token is diagnosed as v1", func(t *testing.T) {
		v1 := readToken(t, "v1-access_app-roles_index-id-4259206346_exp-2024-07-07_kid-MGLqj98.jwt")
		cfg := intune.Config{Enable: true, AuthService: intune.AuthServiceSAML, TenantID: "a455b827-244f-4c97-b5b4-ce5d13b4d00c",
			ClientID: navClient, JWKSURL: serveFile(t, "../testdata/entra/jwks/identitymodel_AADCommonV1JwksString_common_v1_keys_2024-07-22.json")}
		got := failures(t, diagnose(t, cfg, v1, at("2024-07-07T19:00:00Z")))
		assert.NotContains(t, got, "signature", "a real Entra signature verifies")
		assert.Equal(t, intune.ErrExtractAuthData.ID, got["version"].ErrorID)
		assert.Contains(t, got["version"].Detail, "accessTokenAcceptedVersion = 2")
	})
	t.Run("Microsoft's documented sample (signature truncated)", func(t *testing.T) {
		sample := readToken(t, "docs-sample_v2-access_entra-docs-access-tokens-md_signature-truncated.jwt")
		cfg := intune.Config{Enable: true, AuthService: intune.AuthServiceOpenID, TenantID: "72f988bf-86f1-41af-91ab-2d7cd011db47",
			ClientID: "6e74172b-be56-4843-9ff4-e66a39bb12e3", JWKSURL: serveFile(t, "../testdata/entra/jwks/panva-wellknown_entra-common_2024-06-05_6ddf0dfb.jwks.json")}
		got := failures(t, diagnose(t, cfg, sample, at("2018-09-18T01:00:00Z")))
		assert.Contains(t, got, "key")
		assert.Contains(t, got, "scope")
		assert.NotContains(t, got, "tenant")
		assert.NotContains(t, got, "issuer")
	})
}

func TestDiagnoseConfig(t *testing.T) {
	tenant := newTenant(t)
	r := intune.DiagnoseConfig(context.Background(), tenant.Config(), intune.WithKeySetLogger(quiet))
	require.Len(t, r.Checks, 2)
	assert.True(t, r.OK, "%+v", r.Checks)
	assert.Contains(t, r.Checks[1].Detail, "1 usable keys")
	assert.EqualValues(t, 1, tenant.DiscoveryHits(), "discovery is used")

	bad := tenant.Config()
	bad.TenantID = "0d9f2a4b-1c3e-4f5a-8b7c-6d5e4f3a2b1c"
	r = intune.DiagnoseConfig(context.Background(), bad, intune.WithKeySetLogger(quiet))
	assert.False(t, r.OK)
	assert.False(t, r.Checks[1].OK)
	assert.Contains(t, r.Checks[1].Detail, "status 400", "the fake Entra rejects an unknown tenant as Entra does")
}

// TestDiagnoseKnowsTheUsers: with the host's store the doctor answers the
// checklist's first question, gives the ID sign-in would answer, and never
// creates or changes a user.
func TestDiagnoseKnowsTheUsers(t *testing.T) {
	tenant := newTenant(t)
	noAddress := []it.TokenOption{it.WithoutClaim("email"), it.WithClaim("preferred_username", "alice")}
	tests := []struct {
		name    string
		service intune.AuthService
		user    *it.Profile
		store   func(s *it.Store) intune.UserStore
		token   []it.TokenOption
		wantID  string // "" means the check passes
		detail  string
	}{
		{"existing user", intune.AuthServiceOpenID, &it.Profile{Username: "alice", Email: "alice@contoso.com"}, nil, nil, "", "username alice"},
		{"bot", intune.AuthServiceOpenID, &it.Profile{Username: "bot", IsBot: true}, nil, nil, intune.ErrBotLoginForbidden.ID, "bot"},
		{"locked", intune.AuthServiceSAML, &it.Profile{Username: "gone", DeleteAt: 1}, nil, nil, intune.ErrAccountLocked.ID, "deactivated"},
		{"new OpenID user", intune.AuthServiceOffice365, nil, nil, nil, "", "first sign-in creates one"},
		{"new OpenID user, a store that cannot tell", intune.AuthServiceOpenID, nil, func(s *it.Store) intune.UserStore {
			return plainStore{s}
		}, nil, "", intune.ErrEmailInUse.ID},
		{"new OpenID user, the test kit's store", intune.AuthServiceOpenID, nil, nil, nil, "", "the store accepts it now"},
		{"new OpenID user, the test kit's store, the address held", intune.AuthServiceOpenID, nil, func(s *it.Store) intune.UserStore {
			s.Add(intune.AuthServiceOpenID, "00000000-0000-4000-8000-000000000b0b", it.Profile{Username: "bob", Email: "Alice@Contoso.onmicrosoft.com"})
			return s
		}, nil, intune.ErrEmailInUse.ID, "is held by user"},
		{"new OpenID user, a store that accepts it", intune.AuthServiceOpenID, nil, func(s *it.Store) intune.UserStore {
			return checkingStore{storeFunc: storeFunc{Store: s}}
		}, nil, "", "the store accepts it now"},
		{"new OpenID user whose address another account holds", intune.AuthServiceOpenID, nil, func(s *it.Store) intune.UserStore {
			held := fmt.Errorf("the address is held by user u2: %w", intune.ErrEmailInUse)
			return checkingStore{storeFunc: storeFunc{Store: s, create: func(context.Context, intune.AuthService, *intune.Claims) (*intune.User, error) {
				return nil, held
			}}, check: held}
		}, nil, intune.ErrEmailInUse.ID, "held by user u2"},
		{"new OpenID user without an address", intune.AuthServiceOpenID, nil, nil, noAddress, intune.ErrMissingClaims.ID, "no address"},
		{"new SAML user", intune.AuthServiceSAML, nil, nil, nil, intune.ErrAccountNotFound.ID, "never creates SAML users"},
		{"broken store", intune.AuthServiceOpenID, nil, func(s *it.Store) intune.UserStore {
			s.Fail(errors.New("connection refused"))
			return s
		}, nil, intune.ErrStoreFailed.ID, "connection refused"},
		{"store's own row", intune.AuthServiceOpenID, nil, func(s *it.Store) intune.UserStore {
			return storeFunc{Store: s, lookup: func(context.Context, intune.AuthService, string) (*intune.User, error) {
				return nil, errCreationBlocked
			}}
		}, nil, errCreationBlocked.ID, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tenant.Config()
			cfg.AuthService = tt.service
			s := it.NewStore()
			if tt.user != nil {
				s.Add(tt.service, it.UserOID, *tt.user)
			}
			var store intune.UserStore = s
			if tt.store != nil {
				store = tt.store(s)
			}
			tok := tenant.Token(tt.token...)
			r := intune.Diagnose(t.Context(), cfg, tok, intune.WithKeySetLogger(quiet), intune.WithUserStore(store))
			require.Len(t, r.Checks, len(checkOrder)+1)
			user := r.Checks[len(r.Checks)-1]
			assert.Equal(t, intune.CheckUser, user.Name)
			assert.Equal(t, tt.wantID, user.ErrorID, user.Detail)
			assert.Equal(t, tt.wantID == "", user.OK)
			assert.Contains(t, user.Detail, tt.detail)
			assert.Equal(t, tt.wantID, r.Verdict())
			assert.Zero(t, s.Creates.Load()+s.Syncs.Load(), "the doctor never creates or changes a user")

			// The verdict is what sign-in answers for this token and store.
			v := newValidator(t, cfg)
			rec := post(intune.NewLoginHandler(cfg, v, store, &it.Sessions{}, intune.WithLogger(quiet)), appBody(tok))
			if tt.wantID == "" {
				assert.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
			} else {
				assert.Equal(t, tt.wantID, decodeErr(t, rec).ID)
			}
		})
	}
}

// checkingStore is a store that tells the doctor what a first sign-in
// would meet (intune.NewUserChecker): check, or nil.
// plainStore is a UserStore and nothing more: not a NewUserChecker.
type plainStore struct{ intune.UserStore }

type checkingStore struct {
	storeFunc
	check error
}

func (s checkingStore) CheckNewUser(context.Context, intune.AuthService, *intune.Claims) error {
	return s.check
}

// TestDiagnoseShowsTheClockOffset: Entra's Date header tells how far this
// server's clock is off, before any token fails for it.
func TestDiagnoseShowsTheClockOffset(t *testing.T) {
	tenant := newTenant(t)
	r := intune.DiagnoseConfig(t.Context(), tenant.Config(), intune.WithKeySetLogger(quiet))
	require.True(t, r.OK)
	assert.NotContains(t, r.Checks[1].Detail, "WARNING", "in step with Entra: nothing to say")

	behind := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Date", time.Now().Add(3*time.Minute).UTC().Format(http.TimeFormat))
		_, _ = w.Write(tenant.KeySetJSON())
	}))
	defer behind.Close()
	cfg := tenant.Config()
	cfg.JWKSURL = behind.URL + "/keys"
	r = intune.DiagnoseConfig(t.Context(), cfg, intune.WithKeySetLogger(quiet))
	assert.Contains(t, r.Checks[1].Detail, "behind Entra's")
	require.NotNil(t, r.Clock)
	assert.InDelta(t, (3 * time.Minute).Seconds(), r.Clock.Offset.Seconds(), 1)
	assert.Equal(t, behind.URL+"/keys", r.Clock.URL)

	gone := intune.DiagnoseConfig(t.Context(), intune.Config{Enable: true, AuthService: intune.AuthServiceOpenID,
		TenantID: it.TenantID, ClientID: it.ClientID, JWKSURL: "http://127.0.0.1:1/keys"}, intune.WithKeySetLogger(quiet))
	assert.Nil(t, gone.Clock, "no answer, no reading")
}

// TestDiagnoseDisabled: sign-in answers not_configured whatever the token,
// so the report's verdict does too; the other checks still run.
func TestDiagnoseDisabled(t *testing.T) {
	tenant := newTenant(t)
	cfg := tenant.Config()
	cfg.Enable = false
	r := diagnose(t, cfg, tenant.Token())
	got := failures(t, r)
	require.Len(t, got, 1, "%v", got)
	assert.Equal(t, intune.ErrNotConfigured.ID, r.Verdict())
	assert.Contains(t, got[intune.CheckConfig].Detail, "disabled")
}

// TestDiagnoseConfigDisabledStillFetchesKeys: the keyset check runs for a
// disabled configuration, as in Diagnose.
func TestDiagnoseConfigDisabledStillFetchesKeys(t *testing.T) {
	tenant := newTenant(t)
	cfg := tenant.Config()
	cfg.Enable = false
	r := intune.DiagnoseConfig(t.Context(), cfg, intune.WithKeySetLogger(quiet))
	require.Len(t, r.Checks, 2)
	assert.False(t, r.Checks[0].OK)
	assert.True(t, r.Checks[1].OK, r.Checks[1].Detail)
}

// TestDiagnoseDetailsStayShort: a report is shown and logged; whatever a
// pasted token's header says, each Detail stays a line, not the header.
func TestDiagnoseDetailsStayShort(t *testing.T) {
	tenant := newTenant(t)
	big := strings.Repeat("A", 10_000)
	body := payloadJSON(t, tenant)
	for name, header := range map[string]string{
		"alg":  `{"alg":"` + big + `","kid":"` + tenant.SigningKey().ID + `"}`,
		"kid":  `{"alg":"RS256","kid":"` + big + `"}`,
		"both": `{"alg":"` + big + `","kid":"` + big + `"}`,
	} {
		t.Run(name, func(t *testing.T) {
			r := diagnose(t, tenant.Config(), rawToken(tenant, header, "{"+body+"}"))
			assert.False(t, r.OK)
			for _, c := range r.Checks {
				assert.Less(t, len(c.Detail), 1024, "%s: %.120s", c.Name, c.Detail)
			}
		})
	}
}
