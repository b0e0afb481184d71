package intune_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mamlogin/mamlogin/intune"
)

// The hand-made manifests: every requirement met, one per format.
const (
	goodClientID = "6a1f5c2e-9b7d-4d3e-8f21-0c4b7a9e3d15"
	goodScopeID  = "d4c3b2a1-1111-4222-8333-944455556666"
	otherGUID    = "11111111-2222-4333-8444-555555555555"
	mamAppID     = "0a5f63c0-b750-4f38-a71c-4fc0d58b89e2"
	mamScopeID   = "3c7192af-9629-4473-9276-d35e4e4b36c5"
)

var allAppChecks = []string{intune.AppCheckManifest, intune.AppCheckAppID, intune.AppCheckAudience, intune.AppCheckIdentifierURI,
	intune.AppCheckScope, intune.AppCheckPreAuthorized, intune.AppCheckTokenVersion, intune.AppCheckOptionalClaims, intune.AppCheckMAMPermission}

// layout says where a format keeps what the checks read.
type layout struct {
	legacy bool
	file   string
	format string
}

var layouts = []layout{
	{legacy: false, file: "graph-good.json", format: intune.ManifestGraph},
	{legacy: true, file: "legacy-good.json", format: intune.ManifestLegacy},
}

func (l layout) name() string { return strings.TrimSuffix(l.file, "-good.json") }

// api is the object holding the scopes, pre-authorisations and token version.
func (l layout) api(d map[string]any) map[string]any {
	if l.legacy {
		return d
	}
	return d["api"].(map[string]any)
}

func (l layout) scopesKey() string {
	if l.legacy {
		return "oauth2Permissions"
	}
	return "oauth2PermissionScopes"
}

func (l layout) idsKey() string {
	if l.legacy {
		return "permissionIds"
	}
	return "delegatedPermissionIds"
}

func (l layout) versionKey() string {
	if l.legacy {
		return "accessTokenAcceptedVersion"
	}
	return "requestedAccessTokenVersion"
}

func (l layout) scope(d map[string]any) map[string]any {
	return l.api(d)[l.scopesKey()].([]any)[0].(map[string]any)
}

func (l layout) preAuth(d map[string]any) []any { return l.api(d)["preAuthorizedApplications"].([]any) }

func (l layout) doc(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "appreg", l.file))
	require.NoError(t, err)
	var d map[string]any
	require.NoError(t, json.Unmarshal(b, &d))
	return d
}

func marshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

func goodConfig() intune.Config {
	return intune.Config{Enable: true, AuthService: intune.AuthServiceOpenID, TenantID: "72f988bf-86f1-41af-91ab-2d7cd011db47", ClientID: goodClientID}
}

// failed is the names of the failing checks, in order.
func failed(r *intune.AppReport) []string {
	out := []string{}
	for _, c := range r.Checks {
		if !c.OK {
			out = append(out, c.Name)
		}
	}
	return out
}

