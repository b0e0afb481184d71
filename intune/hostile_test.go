package intune_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"

	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mamlogin/mamlogin/intune"
	it "github.com/mamlogin/mamlogin/intune/intunetest"
)

var enc = base64.RawURLEncoding

// rawToken signs header and payload JSON exactly as given with the tenant's key.
func rawToken(tenant *it.Tenant, header, payload string) string {
	return it.SignRaw([]byte(header), []byte(payload), tenant.SigningKey().Private)
}

// payloadJSON is the tenant's default claims as JSON without the braces, to
// splice hostile members into.
func payloadJSON(t *testing.T, tenant *it.Tenant, drop ...string) string {
	t.Helper()
	tok := tenant.Token(func() []it.TokenOption {
		var o []it.TokenOption
		for _, d := range drop {
			o = append(o, it.WithoutClaim(d))
		}
		return o
	}()...)
	b, err := enc.DecodeString(strings.Split(tok, ".")[1])
	require.NoError(t, err)
	return string(b[1 : len(b)-1])
}

// hostileCase is one attack and the answer it must get.
type hostileCase struct {
	name  string
	token string
	want  *intune.AppError // nil: accepted
	why   string
}

// hostileTokens is every attack by name (TestDiagnoseAgreesWithValidate).
func hostileTokens(t *testing.T, tenant *it.Tenant) map[string]string {
	out := map[string]string{}
	for _, c := range hostileCases(t, tenant) {
		out[c.name] = c.token
	}
	return out
}

// TestHostileTokens: every attack of the issue, each with its exact ID.
func TestHostileTokens(t *testing.T) {
	tenant := newTenant(t)
	v := newValidator(t, tenant.Config())
	p := strings.Split(tenant.Token(), ".")
	for _, tt := range hostileCases(t, tenant) {
		t.Run(tt.name, func(t *testing.T) {
			ae := validateAs(t, v, tt.token, tt.want)
			if ae == nil {
				return
			}
			assert.Contains(t, ae.Reason, tt.why)
			assert.NotContains(t, ae.Reason, p[2], "no signature in reasons")
			// A reason is a log line: whatever the token says, it stays short.
			assert.Less(t, len(ae.Reason), 1024, "reason bounded: %.200s", ae.Reason)
			// Facts, clipped or not, are text a host can store as it is.
			f := ae.Facts
			for _, fact := range []string{f.TenantID, f.ObjectID, f.Audience, f.AuthorizedParty, f.KeyID, f.Issuer, f.Version} {
				assert.True(t, utf8.ValidString(fact), "facts are valid UTF-8: %+q", fact)
			}
		})
	}
}

