package intune

import (
	"fmt"
	"strings"
	"time"
)

// Claims are the verified claims of an Entra v2 access token that sign-in
// uses. Times are zero when the claim is absent.
type Claims struct {
	ObjectID, TenantID, Subject, Issuer, Audience, AuthorizedParty, Version, TokenID string
	Scopes                                                                           []string
	Email, PreferredUsername, UPN, Name, GivenName, FamilyName                       string
	IssuedAt, NotBefore, ExpiresAt                                                   time.Time

	// bad records claims present with the wrong JSON type, for the check
	// that owns them to report. nil when there are none.
	bad map[string]string
	// present records which checked claims were present at all.
	hasTID, hasOID, hasScp bool
	scp, roles             string
	appID                  string // v1's azp
}

// decodeClaims reads the payload (base64url JSON object) strictly: duplicate
// or non-object payloads fail outright; a claim of the wrong type is noted
// for its check.
func decodeClaims(payload64 string) (*Claims, *AppError) {
	p, err := b64.DecodeString(payload64)
	if err != nil {
		return nil, ErrInvalidToken.because("payload is not base64url: %v", err)
	}
	c := &Claims{}
	err = eachMember(p, func(name string, v []byte) error {
		var dst *string
		switch name {
		case "exp", "nbf", "iat":
			d, err := numericDate(v)
			if err != nil {
				c.note(name, err.Error())
				return nil
			}
			t := time.Unix(d, 0)
			switch name {
			case "exp":
				c.ExpiresAt = t
			case "nbf":
				c.NotBefore = t
			default:
				c.IssuedAt = t
			}
			return nil
		case "aud":
			if len(v) > 0 && v[0] == '[' {
				c.note("aud", "aud is an array; an Entra access token has exactly one audience")
				return nil
			}
			dst = &c.Audience
		case "tid":
			c.hasTID, dst = true, &c.TenantID
		case "oid":
			c.hasOID, dst = true, &c.ObjectID
		case "scp":
			c.hasScp, dst = true, &c.scp
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
		case "roles":
			c.roles = "present"
			return nil
		default:
			return nil // claims sign-in does not use
		}
		if len(v) == 0 || v[0] != '"' {
			c.note(name, fmt.Sprintf("%s is %s, not a string", name, clip(v)))
			return nil
		}
		s, err := unquote(v)
		if err != nil {
			return err
		}
		*dst = s
		return nil
	})
	if err != nil {
		return nil, ErrInvalidToken.because("payload: %v", err)
	}
	if c.scp != "" {
		c.Scopes = strings.Fields(c.scp)
	}
	return c, nil
}

func (c *Claims) note(claim, problem string) {
	if c.bad == nil {
		c.bad = map[string]string{}
	}
	c.bad[claim] = problem
}

// facts returns the safe-to-log facts of c.
func (c *Claims) facts(kid string) TokenFacts {
	f := TokenFacts{KeyID: kid}
	if c != nil {
		f.TenantID, f.ObjectID, f.Audience, f.AuthorizedParty, f.Issuer, f.Version =
			c.TenantID, c.ObjectID, c.Audience, c.AuthorizedParty, c.Issuer, c.Version
		if f.AuthorizedParty == "" {
			f.AuthorizedParty = c.appID
		}
		if !c.ExpiresAt.IsZero() {
			f.ExpiresAt = c.ExpiresAt.Unix()
		}
	}
	return f
}