func checkNamed(t *testing.T, r *intune.AppReport, name string) intune.AppCheck {
	t.Helper()
	for _, c := range r.Checks {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no check %q", name)
	return intune.AppCheck{}
}

// applyFix pastes a fix over the document: each of its top-level members
// replaces the document's, as the manifest editor does. Values are kept as
// the JSON they are (no number goes through a float64).
func applyFix(t *testing.T, doc []byte, fix string) []byte {
	t.Helper()
	var d, f map[string]jsontext.Value
	require.NoError(t, json.Unmarshal(doc, &d))
	require.NoError(t, json.Unmarshal([]byte(fix), &f), "the fix is JSON: %s", fix)
	require.NotEmpty(t, f)
	for k, v := range f {
		d[k] = v
	}
	return marshal(t, d)
}

// TestCheckAppRegistrationEveryCheck: every check, in both formats, on the
// hand-made manifests with one thing wrong at a time. Each failure names
// what it found, and its fix, pasted over the document, makes it pass.
func TestCheckAppRegistrationEveryCheck(t *testing.T) {
	type tc struct {
		name    string
		edit    func(l layout, d map[string]any)
		cfg     func(*intune.Config)
		fail    []string          // the failing checks, in order
		found   map[string]string // check -> a part of what it found
		errorID map[string]string // check -> the error ID sign-in answers
		noFix   bool              // the manifest cannot fix it
	}
	cases := []tc{
		{name: "good", fail: []string{}},
		{name: "appId of another app", cfg: func(c *intune.Config) { c.ClientID = otherGUID },
			fail: []string{intune.AppCheckAppID}, found: map[string]string{intune.AppCheckAppID: goodClientID},
			errorID: map[string]string{intune.AppCheckAppID: intune.ErrInvalidToken.ID}, noFix: true},
		{name: "appId in capitals", edit: func(_ layout, d map[string]any) { d["appId"] = strings.ToUpper(goodClientID) }, fail: []string{}},
		{name: "no Client ID configured", cfg: func(c *intune.Config) { c.ClientID = "" },
			fail: []string{intune.AppCheckAppID}, found: map[string]string{intune.AppCheckAppID: goodClientID}, noFix: true},
		{name: "no appId", edit: func(_ layout, d map[string]any) { delete(d, "appId") },
			fail: []string{intune.AppCheckAppID}, found: map[string]string{intune.AppCheckAppID: "no appId"}, noFix: true},
		{name: "multi-tenant", edit: func(_ layout, d map[string]any) { d["signInAudience"] = "AzureADMultipleOrgs" },
			fail: []string{intune.AppCheckAudience}, found: map[string]string{intune.AppCheckAudience: `"AzureADMultipleOrgs"`}},
		{name: "personal accounts too", edit: func(_ layout, d map[string]any) { d["signInAudience"] = "AzureADandPersonalMicrosoftAccount" },
			fail: []string{intune.AppCheckAudience}, found: map[string]string{intune.AppCheckAudience: "AzureADandPersonalMicrosoftAccount"}},
		{name: "no signInAudience", edit: func(_ layout, d map[string]any) { delete(d, "signInAudience") },
			fail: []string{intune.AppCheckAudience}, found: map[string]string{intune.AppCheckAudience: "no signInAudience"}},
		{name: "another Application ID URI", edit: func(_ layout, d map[string]any) {
			d["identifierUris"] = []any{"api://chat.contoso.com/" + goodClientID}
		},
			fail: []string{intune.AppCheckIdentifierURI}, found: map[string]string{intune.AppCheckIdentifierURI: "api://chat.contoso.com/"}},
		{name: "no Application ID URI", edit: func(_ layout, d map[string]any) { d["identifierUris"] = []any{} },
			fail: []string{intune.AppCheckIdentifierURI}, found: map[string]string{intune.AppCheckIdentifierURI: "identifierUris []"}},
		{name: "no scope", edit: func(l layout, d map[string]any) { l.api(d)[l.scopesKey()] = []any{} },
			// the pre-authorisations name an id no scope has any more
			fail:  []string{intune.AppCheckScope, intune.AppCheckPreAuthorized},
			found: map[string]string{intune.AppCheckScope: "[]", intune.AppCheckPreAuthorized: goodScopeID}},
		{name: "another scope", edit: func(l layout, d map[string]any) { l.scope(d)["value"] = "access_as_user" },
			fail:  []string{intune.AppCheckScope, intune.AppCheckPreAuthorized},
			found: map[string]string{intune.AppCheckScope: `"access_as_user"`}},
		{name: "scope in other case", edit: func(l layout, d map[string]any) { l.scope(d)["value"] = "Login.Mattermost" },
			fail:  []string{intune.AppCheckScope, intune.AppCheckPreAuthorized},
			found: map[string]string{intune.AppCheckScope: `"Login.Mattermost"`}},
		{name: "scope disabled", edit: func(l layout, d map[string]any) { l.scope(d)["isEnabled"] = false },
			fail: []string{intune.AppCheckScope}, found: map[string]string{intune.AppCheckScope: "isEnabled false"}},
		// The fixes give the scope a new id and pre-authorise the clients
		// for it: pasted back, the document passes (checked below).
		{name: "scope id a placeholder", edit: func(l layout, d map[string]any) { l.scope(d)["id"] = "${{SCOPE_ID}}" },
			fail: []string{intune.AppCheckScope, intune.AppCheckPreAuthorized}, found: map[string]string{intune.AppCheckScope: `id "${{SCOPE_ID}}"`}},
		{name: "scope id a placeholder, the clients pre-authorised for it", edit: func(l layout, d map[string]any) {
			l.scope(d)["id"] = "${{SCOPE_ID}}"
			for _, p := range l.preAuth(d) {
				p.(map[string]any)[l.idsKey()] = []any{"${{SCOPE_ID}}"}
			}
		}, fail: []string{intune.AppCheckScope, intune.AppCheckPreAuthorized}, found: map[string]string{intune.AppCheckPreAuthorized: `["${{SCOPE_ID}}"]`}},
		{name: "scope id a placeholder, disabled", edit: func(l layout, d map[string]any) {
			l.scope(d)["id"] = "${{SCOPE_ID}}"
			l.scope(d)["isEnabled"] = false
		}, fail: []string{intune.AppCheckScope, intune.AppCheckPreAuthorized}, found: map[string]string{intune.AppCheckScope: "isEnabled false"}},
		{name: "beta not pre-authorised", edit: func(l layout, d map[string]any) { l.api(d)["preAuthorizedApplications"] = l.preAuth(d)[:1] },
			fail: []string{intune.AppCheckPreAuthorized}, found: map[string]string{intune.AppCheckPreAuthorized: intune.MobileClientRelease + " (release)"}},
		{name: "none pre-authorised", edit: func(l layout, d map[string]any) { l.api(d)["preAuthorizedApplications"] = []any{} },
			fail: []string{intune.AppCheckPreAuthorized}, found: map[string]string{intune.AppCheckPreAuthorized: "no official mobile client"}},
		{name: "release pre-authorised for another id", edit: func(l layout, d map[string]any) {
			l.preAuth(d)[0].(map[string]any)[l.idsKey()] = []any{otherGUID}
		}, fail: []string{intune.AppCheckPreAuthorized}, found: map[string]string{intune.AppCheckPreAuthorized: otherGUID}},
		{name: "only the pull-request build pre-authorised", edit: func(l layout, d map[string]any) {
			l.api(d)["preAuthorizedApplications"] = []any{map[string]any{"appId": intune.MobileClientPR, l.idsKey(): []any{goodScopeID}}}
		}, fail: []string{intune.AppCheckPreAuthorized}, found: map[string]string{intune.AppCheckPreAuthorized: "(pull request)"}},
		{name: "token version null", edit: func(l layout, d map[string]any) { l.api(d)[l.versionKey()] = nil },
			fail: []string{intune.AppCheckTokenVersion}, found: map[string]string{intune.AppCheckTokenVersion: "null"},
			errorID: map[string]string{intune.AppCheckTokenVersion: intune.ErrExtractAuthData.ID}},
		{name: "token version 1", edit: func(l layout, d map[string]any) { l.api(d)[l.versionKey()] = 1 },
			fail: []string{intune.AppCheckTokenVersion}, found: map[string]string{intune.AppCheckTokenVersion: " 1"},
			errorID: map[string]string{intune.AppCheckTokenVersion: intune.ErrExtractAuthData.ID}},
		{name: "token version absent", edit: func(l layout, d map[string]any) { delete(l.api(d), l.versionKey()) },
			fail: []string{intune.AppCheckTokenVersion}, errorID: map[string]string{intune.AppCheckTokenVersion: intune.ErrExtractAuthData.ID}},
		{name: "no email claim", edit: func(_ layout, d map[string]any) {
			oc := d["optionalClaims"].(map[string]any)
			oc["accessToken"] = oc["accessToken"].([]any)[1:]
		}, fail: []string{intune.AppCheckOptionalClaims}, found: map[string]string{intune.AppCheckOptionalClaims: `"family_name"`},
			errorID: map[string]string{intune.AppCheckOptionalClaims: intune.ErrMissingClaims.ID}},
		{name: "no email claim, SAML never creates users", edit: func(_ layout, d map[string]any) {
			oc := d["optionalClaims"].(map[string]any)
			oc["accessToken"] = oc["accessToken"].([]any)[1:]
		}, cfg: func(c *intune.Config) { c.AuthService = intune.AuthServiceSAML },
			fail: []string{intune.AppCheckOptionalClaims}, errorID: map[string]string{intune.AppCheckOptionalClaims: ""}},
		{name: "no given_name claim", edit: func(_ layout, d map[string]any) {
			oc := d["optionalClaims"].(map[string]any)
			at := oc["accessToken"].([]any)
			oc["accessToken"] = append(append([]any{}, at[:2]...), at[3:]...)
		}, fail: []string{intune.AppCheckOptionalClaims}, errorID: map[string]string{intune.AppCheckOptionalClaims: ""}},
		{name: "no optional claims", edit: func(_ layout, d map[string]any) { d["optionalClaims"] = nil },
			fail: []string{intune.AppCheckOptionalClaims}, found: map[string]string{intune.AppCheckOptionalClaims: "accessToken []"}},
		{name: "no MAM permission", edit: func(_ layout, d map[string]any) {
			d["requiredResourceAccess"] = d["requiredResourceAccess"].([]any)[:1]
		},
			fail: []string{intune.AppCheckMAMPermission}, found: map[string]string{intune.AppCheckMAMPermission: "00000003-0000-0000-c000-000000000000"}},
		{name: "MAM permission as an application role", edit: func(_ layout, d map[string]any) {
			d["requiredResourceAccess"].([]any)[1].(map[string]any)["resourceAccess"] = []any{map[string]any{"id": mamScopeID, "type": "Role"}}
		}, fail: []string{intune.AppCheckMAMPermission}, found: map[string]string{intune.AppCheckMAMPermission: `"` + mamScopeID + `" (type "Role")`}},
		{name: "MAM resource with another permission id", edit: func(_ layout, d map[string]any) {
			d["requiredResourceAccess"].([]any)[1].(map[string]any)["resourceAccess"] = []any{map[string]any{"id": otherGUID, "type": "Scope"}}
		}, fail: []string{intune.AppCheckMAMPermission}, found: map[string]string{intune.AppCheckMAMPermission: otherGUID}},
		{name: "nothing right", edit: func(l layout, d map[string]any) {
			d["signInAudience"] = "AzureADMultipleOrgs"
			d["identifierUris"] = []any{}
			l.api(d)[l.scopesKey()] = []any{}
			l.api(d)["preAuthorizedApplications"] = []any{}
			l.api(d)[l.versionKey()] = nil
			d["optionalClaims"] = nil
			d["requiredResourceAccess"] = []any{}
		}, fail: allAppChecks[2:]},
	}
	for _, l := range layouts {
		for _, c := range cases {
			t.Run(l.name()+"/"+c.name, func(t *testing.T) {
				d := l.doc(t)
				if c.edit != nil {
					c.edit(l, d)
				}
				cfg := goodConfig()
				if c.cfg != nil {
					c.cfg(&cfg)
				}
				doc := marshal(t, d)
				r := intune.CheckAppRegistration(doc, cfg)
				require.Len(t, r.Checks, len(allAppChecks))
				for i, ch := range r.Checks {
					assert.Equal(t, allAppChecks[i], ch.Name, "the checks come in order")
					assert.NotEmpty(t, ch.Found, ch.Name)
					assert.NotEmpty(t, ch.Detail, ch.Name)
					assert.Equal(t, ch.OK, ch.NextStep == "", "%s: a next step exactly when it fails", ch.Name)
					if ch.OK {
						assert.Empty(t, ch.Fix, ch.Name)
						assert.Empty(t, ch.ErrorID, ch.Name)
					}
				}
				assert.Equal(t, l.format, r.Format)
				assert.Equal(t, c.fail, failed(r), "the failing checks")
				assert.Equal(t, len(c.fail) == 0, r.OK)
				for name, part := range c.found {
					assert.Contains(t, checkNamed(t, r, name).Found, part, name)
				}
				for name, id := range c.errorID {
					assert.Equal(t, id, checkNamed(t, r, name).ErrorID, name)
				}
				require.NotEmpty(t, r.Notes)
				assert.Contains(t, r.Notes[0], "Admin consent is not in the manifest")
				if len(c.fail) == 0 || c.noFix {
					if len(c.fail) == 0 {
						assert.Empty(t, r.Fix)
					}
					return
				}
				// Each check's own fix fixes it; the whole fragment fixes all.
				for _, name := range c.fail {
					ch := checkNamed(t, r, name)
					require.NotEmpty(t, ch.Fix, name)
					after := intune.CheckAppRegistration(applyFix(t, doc, ch.Fix), cfg)
					assert.True(t, checkNamed(t, after, name).OK, "%s after its own fix: %+v", name, checkNamed(t, after, name))
				}
				require.NotEmpty(t, r.Fix)
				after := intune.CheckAppRegistration(applyFix(t, doc, r.Fix), cfg)
				assert.Equal(t, []string{}, failed(after), "after the whole fragment: %s", r.Fix)
			})
		}
	}
}

// TestCheckAppRegistrationUnreadable: a document that is not a readable app
// registration fails the manifest check and runs nothing else.
func TestCheckAppRegistrationUnreadable(t *testing.T) {
	good, err := os.ReadFile(filepath.Join("testdata", "appreg", "graph-good.json"))
	require.NoError(t, err)
	cases := []struct {
		name, doc, found string
	}{
		{"empty", "  \n", "an empty document"},
		{"not JSON", "appId: 6a1f5c2e", "not JSON at byte"},
		{"cut off", string(good[:len(good)/2]), "cut-off JSON"},
		{"an array", `[{"appId": "` + goodClientID + `"}]`, "a JSON array"},
		{"a string", `"eyJ0eXAiOiJKV1QifQ"`, "a JSON string"},
		{"two values", string(good) + "{}", "more than one JSON value"},
		{"duplicate member", `{"appId": "` + goodClientID + `", "appId": "` + otherGUID + `"}`, "not JSON at byte"},
		{"wrong type", `{"appId": "` + goodClientID + `", "identifierUris": "api://` + goodClientID + `"}`, "/identifierUris is a JSON string"},
		{"version as a string", `{"appId": "x", "api": {"requestedAccessTokenVersion": "2"}}`, "/api/requestedAccessTokenVersion is a JSON string"},
		{"not UTF-8", "{\"appId\": \"\xff\"}", "not UTF-8"},
		{"UTF-16", "\xff\xfe{\x00}\x00", "UTF-16"},
		{"an OpenID configuration", `{"issuer": "https://login.microsoftonline.com/x/v2.0", "jwks_uri": "https://login.microsoftonline.com/x/discovery/v2.0/keys"}`, `"issuer"`},
		{"too large", `{"appId": "` + strings.Repeat("a", intune.MaxManifestBytes) + `"}`, "bytes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := intune.CheckAppRegistration([]byte(c.doc), goodConfig())
			require.Len(t, r.Checks, len(allAppChecks))
			assert.False(t, r.OK)
			assert.Equal(t, allAppChecks, failed(r), "nothing passes: the manifest check fails, the rest are not run")
			assert.Contains(t, r.Checks[0].Found, c.found)
			assert.NotEmpty(t, r.Checks[0].NextStep)
			assert.False(t, r.Checks[0].NotRun, "the manifest check ran, and failed")
			for _, ch := range r.Checks[1:] {
				assert.True(t, ch.NotRun, "%s is marked as not run", ch.Name)
				assert.Equal(t, "(not run)", ch.Found)
				assert.Empty(t, ch.Fix, ch.Name)
			}
			assert.Equal(t, "The document is not a readable app registration; nothing else was checked.", r.Summary())
			// JSON says so plainly, for the doctor's --json and the page's API.
			b, err := json.Marshal(r.Checks[1])
			require.NoError(t, err)
			assert.Contains(t, string(b), `"not_run":true`)
			assert.Empty(t, r.Format)
			assert.Empty(t, r.Fix)
		})
	}
	t.Run("a byte order mark is read past", func(t *testing.T) {
		r := intune.CheckAppRegistration(append([]byte("\xef\xbb\xbf"), good...), goodConfig())
		assert.True(t, r.OK, "%+v", failed(r))
	})
}