func hostileCases(t *testing.T, tenant *it.Tenant) []hostileCase {
	kid := tenant.SigningKey().ID
	good := tenant.Token()
	p := strings.Split(good, ".")
	hdr := `{"alg":"RS256","kid":"` + kid + `","typ":"JWT"}`
	body := payloadJSON(t, tenant)
	attacker := it.NewKey()
	other := "0d9f2a4b-1c3e-4f5a-8b7c-6d5e4f3a2b1c"

	// HS256 signed with the tenant's RSA public key as the HMAC secret (the
	// classic algorithm-confusion attack), in the two encodings libraries use.
	pubDER, _ := x509.MarshalPKIXPublicKey(&tenant.SigningKey().Private.PublicKey)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	hs := func(secret []byte) string {
		in := enc.EncodeToString([]byte(`{"alg":"HS256","kid":"`+kid+`","typ":"JWT"}`)) + "." + p[1]
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(in))
		return in + "." + enc.EncodeToString(m.Sum(nil))
	}
	withAlg := func(method jwt.SigningMethod, key any, alg string) string {
		tok := jwt.NewWithClaims(method, jwt.MapClaims(tenant.Claims()))
		tok.Header["kid"] = kid
		s, err := tok.SignedString(key)
		require.NoError(t, err, alg)
		return s
	}
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwkHeader := attacker.JWK()
	bigKid := strings.Repeat("A", 10_000)
	bigName := strings.Repeat("N", 5_000)

	return []hostileCase{
		// Algorithms.
		{"alg none", enc.EncodeToString([]byte(`{"alg":"none","kid":"`+kid+`"}`)) + "." + p[1] + ".", intune.ErrInvalidToken, "empty part"},
		{"alg none with signature", enc.EncodeToString([]byte(`{"alg":"none","kid":"`+kid+`"}`)) + "." + p[1] + "." + p[2], intune.ErrInvalidToken, `alg is "none"`},
		{"alg None", rawToken(tenant, `{"alg":"None","kid":"`+kid+`"}`, "{"+body+"}"), intune.ErrInvalidToken, `alg is "None"`},
		{"alg rs256 lower case", rawToken(tenant, `{"alg":"rs256","kid":"`+kid+`"}`, "{"+body+"}"), intune.ErrInvalidToken, "only RS256"},
		{"HS256 with the public key PEM as secret", hs(pubPEM), intune.ErrInvalidToken, `alg is "HS256"`},
		{"HS256 with the public key DER as secret", hs(pubDER), intune.ErrInvalidToken, `alg is "HS256"`},
		{"RS384 by the real key", withAlg(jwt.SigningMethodRS384, tenant.SigningKey().Private, "RS384"), intune.ErrInvalidToken, `alg is "RS384"`},
		{"PS256 by the real key", withAlg(jwt.SigningMethodPS256, tenant.SigningKey().Private, "PS256"), intune.ErrInvalidToken, `alg is "PS256"`},
		{"ES256", withAlg(jwt.SigningMethodES256, ecKey, "ES256"), intune.ErrInvalidToken, `alg is "ES256"`},
		{"alg not a string", rawToken(tenant, `{"alg":["RS256"],"kid":"`+kid+`"}`, "{"+body+"}"), intune.ErrInvalidToken, "not a string"},
		{"alg huge", rawToken(tenant, `{"alg":"`+bigKid+`","kid":"`+kid+`"}`, "{"+body+"}"), intune.ErrInvalidToken, `alg is "AAAA`},
		{"alg an object with a long name twice", rawToken(tenant, `{"alg":{"`+bigName+`":1,"`+bigName+`":2},"kid":"`+kid+`"}`, "{"+body+"}"), intune.ErrInvalidToken, "appears twice"},
		{"x5c an object with a long name twice", rawToken(tenant, `{"alg":"RS256","kid":"`+kid+`","x5c":{"`+bigName+`":1,"`+bigName+`":2}}`, "{"+body+"}"), intune.ErrInvalidToken, "appears twice"},
		{"alg with invalid UTF-8", rawToken(tenant, "{\"alg\":\"RS256\xff\",\"kid\":\""+kid+"\"}", "{"+body+"}"), intune.ErrInvalidToken, "header: not valid JSON: invalid UTF-8"},
		// Key IDs.
		{"kid missing", rawToken(tenant, `{"alg":"RS256"}`, "{"+body+"}"), intune.ErrInvalidToken, "no kid"},
		{"kid empty", rawToken(tenant, `{"alg":"RS256","kid":""}`, "{"+body+"}"), intune.ErrInvalidToken, "no kid"},
		{"kid unknown", tenant.Token(it.WithKey(attacker)), intune.ErrInvalidToken, "not in the key set"},
		{"kid path-like", tenant.Token(it.WithHeader("kid", "../../../../etc/passwd")), intune.ErrInvalidToken, "not in the key set"},
		{"kid URL", tenant.Token(it.WithHeader("kid", "https://attacker.example/keys")), intune.ErrInvalidToken, "not in the key set"},
		{"kid huge", tenant.Token(it.WithHeader("kid", bigKid)), intune.ErrInvalidToken, "10000 bytes"},
		{"kid huge, clipped inside a rune", tenant.Token(it.WithHeader("kid", "a"+strings.Repeat("é", 200))), intune.ErrInvalidToken, "401 bytes"},
		{"unknown kid, tid clipped inside a rune", tenant.Token(it.WithKey(attacker), it.WithClaim("tid", "a"+strings.Repeat("é", 100))), intune.ErrInvalidToken, "not in the key set"},
		{"kid with control byte", tenant.Token(it.WithHeader("kid", "a\u0000b")), intune.ErrInvalidToken, "0x00"},
		{"kid a number", rawToken(tenant, `{"alg":"RS256","kid":42}`, "{"+body+"}"), intune.ErrInvalidToken, "not a string"},
		// Keys and URLs in the header are never used.
		{"jwk header with attacker key", tenant.Token(it.WithKey(attacker), it.WithHeader("jwk", jwkHeader)), intune.ErrInvalidToken, "not in the key set"},
		{"jku header to attacker", tenant.Token(it.WithKey(attacker), it.WithHeader("jku", "https://attacker.example/keys")), intune.ErrInvalidToken, "not in the key set"},
		{"x5u header to attacker", tenant.Token(it.WithKey(attacker), it.WithHeader("x5u", "https://attacker.example/cert")), intune.ErrInvalidToken, "not in the key set"},
		{"jwk header, real kid, attacker signature", tenant.Token(it.WithSignatureFrom(attacker), it.WithHeader("jwk", jwkHeader)), intune.ErrInvalidToken, "does not verify"},
		{"jku on a genuine token is ignored", tenant.Token(it.WithHeader("jku", "https://attacker.example/keys")), nil, ""},
		{"crit unknown", tenant.Token(it.WithHeader("crit", []string{"urn:attacker"})), intune.ErrInvalidToken, "crit"},
		{"crit empty", tenant.Token(it.WithHeader("crit", []string{})), intune.ErrInvalidToken, "crit"},
		// Signatures.
		{"signature stripped", p[0] + "." + p[1] + ".", intune.ErrInvalidToken, "empty part"},
		{"signature truncated", p[0] + "." + p[1] + "." + p[2][:len(p[2])-8], intune.ErrInvalidToken, "signature"},
		{"signature one block short", p[0] + "." + p[1] + "." + p[2][4:], intune.ErrInvalidToken, "bytes, key"},
		{"signature altered", p[0] + "." + p[1] + "." + flip(p[2]), intune.ErrInvalidToken, "does not verify"},
		{"signature of another key, same kid", tenant.Token(it.WithSignatureFrom(attacker)), intune.ErrInvalidToken, "does not verify"},
		{"payload tampered", p[0] + "." + enc.EncodeToString([]byte(strings.Replace(mustDecode(p[1]), it.UserOID, other, 1))) + "." + p[2], intune.ErrInvalidToken, "does not verify"},
		// Shapes and encodings.
		{"two segments", p[0] + "." + p[1], intune.ErrInvalidToken, "2 dot-separated"},
		{"four segments", good + ".x", intune.ErrInvalidToken, "4 dot-separated"},
		{"five segments (JWE)", "a.b.c.d.e", intune.ErrInvalidToken, "5 dot-separated"},
		{"padding", good + "==", intune.ErrInvalidToken, "0x3d"},
		{"padded header", p[0] + "=." + p[1] + "." + p[2], intune.ErrInvalidToken, "0x3d"},
		{"standard base64 characters", strings.NewReplacer("-", "+", "_", "/").Replace(good), intune.ErrInvalidToken, ""},
		{"trailing newline", good + "\n", intune.ErrInvalidToken, "0x0a"},
		{"carriage return inside", p[0] + "." + p[1][:10] + "\r" + p[1][10:] + "." + p[2], intune.ErrInvalidToken, "0x0d"},
		{"leading space", " " + good, intune.ErrInvalidToken, "0x20"},
		{"Bearer prefix", "Bearer " + good, intune.ErrInvalidToken, "0x20"},
		{"quoted", `"` + good + `"`, intune.ErrInvalidToken, "0x22"},
		{"1 MB", strings.Repeat("A", 1<<20), intune.ErrInvalidToken, "over the 16384-byte bound"},
		{"stray bits in last base64 character", p[0] + "." + p[1] + "." + p[2][:len(p[2])-1] + nextChar(p[2][len(p[2])-1]), intune.ErrInvalidToken, "base64"},
		{"header not JSON", enc.EncodeToString([]byte("RS256")) + "." + p[1] + "." + p[2], intune.ErrInvalidToken, "not valid JSON"},
		{"header an array", enc.EncodeToString([]byte(`["RS256"]`)) + "." + p[1] + "." + p[2], intune.ErrInvalidToken, "not a JSON object"},
		{"header deeply nested", rawToken(tenant, `{"alg":"RS256","kid":"`+kid+`","x":`+strings.Repeat("[", 5000)+strings.Repeat("]", 5000)+`}`, "{"+body+"}"), nil, ""},
		// Duplicate and look-alike members: duplicates are rejected, names match exactly.
		{"duplicate kid in header", rawToken(tenant, `{"alg":"RS256","kid":"nope","kid":"`+kid+`"}`, "{"+body+"}"), intune.ErrInvalidToken, `"kid" appears twice`},
		{"duplicate alg in header", rawToken(tenant, `{"alg":"none","alg":"RS256","kid":"`+kid+`"}`, "{"+body+"}"), intune.ErrInvalidToken, "appears twice"},
		{"duplicate tid, wrong first", rawToken(tenant, hdr, `{"tid":"`+other+`",`+body+`}`), intune.ErrInvalidToken, `"tid" appears twice`},
		{"duplicate tid, wrong last", rawToken(tenant, hdr, `{`+body+`,"tid":"`+other+`"}`), intune.ErrInvalidToken, `"tid" appears twice`},
		{"duplicate aud", rawToken(tenant, hdr, `{`+body+`,"aud":"`+other+`"}`), intune.ErrInvalidToken, `"aud" appears twice`},
		{"duplicate oid", rawToken(tenant, hdr, `{`+body+`,"oid":"`+other+`"}`), intune.ErrInvalidToken, `"oid" appears twice`},
		{"escaped duplicate tid", rawToken(tenant, hdr, `{`+body+`,"t\u0069d":"`+other+`"}`), intune.ErrInvalidToken, `"tid" appears twice`},
		{"TID beside tid is not tid", rawToken(tenant, hdr, `{`+payloadJSON(t, tenant, "tid")+`,"tid":"`+other+`","TID":"`+it.TenantID+`"}`), intune.ErrInvalidTenant, other},
		{"only TID", rawToken(tenant, hdr, `{`+payloadJSON(t, tenant, "tid")+`,"TID":"`+it.TenantID+`"}`), intune.ErrMissingClaims, "no tid"},
		{"payload deeply nested claim", rawToken(tenant, hdr, `{`+body+`,"x":`+strings.Repeat("[", 3000)+strings.Repeat("]", 3000)+`}`), nil, ""},
		{"payload not an object", rawToken(tenant, hdr, `["`+it.TenantID+`"]`), intune.ErrInvalidToken, "not a JSON object"},
		{"payload with trailing data", rawToken(tenant, hdr, `{`+body+`}{}`), intune.ErrInvalidToken, "not valid JSON"},
		// Times.
		{"exp as string", tenant.Token(it.WithClaim("exp", "4102444800")), intune.ErrInvalidToken, "not a JSON number"},
		{"exp as float in range", tenant.Token(it.WithClaim("exp", float64(time.Now().Add(time.Hour).Unix())+0.5)), nil, ""},
		{"exp negative", tenant.Token(it.WithClaim("exp", -4102444800)), intune.ErrInvalidToken, "between 2000"},
		{"exp huge", tenant.Token(it.WithClaim("exp", 1e300)), intune.ErrInvalidToken, "between 2000"},
		{"exp beyond 9999", tenant.Token(it.WithClaim("exp", 253402300800)), intune.ErrInvalidToken, "between 2000"},
		{"exp true", tenant.Token(it.WithClaim("exp", true)), intune.ErrInvalidToken, "not a JSON number"},
		{"exp null", tenant.Token(it.WithClaim("exp", nil)), intune.ErrInvalidToken, "not a JSON number"},
		{"nbf as string", tenant.Token(it.WithClaim("nbf", "0")), intune.ErrInvalidToken, "nbf"},
		{"nbf huge", tenant.Token(it.WithClaim("nbf", 1e19)), intune.ErrInvalidToken, "nbf"},
		{"iat negative", tenant.Token(it.WithClaim("iat", -1)), intune.ErrInvalidToken, "iat"},
		{"iat float", tenant.Token(it.WithClaim("iat", 1.7e9)), nil, ""},
		// Identifiers compared exactly.
		{"aud as array", tenant.Token(it.WithClaim("aud", []string{it.ClientID})), intune.ErrInvalidToken, "array"},
		{"tid upper case", tenant.Token(it.WithClaim("tid", strings.ToUpper(it.TenantID))), intune.ErrInvalidTenant, "expected"},
		{"tid trailing space", tenant.Token(it.WithClaim("tid", it.TenantID+" ")), intune.ErrInvalidTenant, "expected"},
		{"aud upper case", tenant.Token(it.WithClaim("aud", strings.ToUpper(it.ClientID))), intune.ErrInvalidToken, "aud is"},
		{"aud trailing space", tenant.Token(it.WithClaim("aud", it.ClientID+" ")), intune.ErrInvalidToken, "aud is"},
		{"aud api URI with slash", tenant.Token(it.WithClaim("aud", "api://"+it.ClientID+"/")), intune.ErrInvalidToken, "aud is"},
		{"oid upper case", tenant.Token(it.WithClaim("oid", strings.ToUpper(it.UserOID))), intune.ErrExtractAuthData, "lower-case GUID"},
		{"oid trailing space", tenant.Token(it.WithClaim("oid", it.UserOID+" ")), intune.ErrExtractAuthData, "lower-case GUID"},
		{"iss trailing slash", tenant.Token(it.WithClaim("iss", tenant.Issuer()+"/")), intune.ErrInvalidToken, "iss is"},
		{"scp with the scope as a substring", tenant.Token(it.WithClaim("scp", "xlogin.mattermost")), intune.ErrInvalidToken, "must contain"},
		// Versions and tenants.
		{"v1 token", tenant.Token(it.WithClaim("ver", "1.0"), it.WithClaim("iss", "https://sts.windows.net/"+it.TenantID+"/"), it.WithClaim("appid", it.MobileClientID), it.WithoutClaim("azp")), intune.ErrExtractAuthData, "v1"},
		{"another tenant, real key of the shared set", tenant.Token(it.WithClaim("tid", other), it.WithClaim("iss", strings.Replace(tenant.Issuer(), it.TenantID, other, 1))), intune.ErrInvalidTenant, other},
	}
}

func flip(s string) string {
	b := []byte(s)
	if b[10] == 'A' {
		b[10] = 'B'
	} else {
		b[10] = 'A'
	}
	return string(b)
}

func mustDecode(s string) string {
	b, err := enc.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// nextChar is a base64url character that differs only in low bits, so that
// a non-strict decoder would read the same bytes.
func nextChar(c byte) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alphabet, c)
	return string(alphabet[i^1])
}
