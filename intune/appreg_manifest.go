package intune

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// The app registration document: what the checks read of it, and the
// edits the fixes make to it. Reading is strict where it reads (a wrong
// type, a duplicate name or invalid UTF-8 is an unreadable document) and
// ignores every member it does not read. Editing keeps the document's own
// members, their order and their values: a fix replaces whole top-level
// members, as the portal's manifest editor does.

// manifest is a read app registration document.
type manifest struct {
	format string
	size   int
	top    *object // the document's members, in order
	api    *object // the Graph format's api object; nil when absent or null

	appID          string
	audience       string // signInAudience; "" when absent
	otherTenants   *bool  // the legacy availableToOtherTenants
	identifierURIs []string
	scopes         []scopeView   // api.oauth2PermissionScopes, legacy oauth2Permissions
	preAuth        []preAuthView // api.preAuthorizedApplications, legacy preAuthorizedApplications
	tokenVersion   *int          // api.requestedAccessTokenVersion, legacy accessTokenAcceptedVersion; nil when null or absent
	accessClaims   []string      // optionalClaims.accessToken[].name
	rra            []resourceView
}

type scopeView struct {
	ID        string `json:"id"`
	Value     string `json:"value"`
	IsEnabled *bool  `json:"isEnabled"`
	Type      string `json:"type"`
}

type preAuthView struct {
	AppID     string   `json:"appId"`
	Delegated []string `json:"delegatedPermissionIds"` // Graph format
	Legacy    []string `json:"permissionIds"`          // legacy format
}

func (p *preAuthView) ids() []string { return append(append([]string{}, p.Delegated...), p.Legacy...) }

type resourceView struct {
	ResourceAppID  string `json:"resourceAppId"`
	ResourceAccess []struct {
		ID   string `json:"id"`
		Type string `json:"type"`
	} `json:"resourceAccess"`
}

// manifestDoc is the typed view of the members the checks read, both formats.
type manifestDoc struct {
	AppID                   string   `json:"appId"`
	SignInAudience          string   `json:"signInAudience"`
	AvailableToOtherTenants *bool    `json:"availableToOtherTenants"`
	IdentifierURIs          []string `json:"identifierUris"`
	API                     *struct {
		RequestedAccessTokenVersion *int          `json:"requestedAccessTokenVersion"`
		OAuth2PermissionScopes      []scopeView   `json:"oauth2PermissionScopes"`
		PreAuthorizedApplications   []preAuthView `json:"preAuthorizedApplications"`
	} `json:"api"`
	OAuth2Permissions          []scopeView   `json:"oauth2Permissions"`
	PreAuthorizedApplications  []preAuthView `json:"preAuthorizedApplications"`
	AccessTokenAcceptedVersion *int          `json:"accessTokenAcceptedVersion"`
	OptionalClaims             *struct {
		AccessToken []struct {
			Name string `json:"name"`
		} `json:"accessToken"`
	} `json:"optionalClaims"`
	RequiredResourceAccess []resourceView `json:"requiredResourceAccess"`
}

// Members only one format has: they tell the formats apart.
var (
	graphOnly  = []string{"api", "displayName", "web", "spa", "publicClient", "info", "isFallbackPublicClient"}
	legacyOnly = []string{"oauth2Permissions", "accessTokenAcceptedVersion", "preAuthorizedApplications", "availableToOtherTenants",
		"replyUrlsWithType", "oauth2AllowImplicitFlow", "oauth2AllowIdTokenImplicitFlow", "allowPublicClient", "informationalUrls", "knownClientApplications"}
)

// manifestError is why a document cannot be read: what it is, and why.
type manifestError struct{ found, detail string }

func unreadable(found, format string, args ...any) *manifestError {
	return &manifestError{found: found, detail: fmt.Sprintf(format, args...)}
}