// TestCheckAppRegistrationReadableNeverNotRun: on a readable document every
// check runs, so none is marked not run, and JSON leaves the member out.
func TestCheckAppRegistrationReadableNeverNotRun(t *testing.T) {
	for _, l := range layouts {
		d := l.doc(t)
		d["signInAudience"] = "AzureADMultipleOrgs"
		r := intune.CheckAppRegistration(marshal(t, d), goodConfig())
		for _, c := range r.Checks {
			assert.False(t, c.NotRun, c.Name)
		}
		b, err := json.Marshal(r)
		require.NoError(t, err)
		assert.NotContains(t, string(b), "not_run")
	}
}

// TestCheckAppRegistrationPlaceholderScopeID: a scope whose id is not a GUID
// gets a new GUID from the scope fix, and the pre-authorisation fix names
// that same id, in each check's own fix and in the whole fragment; the
// placeholder is pasted nowhere.
func TestCheckAppRegistrationPlaceholderScopeID(t *testing.T) {
	const placeholder = "${{SCOPE_ID}}"
	for _, l := range layouts {
		t.Run(l.name(), func(t *testing.T) {
			d := l.doc(t)
			l.scope(d)["id"] = placeholder
			for _, p := range l.preAuth(d) {
				p.(map[string]any)[l.idsKey()] = []any{placeholder}
			}
			r := intune.CheckAppRegistration(marshal(t, d), goodConfig())
			require.Equal(t, []string{intune.AppCheckScope, intune.AppCheckPreAuthorized}, failed(r))
			require.NotEmpty(t, checkNamed(t, r, intune.AppCheckScope).Fix)
			for _, fix := range []string{checkNamed(t, r, intune.AppCheckPreAuthorized).Fix, r.Fix} {
				require.NotEmpty(t, fix)
				assert.NotContains(t, fix, placeholder)
			}
			var fixed map[string]any
			require.NoError(t, json.Unmarshal(applyFix(t, marshal(t, d), r.Fix), &fixed))
			id, _ := l.scope(fixed)["id"].(string)
			assert.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, id, "a new GUID")
			assert.Contains(t, checkNamed(t, r, intune.AppCheckScope).NextStep, id, "the next step names the new id")
			for _, p := range l.preAuth(fixed) {
				assert.Equal(t, []any{id}, p.(map[string]any)[l.idsKey()], "pre-authorised for the new id alone")
			}
		})
	}
}

