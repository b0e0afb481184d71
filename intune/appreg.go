package intune

import (
	"crypto/rand"
	"fmt"
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// The check of an Entra app registration before rollout: what the server
// API app must have for the mobile app to get a token this server accepts,
// read from the app's manifest (the Entra admin center's App registrations >
// Manifest page, az ad app show, or Microsoft Graph's /applications).
//
// The document is taken in either of its two formats: the Microsoft Graph
// format (the portal's default, and what az ad app show prints), and the
// legacy Azure AD Graph format (the portal's "AAD Graph App Manifest
// (Deprecating Soon)" tab, and older tenants and tools). Unknown members are
// ignored; a member this check reads that has the wrong JSON type, a
// duplicate member name or invalid UTF-8 makes the document unreadable.

// MaxManifestBytes bounds the app registration document CheckAppRegistration
// reads: Entra's manifests are a few kilobytes, a large one with many app
// roles and credentials some tens.
const MaxManifestBytes = 256 << 10

// The formats of an app registration document (AppReport.Format).
const (
	ManifestGraph  = "microsoft_graph" // the Microsoft Graph format: api.oauth2PermissionScopes, api.requestedAccessTokenVersion
	ManifestLegacy = "azure_ad_graph"  // the legacy Azure AD Graph format: oauth2Permissions, accessTokenAcceptedVersion
)

// The app registration checks, in the order CheckAppRegistration runs them:
// the document itself, then one per requirement.
const (
	AppCheckManifest       = "manifest"         // the document is an app registration, in a known format
	AppCheckAppID          = "app_id"           // appId is the configured Client ID
	AppCheckAudience       = "sign_in_audience" // single tenant (AzureADMyOrg)
	AppCheckIdentifierURI  = "identifier_uri"   // api://<client-id> is an Application ID URI
	AppCheckScope          = "scope"            // the delegated scope login.mattermost exists and is enabled
	AppCheckPreAuthorized  = "pre_authorized"   // the release and beta mobile clients are pre-authorised for it
	AppCheckTokenVersion   = "token_version"    // v2 access tokens
	AppCheckOptionalClaims = "optional_claims"  // email, family_name, given_name, preferred_username, upn in the access token
	AppCheckMAMPermission  = "mam_permission"   // the Intune MAM delegated permission is requested
)

// The Intune MAM API permission: the first-party resource Microsoft Mobile
// Application Management and the one delegated permission it publishes,
// DeviceManagementManagedApps.ReadWrite (see docs/operations.md for where
// the id comes from).
const (
	mamResourceAppID  = "0a5f63c0-b750-4f38-a71c-4fc0d58b89e2"
	mamPermissionID   = "3c7192af-9629-4473-9276-d35e4e4b36c5"
	mamPermissionName = "DeviceManagementManagedApps.ReadWrite"
)

// wantedAccessClaims are the optional access-token claims the vendor's guide
// asks for, in the order they are added.
var wantedAccessClaims = []string{"email", "family_name", "given_name", "preferred_username", "upn"}

// AppReport is what CheckAppRegistration found.
type AppReport struct {
	Format string     `json:"format"`           // ManifestGraph or ManifestLegacy; "" when the document could not be read
	AppID  string     `json:"app_id,omitempty"` // the document's appId
	Checks []AppCheck `json:"checks"`           // in the order of the AppCheck* constants
	OK     bool       `json:"ok"`               // every check passed
	// Fix is the whole corrected fragment: every member the failing checks'
	// fixes change, with all of them applied, as JSON to paste over the same
	// members in the portal's manifest editor. "" when nothing can be fixed
	// by editing the manifest.
	Fix   string   `json:"fix,omitempty"`
	Notes []string `json:"notes,omitempty"` // what the document cannot show (admin consent) and what was assumed
}

// AppCheck is one line of an AppReport.
type AppCheck struct {
	Name string `json:"name"` // one of the AppCheck* constants
	OK   bool   `json:"ok"`   // the requirement is met
	// NotRun is true when the check could not run because the document
	// could not be read (the manifest check failed). Such a check is not
	// OK, but it is no failure of its own either: show it as not run, not
	// as FAIL. Its Detail says why, its NextStep is the manifest check's.
	NotRun bool   `json:"not_run,omitzero"`
	Found  string `json:"found"`  // the concrete value in the document
	Detail string `json:"detail"` // what is required and, on a FAIL, what it breaks
	// ErrorID is the error ID sign-in answers because of this failure; ""
	// when it passes, or when the failure stops the phone before it reaches
	// this server (Entra refuses the token, or Intune the enrolment).
	ErrorID  string `json:"error_id,omitempty"`
	NextStep string `json:"next_step,omitempty"` // the admin's exact next step; "" when OK
	// Fix is the JSON fragment that fixes this check alone, in the
	// document's format, to paste over the same members in the manifest
	// editor; "" when OK or when the manifest cannot fix it.
	Fix string `json:"fix,omitempty"`
}

// CheckAppRegistration checks the app registration document manifest (its
// JSON, either format) against what mobile sign-in needs of the server API
// app, for cfg (its ClientID and AuthService are read). Every check runs;
// each says what it found and, when it fails, what it breaks, the next step
// and the JSON that fixes it. A document that cannot be read fails the
// manifest check, and the others are not run (AppCheck.NotRun). It never fetches
// anything: admin consent, which the manifest does not hold, is left to the
// admin (see AppReport.Notes).
func CheckAppRegistration(manifest []byte, cfg Config) *AppReport {
	r := &AppReport{}
	m, err := readManifest(manifest)
	if err != nil {
		r.Checks = append(r.Checks, AppCheck{Name: AppCheckManifest, Found: err.found, Detail: err.detail,
			NextStep: "Download the server API app's manifest again (Entra admin center > App registrations > the app > Manifest > Download, or az ad app show --id <Client ID>) and paste it whole."})
		for _, name := range appCheckOrder[1:] {
			r.Checks = append(r.Checks, AppCheck{Name: name, NotRun: true, Found: "(not run)", Detail: "not run: the document could not be read (see " + AppCheckManifest + ")",
				NextStep: "Fix the " + AppCheckManifest + " check first."})
		}
		return r
	}
	r.Format, r.AppID = m.format, m.appID
	a := &appAudit{m: m, cfg: cfg, report: r}
	a.run()
	return r
}

// Summary is the report's one-line verdict.
func (r *AppReport) Summary() string {
	failing := r.failing()
	switch {
	case r.OK:
		return "The app registration has everything mobile sign-in needs; confirm admin consent (see the notes)."
	case r.Format == "":
		return "The document is not a readable app registration; nothing else was checked."
	case r.Fix != "":
		return "Fix " + strings.Join(failing, ", ") + ": paste the corrected fragment over the same members in the portal's manifest editor."
	}
	return "Fix " + strings.Join(failing, ", ") + " as each next step says."
}

// failing is the names of the checks that ran and failed, in order; the
// checks that could not run (AppCheck.NotRun) are not among them.
func (r *AppReport) failing() []string {
	var failing []string
	for _, c := range r.Checks {
		if !c.OK && !c.NotRun {
			failing = append(failing, c.Name)
		}
	}
	return failing
}

var appCheckOrder = []string{AppCheckManifest, AppCheckAppID, AppCheckAudience, AppCheckIdentifierURI, AppCheckScope,
	AppCheckPreAuthorized, AppCheckTokenVersion, AppCheckOptionalClaims, AppCheckMAMPermission}

// appAudit runs the checks on one read document.
type appAudit struct {
	m       *manifest
	cfg     Config
	report  *AppReport
	appID   string   // the Client ID the later checks expect: cfg's, or the document's when they differ
	scopeID string   // the login.mattermost scope's id, or a new one the fixes give it
	changes []change // the failing checks' fixes, in order
}

// change is one fix: it edits the manifest's members.
type change func(*manifestEdit)

func (a *appAudit) run() {
	m := a.m
	a.add(AppCheck{Name: AppCheckManifest, OK: true, Found: fmt.Sprintf("%s format, %d bytes", formatName(m.format), m.size),
		Detail: "an app registration document in the " + formatName(m.format) + " format"}, nil)
	a.checkAppID()
	a.checkAudience()
	a.checkIdentifierURI()
	a.checkScope()
	a.checkPreAuthorized()
	a.checkTokenVersion()
	a.checkOptionalClaims()
	a.checkMAMPermission()
	a.report.OK = true
	for _, c := range a.report.Checks {
		a.report.OK = a.report.OK && c.OK
	}
	if len(a.changes) > 0 {
		a.report.Fix = a.fragment(a.changes...)
	}
	a.report.Notes = append(a.report.Notes, fmt.Sprintf("Admin consent is not in the manifest, so this check cannot see it. Confirm it in the Entra admin center: App registrations > the app > API permissions: every permission's Status must say \"Granted for <your tenant>\" (press \"Grant admin consent for <your tenant>\" if not); or run az ad app permission list-grants --id %s --show-resource-name.", orUnset(m.appID, "<Client ID>")))
}

// add appends c; a failing c with a fix gets its own fragment.
func (a *appAudit) add(c AppCheck, fix change) {
	if !c.OK && fix != nil {
		a.changes = append(a.changes, fix)
		c.Fix = a.fragment(fix)
	}
	a.report.Checks = append(a.report.Checks, c)
}

// editorStep is where to fix it, for next steps.
const editorStep = "Entra admin center > App registrations > the server API app > Manifest: replace the members the fix below names with its values (keep every other member), then Save"

func (a *appAudit) checkAppID() {
	m, want := a.m, strings.ToLower(a.cfg.ClientID)
	c := AppCheck{Name: AppCheckAppID, Found: quoteOr(m.appID, "no appId")}
	a.appID = want
	switch {
	case m.appID == "":
		c.Detail = "the document has no appId: it is not a downloaded manifest, or it was cut"
		c.NextStep = "Paste the whole manifest of the server API app (it starts with its id and appId)."
	case !isGUID(m.appID):
		c.Detail = "appId is not a GUID; the Application (client) ID looks like 6a1f5c2e-9b7d-4d3e-8f21-0c4b7a9e3d15"
		c.NextStep = "Paste the manifest as the portal downloads it, not a template with placeholders."
	case want == "":
		c.Detail = "no Client ID is configured to compare with; the checks below use this document's appId"
		c.NextStep = "Set Application (client) ID in the Mobile Security settings to " + strings.ToLower(m.appID) + ", if this is the server API app."
		a.appID = strings.ToLower(m.appID)
	case !strings.EqualFold(m.appID, want):
		c.Detail = fmt.Sprintf("the configured Client ID is %s: tokens for this app have aud %s and every sign-in fails; the checks below use this document's appId", want, strings.ToLower(m.appID))
		c.ErrorID = errInvalidToken.ID
		c.NextStep = "Either this is the wrong app's manifest (download the manifest of the app whose Application (client) ID is " + want + "), or set Application (client) ID in the Mobile Security settings to " + strings.ToLower(m.appID) + "."
		a.appID = strings.ToLower(m.appID)
	default:
		c.OK, c.Detail = true, "the configured Client ID"
	}
	a.add(c, nil)
}

func (a *appAudit) checkAudience() {
	m := a.m
	c := AppCheck{Name: AppCheckAudience}
	single := false
	switch {
	case m.audience != "":
		c.Found = fmt.Sprintf("signInAudience %q", clipManifest(m.audience))
		single = m.audience == "AzureADMyOrg"
	case m.otherTenants != nil:
		c.Found = fmt.Sprintf("availableToOtherTenants %t", *m.otherTenants)
		single = !*m.otherTenants
	default:
		c.Found = "no signInAudience"
	}
	if single {
		c.OK, c.Detail = true, "single tenant: only this tenant's users get tokens for it"
		a.add(c, nil)
		return
	}
	c.Detail = "must be AzureADMyOrg (accounts in this organizational directory only): the server API app is single-tenant, one per customer tenant; other tenants' tokens are refused anyway (" + errInvalidTenant.ID + "), so a wider audience only exposes the scope"
	c.NextStep = editorStep + " (under Authentication, \"Supported account types\" is the same setting)."
	a.add(c, func(e *manifestEdit) {
		if m.format == ManifestLegacy && m.audience == "" && m.otherTenants != nil {
			e.setTop("availableToOtherTenants", jsontext.Value("false"))
			return
		}
		e.setTop("signInAudience", mustJSON("AzureADMyOrg"))
	})
}

func (a *appAudit) checkIdentifierURI() {
	m := a.m
	want := "api://" + a.appID
	c := AppCheck{Name: AppCheckIdentifierURI, Found: "identifierUris " + quoteList(m.identifierURIs)}
	if a.appID == "" {
		c.Detail = "cannot tell which URI is required: neither the configuration nor the document gives a Client ID"
		c.NextStep = "Fix the " + AppCheckAppID + " check first."
		a.add(c, nil)
		return
	}
	for _, u := range m.identifierURIs {
		if strings.EqualFold(u, want) {
			c.OK, c.Detail = true, want+" is an Application ID URI: the app's scope "+want+"/"+scopeName+" names this app"
			a.add(c, nil)
			return
		}
	}
	c.Detail = "the app asks Entra for the scope " + want + "/" + scopeName + " (Config.Scope), so " + want + " must be among the Application ID URIs; without it Entra refuses the token request on the phone (the resource is not found in the tenant) and the server never sees a token"
	if len(m.identifierURIs) > 0 {
		c.Detail += "; the URI already set (" + quoteList(m.identifierURIs) + ") can stay, the app never uses it"
	}
	c.NextStep = editorStep + " (or Expose an API > Application ID URI > Add: " + want + ")."
	a.add(c, func(e *manifestEdit) {
		e.setTop("identifierUris", mustJSON(append(append([]string{}, m.identifierURIs...), want)))
	})
}

func (a *appAudit) checkScope() {
	m := a.m
	c := AppCheck{Name: AppCheckScope}
	where := "api.oauth2PermissionScopes"
	if m.format == ManifestLegacy {
		where = "oauth2Permissions"
	}
	i := m.scopeIndex()
	if i < 0 {
		a.scopeID = newGUID()
		var values []string
		for _, s := range m.scopes {
			values = append(values, s.Value)
		}
		c.Found = where + " " + quoteList(values)
		c.Detail = "no delegated scope " + scopeName + ": the app requests exactly that scope, and Entra refuses the token request on the phone without it"
		if j := m.scopeFoldIndex(); j >= 0 {
			c.Detail += fmt.Sprintf(" (%q differs in case; the scope's value must be %s exactly)", clipManifest(m.scopes[j].Value), scopeName)
		}
		c.NextStep = editorStep + " (or Expose an API > Add a scope: name " + scopeName + ", who can consent: Admins and users). The fix gives the scope the new id " + a.scopeID + "."
		a.add(c, func(e *manifestEdit) { e.addScope(a.scopeID) })
		return
	}
	s := m.scopes[i]
	a.scopeID = strings.ToLower(s.ID)
	enabled := s.IsEnabled == nil || *s.IsEnabled
	c.Found = fmt.Sprintf("%s: %s id %s, isEnabled %s, type %s", where, scopeName, quoteOrUnset(s.ID, "(no id)"), boolText(s.IsEnabled), quoteOrUnset(s.Type, "(none)"))
	switch {
	case !isGUID(s.ID):
		// A template's placeholder: the fixes give the scope a new id, and
		// pre-authorise the clients for that one, never for the placeholder.
		a.scopeID = newGUID()
		c.Detail = "the scope's id is not a GUID: Entra refuses the manifest, and cannot pre-authorise clients for the scope"
		if !enabled {
			c.Detail += "; the scope is also disabled"
		}
		c.NextStep = editorStep + ". The fix gives the scope the new id " + a.scopeID + " (and enables it); if this is a template with placeholders, paste the manifest the portal downloads instead."
		a.add(c, func(e *manifestEdit) { e.fixScope(i, a.scopeID) })
	case !enabled:
		c.Detail = "the scope is disabled: Entra issues no token for a disabled scope, so every phone fails before reaching the server"
		c.NextStep = editorStep + " (or Expose an API > " + scopeName + " > State: Enabled)."
		a.add(c, func(e *manifestEdit) { e.enableScope(i) })
	default:
		c.OK, c.Detail = true, "the delegated scope the app requests exists and is enabled"
		a.add(c, nil)
	}
}

func (a *appAudit) checkPreAuthorized() {
	m := a.m
	c := AppCheck{Name: AppCheckPreAuthorized}
	where := "api.preAuthorizedApplications"
	if m.format == ManifestLegacy {
		where = "preAuthorizedApplications"
	}
	var found, missing, wrong []string
	for _, mc := range MobileClients() {
		p := m.preAuthFor(mc.ID)
		switch {
		case p != nil:
			found = append(found, fmt.Sprintf("%s (%s) for %s", mc.ID, mc.Build, quoteList(p.ids())))
		}
		if mc.ID == MobileClientPR {
			continue // a developer's build: never required
		}
		switch {
		case p == nil:
			missing = append(missing, mc.ID+" ("+mc.Build+")")
		case !containsFold(p.ids(), a.scopeID):
			wrong = append(wrong, fmt.Sprintf("%s (%s) is pre-authorised for %s, not for the %s scope's id %s", mc.ID, mc.Build, quoteList(p.ids()), scopeName, a.scopeID))
		}
	}
	c.Found = where + ": " + orUnset(strings.Join(found, "; "), "no official mobile client")
	if len(missing) == 0 && len(wrong) == 0 {
		c.OK, c.Detail = true, "the release and beta mobile clients are pre-authorised for "+scopeName+" ("+a.scopeID+")"
		a.add(c, nil)
		return
	}
	var why []string
	if len(missing) > 0 {
		why = append(why, "not pre-authorised: "+strings.Join(missing, ", "))
	}
	why = append(why, wrong...)
	c.Detail = strings.Join(why, "; ") + ". Without it every user is asked to consent to the scope (or, where user consent is off, cannot sign in at all until an admin consents)"
	i := m.scopeIndex()
	badID := i >= 0 && !isGUID(m.scopes[i].ID)
	switch {
	case i < 0:
		c.Detail += "; the scope itself is missing (see " + AppCheckScope + "), so this fix also adds it"
	case badID:
		c.Detail += "; the scope's id is not a GUID (see " + AppCheckScope + "), so this fix also gives it the new id " + a.scopeID
	}
	c.NextStep = editorStep + " (or Expose an API > Authorized client applications > Add a client application: each client ID above, with the " + scopeName + " scope ticked)."
	a.add(c, func(e *manifestEdit) {
		switch {
		case i < 0:
			e.addScope(a.scopeID)
		case badID:
			e.fixScope(i, a.scopeID)
		}
		e.preAuthorize(a.scopeID, MobileClientRelease, MobileClientBeta)
	})
}

func (a *appAudit) checkTokenVersion() {
	m := a.m
	name := "api.requestedAccessTokenVersion"
	if m.format == ManifestLegacy {
		name = "accessTokenAcceptedVersion"
	}
	c := AppCheck{Name: AppCheckTokenVersion, Found: name + " " + m.tokenVersionText()}
	if m.tokenVersion != nil && *m.tokenVersion == 2 {
		c.OK, c.Detail = true, "Entra issues v2 access tokens for this app"
		a.add(c, nil)
		return
	}
	c.Detail = "must be 2: null or 1 means Entra issues v1 access tokens (issuer sts.windows.net, no v2 claims), which sign-in refuses as " + errExtractAuthData.ID
	c.ErrorID = errExtractAuthData.ID
	c.NextStep = editorStep + "."
	a.add(c, func(e *manifestEdit) {
		if m.format == ManifestLegacy {
			e.setTop("accessTokenAcceptedVersion", jsontext.Value("2"))
			return
		}
		e.setAPI("requestedAccessTokenVersion", jsontext.Value("2"))
	})
}

func (a *appAudit) checkOptionalClaims() {
	m := a.m
	c := AppCheck{Name: AppCheckOptionalClaims, Found: "optionalClaims.accessToken " + quoteList(m.accessClaims)}
	var missing []string
	for _, w := range wantedAccessClaims {
		if !containsFold(m.accessClaims, w) {
			missing = append(missing, w)
		}
	}
	if len(missing) == 0 {
		c.OK, c.Detail = true, "the access token carries email, family_name, given_name, preferred_username and upn"
		a.add(c, nil)
		return
	}
	c.Detail = "missing from the access token: " + strings.Join(missing, ", ")
	if containsFold(missing, "email") {
		c.Detail += "; without email a first sign-in cannot create the user"
		if a.cfg.AuthService.createsUsers() || a.cfg.AuthService == "" {
			c.ErrorID = errMissingClaims.ID
			c.Detail += " (" + errMissingClaims.ID + " when the token carries no address in upn or preferred_username either)"
		}
	}
	if len(missing) > 1 || !containsFold(missing, "email") {
		c.Detail += "; new users' names and usernames come from the others"
	}
	c.NextStep = editorStep + " (or Token configuration > Add optional claim > Access: tick each missing claim)."
	a.add(c, func(e *manifestEdit) { e.addAccessClaims(missing) })
}

func (a *appAudit) checkMAMPermission() {
	m := a.m
	c := AppCheck{Name: AppCheckMAMPermission}
	r := m.resourceFor(mamResourceAppID)
	if r == nil {
		var apps []string
		for _, x := range m.rra {
			apps = append(apps, x.ResourceAppID)
		}
		c.Found = "requiredResourceAccess for " + quoteList(apps)
	} else {
		var acc []string
		for _, x := range r.ResourceAccess {
			acc = append(acc, quoteOrUnset(x.ID, "(no id)")+" (type "+quoteOrUnset(x.Type, "(none)")+")")
		}
		c.Found = "Microsoft Mobile Application Management: " + orUnset(strings.Join(acc, ", "), "no permission")
	}
	ok := false
	if r != nil {
		for _, x := range r.ResourceAccess {
			ok = ok || (strings.EqualFold(x.ID, mamPermissionID) && x.Type == "Scope")
		}
	}
	if ok {
		c.OK, c.Detail = true, "the delegated permission "+mamPermissionName+" of Microsoft Mobile Application Management ("+mamResourceAppID+") is requested; whether admin consent was granted is not in the manifest (see the notes)"
		a.add(c, nil)
		return
	}
	c.Detail = "Microsoft Mobile Application Management (" + mamResourceAppID + ") must be requested with its delegated permission " + mamPermissionName + " (" + mamPermissionID + ", type Scope); without it Intune enrolment fails on the phone after sign-in (invalid_resource)"
	if r != nil {
		c.Detail += "; an application permission (Role) or another id does not do"
	}
	c.NextStep = editorStep + " (or API permissions > Add a permission > APIs my organization uses > Microsoft Mobile Application Management > Delegated > " + mamPermissionName + "), then Grant admin consent."
	a.add(c, func(e *manifestEdit) { e.requestMAM() })
}

// fragment is the JSON that applies changes to the document: the members
// they touch, with every change applied.
func (a *appAudit) fragment(changes ...change) string {
	e := newManifestEdit(a.m)
	for _, ch := range changes {
		ch(e)
	}
	return e.fragment()
}

func formatName(f string) string {
	if f == ManifestLegacy {
		return "legacy Azure AD Graph"
	}
	return "Microsoft Graph"
}

// newGUID is a random (version 4) GUID, for a scope the fix creates.
func newGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// mustJSON marshals a value this file builds (strings, slices, structs).
func mustJSON(v any) jsontext.Value {
	b, err := json.Marshal(v)
	if err != nil {
		panic("intune: " + err.Error())
	}
	return b
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// quoteList shows strings from the document, clipped.
func quoteList(list []string) string {
	if len(list) == 0 {
		return "[]"
	}
	const most = 8
	var q []string
	for i, s := range list {
		if i == most {
			q = append(q, fmt.Sprintf("and %d more", len(list)-most))
			break
		}
		q = append(q, fmt.Sprintf("%q", clipManifest(s)))
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func quoteOr(s, none string) string {
	if s == "" {
		return none
	}
	return "appId " + quoteOrUnset(s, none)
}

// quoteOrUnset shows a string from the document, clipped and quoted (so
// that a control character reaches no terminal raw), or none when empty.
func quoteOrUnset(s, none string) string {
	if s == "" {
		return none
	}
	return fmt.Sprintf("%q", clipManifest(s))
}

func orUnset(s, none string) string {
	if s == "" {
		return none
	}
	return s
}

func boolText(b *bool) string {
	if b == nil {
		return "(not set)"
	}
	return fmt.Sprint(*b)
}

// clipManifest bounds a string from the document quoted in a report.
func clipManifest(s string) string {
	const limit = 120
	if len(s) > limit {
		return strings.ToValidUTF8(s[:limit], "") + "..."
	}
	return s
}