// readManifest reads an app registration document.
func readManifest(b []byte) (*manifest, *manifestError) {
	size := len(b)
	switch {
	case size > MaxManifestBytes:
		return nil, unreadable(fmt.Sprintf("%d bytes", size), "over %d bytes: an app registration's manifest is a few kilobytes; paste the manifest alone", MaxManifestBytes)
	case bytes.HasPrefix(b, []byte{0xff, 0xfe}) || bytes.HasPrefix(b, []byte{0xfe, 0xff}):
		return nil, unreadable("UTF-16 text", "the document is UTF-16 (as Windows PowerShell's Out-File writes it); save it as UTF-8, e.g. az ad app show --id <Client ID> > app.json from a UTF-8 shell, or Out-File -Encoding utf8")
	}
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")) // a UTF-8 byte order mark, as Windows tools write
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, unreadable("an empty document", "nothing to check: paste the server API app's manifest (JSON)")
	}
	if !utf8.Valid(b) {
		return nil, unreadable(fmt.Sprintf("%d bytes, not UTF-8", size), "the document is not UTF-8 text")
	}
	top, err := readTopObject(b)
	if err != nil {
		return nil, err
	}
	var doc manifestDoc
	if e := json.Unmarshal(b, &doc); e != nil {
		return nil, jsonTypeError(e)
	}
	m := &manifest{size: size, top: top}
	switch {
	case top.hasAny(graphOnly):
		m.format = ManifestGraph
	case top.hasAny(legacyOnly):
		m.format = ManifestLegacy
	case top.has("appId"):
		m.format = ManifestGraph // nothing exposed yet: read as what az ad app show prints
	default:
		return nil, unreadable("a JSON object with "+quoteList(top.firstNames(6)), "not an app registration: it has no appId, api or oauth2Permissions (a token, an OpenID configuration or a service principal is not the app's manifest)")
	}
	m.appID, m.audience, m.otherTenants, m.identifierURIs = doc.AppID, doc.SignInAudience, doc.AvailableToOtherTenants, doc.IdentifierURIs
	if m.format == ManifestGraph {
		if v := top.get("api"); v != nil && v.Kind() == '{' {
			m.api, err = readObject(v, "api")
			if err != nil {
				return nil, err
			}
		}
		if doc.API != nil {
			m.scopes, m.preAuth, m.tokenVersion = doc.API.OAuth2PermissionScopes, doc.API.PreAuthorizedApplications, doc.API.RequestedAccessTokenVersion
		}
	} else {
		m.scopes, m.preAuth, m.tokenVersion = doc.OAuth2Permissions, doc.PreAuthorizedApplications, doc.AccessTokenAcceptedVersion
	}
	if doc.OptionalClaims != nil {
		for _, c := range doc.OptionalClaims.AccessToken {
			m.accessClaims = append(m.accessClaims, c.Name)
		}
	}
	m.rra = doc.RequiredResourceAccess
	return m, nil
}

// readTopObject reads the document's members in order: one JSON object, no
// duplicate names, nothing after it.
func readTopObject(b []byte) (*object, *manifestError) {
	d := jsontext.NewDecoder(bytes.NewReader(b))
	if k := d.PeekKind(); k != '{' {
		if _, err := d.ReadValue(); err != nil {
			return nil, syntaxError(err)
		}
		return nil, unreadable("a JSON "+kindName(k), "the manifest is one JSON object ({ ... }); paste it whole")
	}
	o, err := decodeObject(d)
	if err != nil {
		return nil, syntaxError(err)
	}
	if _, err := d.ReadToken(); err != io.EOF {
		if err == nil {
			return nil, unreadable("more than one JSON value", "the document holds more after the manifest's closing brace; paste one manifest")
		}
		return nil, syntaxError(err)
	}
	return o, nil
}

func readObject(v jsontext.Value, path string) (*object, *manifestError) {
	o, err := decodeObject(jsontext.NewDecoder(bytes.NewReader(v)))
	if err != nil {
		return nil, unreadable(path+" unreadable", "%s: %v", path, err)
	}
	return o, nil
}

func syntaxError(err error) *manifestError {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return unreadable("cut-off JSON", "the document ends before the manifest does; paste it whole")
	}
	var se *jsontext.SyntacticError
	if errors.As(err, &se) {
		where := fmt.Sprintf("byte %d", se.ByteOffset)
		if se.JSONPointer != "" {
			where += " (at " + string(se.JSONPointer) + ")"
		}
		return unreadable("not JSON at "+where, "the document is not valid JSON at %s: %v; paste the manifest as downloaded, whole", where, se.Err)
	}
	return unreadable("not JSON", "the document is not valid JSON (%v); paste the manifest as downloaded, whole", err)
}