// TestCheckAppRegistrationQuotesTheDocument: strings from the document are
// quoted and clipped in what a check found: a control character (an ESC
// that would drive the admin's terminal) reaches no report raw.
func TestCheckAppRegistrationQuotesTheDocument(t *testing.T) {
	evil := "\x1b[2J\x1b]0;pwned\x07" + strings.Repeat("x", 200)
	for _, l := range layouts {
		t.Run(l.name(), func(t *testing.T) {
			d := l.doc(t)
			l.scope(d)["id"] = evil
			l.scope(d)["type"] = evil
			d["signInAudience"] = evil
			d["requiredResourceAccess"].([]any)[1].(map[string]any)["resourceAccess"] = []any{map[string]any{"id": evil, "type": evil}}
			r := intune.CheckAppRegistration(marshal(t, d), goodConfig())
			require.Equal(t, l.format, r.Format)
			for _, c := range r.Checks {
				for _, text := range []string{c.Found, c.Detail, c.NextStep} {
					assert.NotContains(t, text, "\x1b", c.Name)
					assert.NotContains(t, text, "\x07", c.Name)
				}
			}
			for _, name := range []string{intune.AppCheckAudience, intune.AppCheckScope, intune.AppCheckMAMPermission} {
				found := checkNamed(t, r, name).Found
				assert.Contains(t, found, `"\x1b[2J\x1b]0;pwned\a`, "%s: quoted as Go does", name)
				assert.Contains(t, found, `xxx..."`, "%s: clipped", name)
				assert.Less(t, len(found), 2*len(evil), name)
			}
		})
	}
}

