package intune

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
)

// Claims are the verified claims of an Entra v2 access token that sign-in
// uses. A string is "" and a time is zero when the claim is absent. Which
// may be empty in a token that passed Validate: ObjectID, TenantID, Issuer,
// Audience and ExpiresAt never are, and Scopes holds login.mattermost; the
// rest are as Entra issued them (Email needs the optional claim "email";
// UPN is absent for guests; AuthorizedParty is set in v2 tokens).
type Claims struct {
	ObjectID          string   // oid: the user's Entra objectId, a lower-case GUID; the user's identity
	TenantID          string   // tid: the directory (tenant) ID
	Subject           string   // sub: pairwise per app; not an identity across apps
	Issuer            string   // iss: https://login.microsoftonline.com/<tid>/v2.0 in the public cloud
	Audience          string   // aud: the server API app's client ID (or api://<client ID>)
	AuthorizedParty   string   // azp: the client ID of the app that asked for the token (the mobile app)
	Version           string   // ver: "2.0"
	TokenID           string   // uti: Entra's unique token identifier
	Scopes            []string // scp, split on spaces: holds login.mattermost
	Email             string   // email: only with the optional claim "email" on the server API app
	PreferredUsername string   // preferred_username: usually the UPN; not verified by Entra, never an identity
	UPN               string   // upn: absent for guests and personal accounts
	Name              string   // name: the display name
	GivenName         string   // given_name
	FamilyName        string   // family_name

	IssuedAt  time.Time // iat
	NotBefore time.Time // nbf
	ExpiresAt time.Time // exp

	// bad records claims present with the wrong JSON type, for the step
	// that owns them to report. nil when there are none.
	bad map[string]string
	// scp is the raw scope claim; hasScp says whether it was present at all.
	scp      string
	hasScp   bool
	hasRoles bool
	appID    string    // v1's azp
	kid      string    // the key that signed the token, for the admin's log
	scopes   [4]string // Scopes' storage while there are few
}

// decodeClaims reads the payload (base64url JSON object) strictly in one
// pass (readInto): a payload that is not one strict JSON object fails
// outright; a claim of the wrong type is noted for the check that owns it.
func decodeClaims(payload64 string) (*Claims, *AppError) {
	p, err := b64.DecodeString(payload64)
	if err != nil {
		return nil, errInvalidToken.because("payload: %v", decodeFault(payload64, 0, err))
	}
	c := &Claims{}
	if err := readInto(p, (*claimsReader)(c)); err != nil {
		return nil, errInvalidToken.because("payload: %v", err)
	}
	c.Scopes = splitScopes(c.scp, c.scopes[:0])
	return c, nil
}

// claimsReader is Claims being filled from a payload (readInto).
type claimsReader Claims

func (r *claimsReader) UnmarshalJSONFrom(d *jsontext.Decoder) error {
	return walkObject(d, claimNames, (*Claims)(r).member)
}

// claimNames are the claims sign-in reads (member): others are skipped.
var claimNames = []string{"exp", "nbf", "iat", "aud", "scp", "roles", "tid", "oid", "iss", "sub", "azp", "appid",
	"ver", "uti", "email", "preferred_username", "upn", "name", "given_name", "family_name"}

// member reads one claim of claimNames into c.
func (c *Claims) member(d *jsontext.Decoder, name string) error {
	var dst *string
	switch name {
	case "exp":
		return c.numericDate(d, name, &c.ExpiresAt)
	case "nbf":
		return c.numericDate(d, name, &c.NotBefore)
	case "iat":
		return c.numericDate(d, name, &c.IssuedAt)
	case "aud":
		if d.PeekKind() == '[' {
			c.note(name, "aud is an array; an Entra access token has exactly one audience")
			return d.SkipValue()
		}
		dst = &c.Audience
	case "scp":
		c.hasScp, dst = true, &c.scp
	case "roles":
		c.hasRoles = true
		return d.SkipValue()
	case "tid":
		dst = &c.TenantID
	case "oid":
		dst = &c.ObjectID
	case "iss":
		dst = &c.Issuer
	case "sub":
		dst = &c.Subject
	case "azp":
		dst = &c.AuthorizedParty
	case "appid":
		dst = &c.appID
	case "ver":
		dst = &c.Version
	case "uti":
		dst = &c.TokenID
	case "email":
		dst = &c.Email
	case "preferred_username":
		dst = &c.PreferredUsername
	case "upn":
		dst = &c.UPN
	case "name":
		dst = &c.Name
	case "given_name":
		dst = &c.GivenName
	case "family_name":
		dst = &c.FamilyName
	default:
		return fmt.Errorf("claim %s is in claimNames but not read", name) // caught by FuzzClaims
	}
	other, err := stringValue(d, dst)
	if other != nil {
		c.note(name, name+" is "+clipJSON(other)+", not a string")
	}
	return err
}