// jsonTypeError says which member has the wrong type.
func jsonTypeError(err error) *manifestError {
	var se *json.SemanticError
	if errors.As(err, &se) {
		where := string(se.JSONPointer)
		want := "another JSON type"
		if se.GoType != nil {
			want = goKind(se.GoType.Kind().String())
		}
		return unreadable(fmt.Sprintf("%s is a JSON %s", orUnset(where, "a member"), kindName(se.JSONKind)),
			"%s must be %s, as the portal writes it", orUnset(where, "a member"), want)
	}
	return syntaxError(err)
}

func goKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "int":
		return "a whole number"
	case "bool":
		return "true or false"
	case "slice":
		return "an array"
	case "struct", "ptr":
		return "an object"
	}
	return "another JSON type"
}

func kindName(k jsontext.Kind) string {
	switch k {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case '0':
		return "number"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "value"
}

func (m *manifest) scopeIndex() int {
	for i, s := range m.scopes {
		if s.Value == scopeName {
			return i
		}
	}
	return -1
}

func (m *manifest) scopeFoldIndex() int {
	for i, s := range m.scopes {
		if strings.EqualFold(s.Value, scopeName) {
			return i
		}
	}
	return -1
}

func (m *manifest) preAuthFor(appID string) *preAuthView {
	for i := range m.preAuth {
		if strings.EqualFold(m.preAuth[i].AppID, appID) {
			return &m.preAuth[i]
		}
	}
	return nil
}

func (m *manifest) resourceFor(appID string) *resourceView {
	for i := range m.rra {
		if strings.EqualFold(m.rra[i].ResourceAppID, appID) {
			return &m.rra[i]
		}
	}
	return nil
}

func (m *manifest) tokenVersionText() string {
	if m.tokenVersion == nil {
		return "null (v1 tokens)"
	}
	return fmt.Sprint(*m.tokenVersion)
}

// object is a JSON object's members, in order.
type object struct {
	names  []string
	values []jsontext.Value
}

// decodeObject reads one object from d (duplicate names are an error).
func decodeObject(d *jsontext.Decoder) (*object, error) {
	if tok, err := d.ReadToken(); err != nil {
		return nil, err
	} else if tok.Kind() != '{' {
		return nil, fmt.Errorf("not an object")
	}
	o := &object{}
	for d.PeekKind() != '}' {
		tok, err := d.ReadToken()
		if err != nil {
			return nil, err
		}
		name := tok.String() // before the next read voids tok
		v, err := d.ReadValue()
		if err != nil {
			return nil, err
		}
		o.names, o.values = append(o.names, name), append(o.values, v.Clone())
	}
	if _, err := d.ReadToken(); err != nil {
		return nil, err
	}
	return o, nil
}

func (o *object) index(name string) int {
	for i, n := range o.names {
		if n == name {
			return i
		}
	}
	return -1
}

func (o *object) has(name string) bool { return o.index(name) >= 0 }

func (o *object) hasAny(names []string) bool {
	for _, n := range names {
		if o.has(n) {
			return true
		}
	}
	return false
}

// get is the member's value, nil when absent.
func (o *object) get(name string) jsontext.Value {
	if i := o.index(name); i >= 0 {
		return o.values[i]
	}
	return nil
}

// set replaces the member's value, or appends the member.
func (o *object) set(name string, v jsontext.Value) {
	if i := o.index(name); i >= 0 {
		o.values[i] = v
		return
	}
	o.names, o.values = append(o.names, name), append(o.values, v)
}

func (o *object) clone() *object {
	return &object{names: append([]string{}, o.names...), values: append([]jsontext.Value{}, o.values...)}
}

func (o *object) firstNames(n int) []string { return o.names[:min(n, len(o.names))] }

// encode is the object as compact JSON.
func (o *object) encode() jsontext.Value {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, n := range o.names {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(mustJSON(n))
		b.WriteByte(':')
		b.Write(o.values[i])
	}
	b.WriteByte('}')
	return b.Bytes()
}

// subObject reads a member that is an object; a new empty one when it is
// absent, null or not an object.
func subObject(v jsontext.Value) *object {
	if v == nil || v.Kind() != '{' {
		return &object{}
	}
	o, err := decodeObject(jsontext.NewDecoder(bytes.NewReader(v)))
	if err != nil {
		return &object{}
	}
	return o
}

// elements reads a member that is an array; nil when absent or null.
func elements(v jsontext.Value) []jsontext.Value {
	var out []jsontext.Value
	if v == nil || v.Kind() != '[' || json.Unmarshal(v, &out) != nil {
		return nil
	}
	return out
}

func stringsOf(v jsontext.Value) []string {
	var out []string
	if v == nil || json.Unmarshal(v, &out) != nil {
		return nil
	}
	return out
}

func stringMember(v jsontext.Value, name string) string {
	var s string
	_ = json.Unmarshal(subObject(v).get(name), &s)
	return s
}

// manifestEdit is a copy of the document that fixes change.
type manifestEdit struct {
	m       *manifest
	top     *object
	api     *object // the Graph api object being edited; nil until a change touches it
	changed map[string]bool
}

func newManifestEdit(m *manifest) *manifestEdit {
	return &manifestEdit{m: m, top: m.top.clone(), changed: map[string]bool{}}
}

func (e *manifestEdit) setTop(name string, v jsontext.Value) {
	e.top.set(name, v)
	e.changed[name] = true
}

func (e *manifestEdit) apiObject() *object {
	if e.api == nil {
		e.api = &object{}
		if e.m.api != nil {
			e.api = e.m.api.clone()
		}
	}
	return e.api
}

func (e *manifestEdit) setAPI(name string, v jsontext.Value) {
	e.apiObject().set(name, v)
	e.setTop("api", e.apiObject().encode())
}

// list reads an array member the checks name by format: the Graph format
// keeps it in api under graphName, the legacy one at the top under
// legacyName. put writes it back.
func (e *manifestEdit) list(graphName, legacyName string) (items []jsontext.Value, put func([]jsontext.Value)) {
	if e.m.format == ManifestLegacy {
		return elements(e.top.get(legacyName)), func(v []jsontext.Value) { e.setTop(legacyName, arrayOf(v)) }
	}
	return elements(e.apiObject().get(graphName)), func(v []jsontext.Value) { e.setAPI(graphName, arrayOf(v)) }
}

func arrayOf(items []jsontext.Value) jsontext.Value {
	var b bytes.Buffer
	b.WriteByte('[')
	for i, v := range items {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(v)
	}
	b.WriteByte(']')
	return b.Bytes()
}

// newScopeJSON is the scope the fix adds, as the vendor's guide names it.
type newScopeJSON struct {
	AdminConsentDescription string `json:"adminConsentDescription"`
	AdminConsentDisplayName string `json:"adminConsentDisplayName"`
	ID                      string `json:"id"`
	IsEnabled               bool   `json:"isEnabled"`
	Type                    string `json:"type"`
	UserConsentDescription  string `json:"userConsentDescription"`
	UserConsentDisplayName  string `json:"userConsentDisplayName"`
	Value                   string `json:"value"`
}

func (e *manifestEdit) addScope(id string) {
	items, put := e.list("oauth2PermissionScopes", "oauth2Permissions")
	for _, it := range items {
		if stringMember(it, "value") == scopeName {
			return
		}
	}
	put(append(items, mustJSON(newScopeJSON{
		AdminConsentDescription: "Lets the Mattermost mobile app sign you in to Mattermost.",
		AdminConsentDisplayName: "Sign in to Mattermost Mobile",
		ID:                      id, IsEnabled: true, Type: "User",
		UserConsentDescription: "Lets the Mattermost mobile app sign you in to Mattermost.",
		UserConsentDisplayName: "Sign in to Mattermost Mobile",
		Value:                  scopeName,
	})))
}

func (e *manifestEdit) enableScope(i int) {
	e.editScope(i, func(o *object) { o.set("isEnabled", jsontext.Value("true")) })
}

// fixScope gives the scope i the id (a new GUID: its own is not one) and
// enables it.
func (e *manifestEdit) fixScope(i int, id string) {
	e.editScope(i, func(o *object) {
		o.set("id", mustJSON(id))
		o.set("isEnabled", jsontext.Value("true"))
	})
}

// editScope changes the scope i's members with edit.
func (e *manifestEdit) editScope(i int, edit func(*object)) {
	items, put := e.list("oauth2PermissionScopes", "oauth2Permissions")
	if i >= len(items) {
		return
	}
	o := subObject(items[i])
	edit(o)
	items[i] = o.encode()
	put(items)
}

// preAuthorize makes each client pre-authorised for the scope id, dropping
// the ids in its list that are not GUIDs.
func (e *manifestEdit) preAuthorize(scopeID string, clients ...string) {
	items, put := e.list("preAuthorizedApplications", "preAuthorizedApplications")
	idsName := "delegatedPermissionIds"
	if e.m.format == ManifestLegacy {
		idsName = "permissionIds"
	}
	for _, c := range clients {
		found := false
		for i, it := range items {
			if !strings.EqualFold(stringMember(it, "appId"), c) {
				continue
			}
			found = true
			o := subObject(it)
			// An id that is not a GUID (a template's placeholder) names no
			// scope, and Entra refuses the manifest with it: it goes.
			var ids []string
			for _, id := range stringsOf(o.get(idsName)) {
				if isGUID(id) {
					ids = append(ids, id)
				}
			}
			if !containsFold(ids, scopeID) {
				ids = append(ids, scopeID)
			}
			o.set(idsName, mustJSON(ids))
			items[i] = o.encode()
		}
		if !found {
			o := &object{}
			o.set("appId", mustJSON(c))
			o.set(idsName, mustJSON([]string{scopeID}))
			items = append(items, o.encode())
		}
	}
	put(items)
}

func (e *manifestEdit) addAccessClaims(names []string) {
	oc := subObject(e.top.get("optionalClaims"))
	for _, n := range []string{"idToken", "accessToken", "saml2Token"} {
		if v := oc.get(n); v == nil || v.Kind() != '[' {
			oc.set(n, jsontext.Value("[]"))
		}
	}
	items := elements(oc.get("accessToken"))
	for _, n := range names {
		have := false
		for _, it := range items {
			have = have || strings.EqualFold(stringMember(it, "name"), n)
		}
		if !have {
			items = append(items, jsontext.Value(`{"name":`+string(mustJSON(n))+`,"source":null,"essential":false,"additionalProperties":[]}`))
		}
	}
	oc.set("accessToken", arrayOf(items))
	e.setTop("optionalClaims", oc.encode())
}

func (e *manifestEdit) requestMAM() {
	scope := jsontext.Value(`{"id":"` + mamPermissionID + `","type":"Scope"}`)
	items := elements(e.top.get("requiredResourceAccess"))
	for i, it := range items {
		if !strings.EqualFold(stringMember(it, "resourceAppId"), mamResourceAppID) {
			continue
		}
		o := subObject(it)
		acc := elements(o.get("resourceAccess"))
		have := false
		for j, a := range acc {
			if strings.EqualFold(stringMember(a, "id"), mamPermissionID) {
				ao := subObject(a)
				ao.set("type", mustJSON("Scope"))
				acc[j], have = ao.encode(), true
			}
		}
		if !have {
			acc = append(acc, scope)
		}
		o.set("resourceAccess", arrayOf(acc))
		items[i] = o.encode()
		e.setTop("requiredResourceAccess", arrayOf(items))
		return
	}
	items = append(items, jsontext.Value(`{"resourceAppId":"`+mamResourceAppID+`","resourceAccess":[`+string(scope)+`]}`))
	e.setTop("requiredResourceAccess", arrayOf(items))
}

// fragment is the changed top-level members, in the document's order, as
// indented JSON.
func (e *manifestEdit) fragment() string {
	out := &object{}
	for i, n := range e.top.names {
		if e.changed[n] {
			out.set(n, e.top.values[i])
		}
	}
	v := out.encode()
	if err := v.Indent(jsontext.WithIndent("  ")); err != nil {
		return string(out.encode())
	}
	return string(v)
}