// TestCheckAppRegistrationKeepsTheDocument: a fix keeps every member of what
// it replaces that it does not change, and names no other member.
func TestCheckAppRegistrationKeepsTheDocument(t *testing.T) {
	l := layouts[0]
	d := l.doc(t)
	l.api(d)[l.versionKey()] = nil
	l.api(d)["knownClientApplications"] = []any{otherGUID}
	r := intune.CheckAppRegistration(marshal(t, d), goodConfig())
	require.Equal(t, []string{intune.AppCheckTokenVersion}, failed(r))
	var fix map[string]map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.Fix), &fix))
	require.Len(t, fix, 1, "only api changes: %s", r.Fix)
	assert.Equal(t, 2.0, fix["api"]["requestedAccessTokenVersion"])
	assert.Equal(t, []any{otherGUID}, fix["api"]["knownClientApplications"], "the rest of api is kept")
	assert.Len(t, fix["api"]["oauth2PermissionScopes"], 1)
	assert.Equal(t, r.Fix, checkNamed(t, r, intune.AppCheckTokenVersion).Fix, "one failure: its fix is the whole fragment")
	assert.True(t, strings.HasPrefix(r.Fix, "{\n  \"api\": {\n"), "indented for the editor: %s", r.Fix)
}

// TestCheckAppRegistrationLegacyAudience: the oldest legacy manifests say
// availableToOtherTenants instead of signInAudience; the fix says it back.
func TestCheckAppRegistrationLegacyAudience(t *testing.T) {
	l := layouts[1]
	for _, other := range []bool{false, true} {
		d := l.doc(t)
		delete(d, "signInAudience")
		d["availableToOtherTenants"] = other
		r := intune.CheckAppRegistration(marshal(t, d), goodConfig())
		c := checkNamed(t, r, intune.AppCheckAudience)
		assert.Equal(t, !other, c.OK)
		if other {
			assert.JSONEq(t, `{"availableToOtherTenants": false}`, c.Fix)
		}
	}
}

