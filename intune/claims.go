package intune

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/mamlogin/mamlogin/internal/strictjson"
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
// pass: duplicate or non-object payloads fail outright; a claim of the wrong
// type is noted for its step. Strings alias the decoded payload.
func decodeClaims(payload64 string) (*Claims, *AppError) {
	c := &Claims{}
	if e := c.decode(payload64); e != nil {
		return nil, e
	}
	return c, nil
}

// decode is decodeClaims into c (see token.parse).
func (c *Claims) decode(payload64 string) *AppError {
	buf := payloadBuffers.Get().(*[]byte)
	defer payloadBuffers.Put(buf)
	p := (*buf)[:b64.DecodedLen(len(payload64))]
	n, err := b64.Decode(p, unsafe.Slice(unsafe.StringData(payload64), len(payload64))) // read only: no copy
	if err != nil {
		return ErrInvalidToken.because("payload: %v", badByte{payload64, err})
	}
	// The claims alias the pooled buffer until keep copies them out, below.
	err = strictjson.Each(decoded(p[:n]), func(name string, v strictjson.Value) error {
		var dst *string
		switch name {
		case "exp":
			c.ExpiresAt = c.numericDate(name, v)
			return nil
		case "nbf":
			c.NotBefore = c.numericDate(name, v)
			return nil
		case "iat":
			c.IssuedAt = c.numericDate(name, v)
			return nil
		case "aud":
			if v.Kind == strictjson.Array {
				c.note("aud", "aud is an array; an Entra access token has exactly one audience")
				return nil
			}
			dst = &c.Audience
		case "scp":
			c.hasScp, dst = true, &c.scp
		case "roles":
			c.hasRoles = true
			return nil
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
			return nil // claims sign-in does not use
		}
		s, ok := v.Str()
		if !ok {
			c.note(name, fmt.Sprintf("%s is %s, not a string", name, strictjson.Clip(v.Raw)))
			return nil
		}
		*dst = s
		return nil
	})
	if err != nil {
		// Formatted now: err may quote the pooled buffer, which the next token overwrites.
		return ErrInvalidToken.becauseText("payload: " + err.Error())
	}
	c.keep()
	c.Scopes = splitScopes(c.scp, c.scopes[:0])
	return nil
}

// payloadBuffers hold decoded payloads while they are read: a large token's
// payload (12 KB of groups) is read once and mostly thrown away, so only the
// claims kept are copied out (keep), and the buffer serves the next token.
var payloadBuffers = sync.Pool{New: func() any {
	b := make([]byte, base64.RawURLEncoding.DecodedLen(MaxTokenBytes))
	return &b
}}

// keep copies the string claims out of the pooled payload into one
// allocation of their own.
func (c *Claims) keep() {
	fields := [...]*string{&c.ObjectID, &c.TenantID, &c.Subject, &c.Issuer, &c.Audience, &c.AuthorizedParty,
		&c.Version, &c.TokenID, &c.Email, &c.PreferredUsername, &c.UPN, &c.Name, &c.GivenName, &c.FamilyName,
		&c.scp, &c.appID}
	total := 0
	for _, f := range fields {
		total += len(*f)
	}
	arena := make([]byte, 0, total)
	for _, f := range fields {
		start := len(arena)
		arena = append(arena, *f...)
		*f = decoded(arena[start:len(arena):len(arena)])
	}
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

// note records a claim of the wrong type. The name is cloned: it may be a
// view into the pooled payload buffer, which the next token overwrites.
func (c *Claims) note(claim, problem string) {
	if c.bad == nil {
		c.bad = map[string]string{}
	}
	c.bad[strings.Clone(claim)] = problem
}

// Numeric dates must fall after 2000-01-01 and before the year 10000.
const (
	minNumericDate = 946684800
	maxNumericDate = 253402300800
)

// numericDate decodes a JWT NumericDate: a JSON number within the sane range.
// Strings, booleans, 1e300 and negative values are noted as bad. Fractions
// are allowed by RFC 7519 and truncated to the second.
func (c *Claims) numericDate(name string, v strictjson.Value) time.Time {
	if v.Kind != strictjson.Number {
		c.note(name, fmt.Sprintf("%s is %s, not a JSON number", name, strictjson.Clip(v.Raw)))
		return time.Time{}
	}
	f, err := strconv.ParseFloat(v.Raw, 64)
	if err != nil || f < minNumericDate || f >= maxNumericDate {
		c.note(name, fmt.Sprintf("%s is %s, not a date between 2000 and 9999", name, strictjson.Clip(v.Raw)))
		return time.Time{}
	}
	return time.Unix(int64(f), 0)
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

func clipFact(s string) string {
	if len(s) > maxFactLen {
		return s[:maxFactLen] + "..."
	}
	return s
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
