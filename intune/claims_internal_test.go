package intune

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// entraPayload is an Entra-shaped v2 access token payload; with groups, one
// with 285 groups (the largest token Validate reads).
func entraPayload(groups int) string {
	p := `{"aud":"6a1f5c2e-9b7d-4d3e-8f21-0c4b7a9e3d15","iss":"https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0","iat":1795500000,"nbf":1795500000,"exp":1795504500,"aio":"AWQAm/8YAAAAmBx8x4gqt0T0Bx9ZkJnsQ7R2GDoYpUfh+Zzn5hgIrVBMy0rFs7nHmPZaW3d1xAu/7oE8D3gxC9aODvUOvL2Aam+fMEg==","azp":"64e9952b-20eb-46dc-92ad-99089ed24903","azpacr":"0","email":"alice@contoso.onmicrosoft.com","name":"Alice Wonderland","oid":"9f3b7c1e-2a4d-4e6f-8b0a-1c2d3e4f5a6b","preferred_username":"alice@contoso.onmicrosoft.com","rh":"1.AXkAv4j5cvGGr0GRqy180BHbRy5cH2p9m02Pjz8hDEt6nj0VAHR5AA.","scp":"login.mattermost","sid":"001e6c3a-6b5d-4f2a-9c1b-7d8e9f0a1b2c","sub":"AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ","tid":"72f988bf-86f1-41af-91ab-2d7cd011db47","uti":"AbCdEfGhIjKlMnOpQrStUv","ver":"2.0"}`
	if groups == 0 {
		return p
	}
	g := make([]string, groups)
	for i := range g {
		g[i] = fmt.Sprintf(`"%08x-1c3e-4f5a-8b7c-6d5e4f3a2b1c"`, i)
	}
	return p[:len(p)-1] + `,"groups":[` + strings.Join(g, ",") + `]}`
}

// BenchmarkDecodeClaims: reading the claims of a verified token.
func BenchmarkDecodeClaims(b *testing.B) {
	for _, n := range []int{0, 285} {
		p64 := base64.RawURLEncoding.EncodeToString([]byte(entraPayload(n)))
		b.Run(fmt.Sprintf("groups=%d", n), func(b *testing.B) {
			b.SetBytes(int64(len(p64)))
			b.ReportAllocs()
			for b.Loop() {
				if _, e := decodeClaims(p64); e != nil {
					b.Fatal(e)
				}
			}
		})
	}
}

// FuzzClaims is the differential test of the claims reader: on every
// payload encoding/json reads as one valid UTF-8 object with no name twice
// (at any depth), decodeClaims accepts it and reads each claim as
// encoding/json does (a claim of the wrong type noted, not read); and it
// accepts nothing else. Seeds: testdata/fuzz/claims.
//
//	go test -run '^$' -fuzz FuzzClaims -fuzztime 30s ./intune/
func FuzzClaims(f *testing.F) {
	files, err := filepath.Glob("../testdata/fuzz/claims/*")
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds in testdata/fuzz/claims: %v", err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(entraPayload(3)))
	f.Fuzz(func(t *testing.T, payload []byte) {
		got, e := decodeClaims(base64.RawURLEncoding.EncodeToString(payload))
		want, ok := referenceClaims(payload)
		switch {
		case e != nil && ok && !loneSurrogate.Match(payload):
			// encoding/json turns an escaped lone surrogate into U+FFFD;
			// here it is invalid UTF-8, refused like the unescaped kind.
			t.Fatalf("refused what encoding/json reads (%v): %q", e, payload)
		case e != nil:
			return
		case !ok:
			t.Fatalf("accepted what encoding/json refuses, or a repeated name: %q", payload)
		}
		// Scopes are derived from scp (splitScopes) and compared as scp;
		// what is wrong with a claim is compared by name, not text.
		got.Scopes, got.scopes = nil, [4]string{}
		for name := range got.bad {
			got.bad[name] = "?"
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("claims differ on %q:\n got %+v\nwant %+v", payload, got, want)
		}
	})
}

var loneSurrogate = regexp.MustCompile(`\\u[dD][89abcdefABCDEF]`)

// referenceClaims is what encoding/json reads of payload, with the rules
// readObject adds (one object, valid UTF-8, no name twice at any depth),
// mapped to Claims as claims.go documents it.
func referenceClaims(payload []byte) (*Claims, bool) {
	names := json.NewDecoder(bytes.NewReader(payload))
	names.UseNumber() // a number beyond float64 (1e700) is valid JSON: Token must not refuse it
	if !json.Valid(payload) || !utf8.Valid(payload) || !noRepeatedNames(names) {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || m == nil {
		return nil, false // not an object
	}
	c := &Claims{}
	str := map[string]*string{"aud": &c.Audience, "scp": &c.scp, "tid": &c.TenantID, "oid": &c.ObjectID,
		"iss": &c.Issuer, "sub": &c.Subject, "azp": &c.AuthorizedParty, "appid": &c.appID, "ver": &c.Version,
		"uti": &c.TokenID, "email": &c.Email, "preferred_username": &c.PreferredUsername, "upn": &c.UPN,
		"name": &c.Name, "given_name": &c.GivenName, "family_name": &c.FamilyName}
	dates := map[string]*time.Time{"exp": &c.ExpiresAt, "nbf": &c.NotBefore, "iat": &c.IssuedAt}
	bad := func(name string) {
		if c.bad == nil {
			c.bad = map[string]string{}
		}
		c.bad[name] = "?"
	}
	for name, v := range m {
		switch dst, isStr := str[name]; {
		case isStr:
			if s, ok := v.(string); ok {
				*dst = s
			} else {
				bad(name)
			}
		case dates[name] != nil:
			n, ok := v.(json.Number)
			f, err := strconv.ParseFloat(string(n), 64)
			if !ok || err != nil || f < minNumericDate || f >= maxNumericDate {
				bad(name)
			} else {
				*dates[name] = time.Unix(int64(f), 0)
			}
		}
	}
	_, c.hasScp = m["scp"]
	_, c.hasRoles = m["roles"]
	return c, true
}

// noRepeatedNames walks one value of dec and reports whether no object in
// it repeats a name.
func noRepeatedNames(dec *json.Decoder) bool {
	tok, err := dec.Token()
	if err != nil {
		return false
	}
	switch tok {
	case json.Delim('{'):
		seen := map[string]bool{}
		for dec.More() {
			name, err := dec.Token()
			if err != nil || seen[name.(string)] {
				return false
			}
			seen[name.(string)] = true
			if !noRepeatedNames(dec) {
				return false
			}
		}
		_, err = dec.Token()
	case json.Delim('['):
		for dec.More() {
			if !noRepeatedNames(dec) {
				return false
			}
		}
		_, err = dec.Token()
	}
	return err == nil
}