// splitScopes splits scp on U+0020 only, as Entra joins them: a tab or a
// newline is part of a (bogus) scope name, never a separator. It appends to
// dst (Claims' own small array: no allocation for a few scopes).
func splitScopes(scp string, dst []string) []string {
	if scp == "" {
		return nil
	}
	for s := range strings.SplitSeq(scp, " ") {
		if s != "" {
			dst = append(dst, s)
		}
	}
	return dst
}

// note records a claim of the wrong type, for the check that owns it.
func (c *Claims) note(claim, problem string) {
	if c.bad == nil {
		c.bad = map[string]string{}
	}
	c.bad[claim] = problem
}

// Numeric dates must fall after 2000-01-01 and before the year 10000.
const (
	minNumericDate = 946684800
	maxNumericDate = 253402300800
)

// numericDate reads a JWT NumericDate into *at: a JSON number within the
// sane range. Strings, booleans, 1e300 and negative values are noted as bad.
// Fractions are allowed by RFC 7519 and truncated to the second.
func (c *Claims) numericDate(d *jsontext.Decoder, name string, at *time.Time) error {
	v, err := d.ReadValue()
	switch {
	case err != nil:
		return err
	case v.Kind() != '0':
		c.note(name, name+" is "+clipJSON(v)+", not a JSON number")
		return nil
	}
	f, err := strconv.ParseFloat(string(v), 64)
	if err != nil || f < minNumericDate || f >= maxNumericDate {
		c.note(name, name+" is "+clipJSON(v)+", not a date between 2000 and 9999")
		return nil
	}
	*at = time.Unix(int64(f), 0)
	return nil
}

// maxFactLen clips what an unverified token says before it is logged: it is
// an attacker's words, and a 16 KB tid must not become a 16 KB log line.
const maxFactLen = 64

// unverifiedFacts reads, without trusting them, the few claims that help an
// admin see which tenant and app a token was meant for when its key is not
// in the set. Each is clipped; the result is marked unverified.
func unverifiedFacts(t *token) TokenFacts {
	f := TokenFacts{KeyID: clipFact(t.kid)}
	c, e := decodeClaims(t.payload64)
	if e != nil {
		return f
	}
	f = c.facts(t.kid)
	f.TenantID, f.ObjectID, f.Audience = clipFact(f.TenantID), clipFact(f.ObjectID), clipFact(f.Audience)
	f.AuthorizedParty, f.Issuer, f.Version = clipFact(f.AuthorizedParty), clipFact(f.Issuer), clipFact(f.Version)
	f.KeyID, f.Verified = clipFact(f.KeyID), false
	return f
}

// clipFact shortens a fact to maxFactLen bytes (clipTo).
func clipFact(s string) string { return clipTo(s, maxFactLen) }

// clipTo cuts s to at most max bytes, on a rune boundary, and marks the
// cut: what is clipped is text a host stores as it is (a PostgreSQL text
// column refuses half a rune).
func clipTo(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// facts returns the safe-to-log facts of verified claims c.
func (c *Claims) facts(kid string) TokenFacts {
	f := TokenFacts{KeyID: kid, Verified: true,
		TenantID: c.TenantID, ObjectID: c.ObjectID, Audience: c.Audience,
		AuthorizedParty: c.AuthorizedParty, Issuer: c.Issuer, Version: c.Version}
	if f.AuthorizedParty == "" {
		f.AuthorizedParty = c.appID
	}
	if !c.ExpiresAt.IsZero() {
		f.ExpiresAt = c.ExpiresAt.Unix()
	}
	return f
}