// TestCheckAppRegistrationRealDocuments: app registrations from public
// repositories (testdata/entra/README.md names each source).
func TestCheckAppRegistrationRealDocuments(t *testing.T) {
	dir := filepath.Join("..", "testdata", "entra", "app-registrations")
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		return b
	}

	t.Run("a portal export, Graph format", func(t *testing.T) {
		doc := read("graph_portal-export_Z3l2A-github-io_app-js.json")
		cfg := goodConfig()
		cfg.ClientID = "08e4b1a2-42ae-45a1-b281-f6ecf20f717a"
		r := intune.CheckAppRegistration(doc, cfg)
		assert.Equal(t, intune.ManifestGraph, r.Format)
		assert.Equal(t, cfg.ClientID, r.AppID)
		assert.Equal(t, []string{intune.AppCheckAudience, intune.AppCheckIdentifierURI, intune.AppCheckScope, intune.AppCheckPreAuthorized,
			intune.AppCheckOptionalClaims, intune.AppCheckMAMPermission}, failed(r))
		assert.Equal(t, `signInAudience "AzureADandPersonalMicrosoftAccount"`, checkNamed(t, r, intune.AppCheckAudience).Found)
		assert.Equal(t, `identifierUris ["api://6810772"]`, checkNamed(t, r, intune.AppCheckIdentifierURI).Found)
		assert.Equal(t, `api.oauth2PermissionScopes ["*"]`, checkNamed(t, r, intune.AppCheckScope).Found)
		assert.Equal(t, "api.requestedAccessTokenVersion 2", checkNamed(t, r, intune.AppCheckTokenVersion).Found)
		assert.Contains(t, checkNamed(t, r, intune.AppCheckMAMPermission).Found, "499b84ac-1321-427f-aa17-267ca6975798")
		// The corrected document passes, and keeps the app's own scope,
		// pre-authorisation and permissions.
		fixed := applyFix(t, doc, r.Fix)
		assert.True(t, intune.CheckAppRegistration(fixed, cfg).OK)
		for _, kept := range []string{"57eafa4a-78cb-4478-8054-4e1cd9226756", "api://6810772", "ee69721e-6c3a-468f-a9ec-302d16a4c599", "knownClientApplications"} {
			assert.Contains(t, r.Fix, kept)
		}
	})

	t.Run("a template, legacy format", func(t *testing.T) {
		r := intune.CheckAppRegistration(read("legacy_teams-toolkit-samples_bot-sso_aad-manifest.json"), goodConfig())
		assert.Equal(t, intune.ManifestLegacy, r.Format)
		assert.Equal(t, []string{intune.AppCheckAppID, intune.AppCheckIdentifierURI, intune.AppCheckScope, intune.AppCheckPreAuthorized,
			intune.AppCheckOptionalClaims, intune.AppCheckMAMPermission}, failed(r))
		assert.True(t, checkNamed(t, r, intune.AppCheckAudience).OK, "AzureADMyOrg")
		assert.True(t, checkNamed(t, r, intune.AppCheckTokenVersion).OK)
		assert.Equal(t, "accessTokenAcceptedVersion 2", checkNamed(t, r, intune.AppCheckTokenVersion).Found)
		assert.Contains(t, checkNamed(t, r, intune.AppCheckAppID).Detail, "not a GUID")
		assert.Equal(t, `oauth2Permissions ["access_as_user"]`, checkNamed(t, r, intune.AppCheckScope).Found)
		assert.Equal(t, `optionalClaims.accessToken ["idtyp"]`, checkNamed(t, r, intune.AppCheckOptionalClaims).Found)
		assert.Contains(t, checkNamed(t, r, intune.AppCheckPreAuthorized).Fix, `"permissionIds"`, "the legacy format's name")
		assert.NotContains(t, r.Fix, `"api"`, "a legacy fix stays legacy")
	})

	t.Run("a template, Graph format", func(t *testing.T) {
		r := intune.CheckAppRegistration(read("graph_teams-toolkit-samples_hello-world-tab-with-backend_aad-manifest.json"), goodConfig())
		assert.Equal(t, intune.ManifestGraph, r.Format)
		assert.Equal(t, `requiredResourceAccess for ["Microsoft Graph"]`, checkNamed(t, r, intune.AppCheckMAMPermission).Found)
		assert.Contains(t, checkNamed(t, r, intune.AppCheckPreAuthorized).Found, "no official mobile client")
		assert.Contains(t, checkNamed(t, r, intune.AppCheckPreAuthorized).Fix, `"delegatedPermissionIds"`)
	})
}
