package intune

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/MicahParks/keyfunc/v3"

	"github.com/mamlogin/mamlogin/internal/jwkscache"
)

// The names of the checks, in the order they run: Validate stops at the
// first that fails, Diagnose runs them all and reports each. The order is
// written once, in steps below.
const (
	CheckConfig    = "config"     // the configuration is complete and well formed
	CheckKeySet    = "keyset"     // the tenant's key set has been fetched
	CheckFormat    = "format"     // a compact JWS within bounds, its header strict JSON
	CheckAlgorithm = "algorithm"  // alg is RS256
	CheckKey       = "key"        // kid names a key of the tenant's key set
	CheckSignature = "signature"  // the RS256 signature verifies with that key
	CheckExpiry    = "expiry"     // exp present and not past
	CheckNotBefore = "not_before" // nbf and iat not in the future
	CheckTenant    = "tenant"     // tid is the configured tenant
	CheckVersion   = "version"    // a v2 token
	CheckIssuer    = "issuer"     // iss is the tenant's v2 issuer, and the key is bound to it
	CheckAudience  = "audience"   // aud is the server API app
	CheckScope     = "scope"      // scp holds login.mattermost
	CheckClient    = "client"     // azp is an allowed mobile app, when a list is configured
	CheckObjectID  = "object_id"  // oid present and a GUID

	// CheckUser is Diagnose's last check when given WithUserStore: the user
	// this token would sign in as, as the login handler would resolve it.
	CheckUser = "user"
)

// check is one row of the table: run returns what the check found (the
// Detail of Diagnose's report; found writes it only for Diagnose) or why it
// failed. A check whose input an earlier check could not give (no key set,
// no parsed token, no key, no claims) returns notRun: Validate never meets
// one, since it stops at the first failure.
type check struct {
	name string
	run  func(v *verifier, a *attempt) (found string, e *AppError)
}

// checks is the order of the checks: a failure decides the answer, so this
// order decides which ID a token with several faults gets (docs/contract.md).
var checks = [...]check{
	{CheckConfig, (*verifier).checkConfig},
	{CheckKeySet, (*verifier).checkKeySet},
	{CheckFormat, (*verifier).checkFormat},
	{CheckAlgorithm, (*verifier).checkAlgorithm},
	{CheckKey, (*verifier).checkKey},
	{CheckSignature, (*verifier).checkSignature},
	{CheckExpiry, (*verifier).checkExpiry},
	{CheckNotBefore, (*verifier).checkNotBefore},
	{CheckTenant, (*verifier).checkTenant},
	{CheckVersion, (*verifier).checkVersion},
	{CheckIssuer, (*verifier).checkIssuer},
	{CheckAudience, (*verifier).checkAudience},
	{CheckScope, (*verifier).checkScope},
	{CheckClient, (*verifier).checkClient},
	{CheckObjectID, (*verifier).checkObjectID},
}

// notRun is what a check returns when what it reads is missing because an
// earlier check failed: Diagnose reports it as not run, with the ID of the
// check that blocked it. It carries no ID of its own and never leaves this
// package (validate fails closed on one).
func notRun(why string) *AppError { return &AppError{Reason: why} }

// found is what a passing check found, written only when Diagnose runs
// the checks: Validate formats nothing for a check that passes.
func (a *attempt) found(detail func() string) string {
	if !a.diagnose {
		return ""
	}
	return detail()
}

// foundInClaims is found for a check of the claims, which are Entra's
// words only once the signature verified.
func (a *attempt) foundInClaims(detail func() string) string {
	s := a.found(detail)
	if s != "" && !a.verified {
		s += " (read unverified: the signature did not verify)"
	}
	return s
}

// token is the parsed token, for the checks that read it.
func (a *attempt) token() (*token, *AppError) {
	if a.tok == nil {
		return nil, notRun("the token could not be parsed")
	}
	return a.tok, nil
}

// claims are the token's claims, decoded the first time a check reads them:
// after the signature verified when Validate runs (it stops at a failure
// before that). A payload that cannot be decoded fails the first check that
// reads it; the checks after it are not run.
func (v *verifier) claims(a *attempt) (*Claims, *AppError) {
	switch {
	case a.claims != nil:
		return a.claims, nil
	case a.tok == nil:
		return nil, notRun("the token could not be parsed")
	case a.payloadErr != nil:
		return nil, notRun("the payload could not be decoded (" + a.payloadErr.Reason + ")")
	}
	c, e := decodeClaims(a.tok.payload64)
	if e != nil {
		a.payloadErr = e
		return nil, e
	}
	a.claims = c
	if a.now.IsZero() {
		a.now = v.now()
	}
	return c, nil
}

// verifier holds what a token is checked against: the expected values
// derived from one Config, and the key source keyfunc resolves kids over.
// A Validator is a verifier over the refreshing key cache; Diagnose builds
// one over the key set of a single fetch.
type verifier struct {
	cfg       Config
	configErr *AppError // why cfg cannot be used; nil for a Validator
	tenant    string    // lower case
	client    string    // lower case
	issuer    string
	cloud     string
	allowAZP  []string
	now       func() time.Time
	keys      jwkscache.Source
	keyfunc   keyfunc.Keyfunc
	report    *keySetReport // counts key misses; nil for Diagnose
}

// attempt is one token going through the steps.
type attempt struct {
	ctx      context.Context
	raw      string
	now      time.Time
	tok      *token
	key      *rsa.PublicKey
	claims   *Claims
	verified bool // the signature verified: the claims are Entra's words
	noKey    bool // the key set holds no key for the token's kid
	diagnose bool // Diagnose runs the checks: passing checks say what they found

	payloadErr *AppError // why the payload could not be decoded

	// tok's storage. The claims have their own allocation, made only for a
	// token whose signature verified: a rejected flood never pays for it.
	tokBuf token
}

// clockSkew is how far behind Entra's clock this server's may be before a
// fresh token fails: Entra sets nbf = iat = the moment of issue, and go-oidc
// and Microsoft's own validator allow 5 minutes.
const clockSkew = 5 * time.Minute

func (v *verifier) checkConfig(a *attempt) (string, *AppError) {
	if v.configErr != nil {
		return "", v.configErr
	}
	return a.found(func() string {
		return fmt.Sprintf("tenant %s, client %s, authority %s, scope %s", v.tenant, v.client, v.cfg.authority(), v.cfg.Scope())
	}), nil
}

func (v *verifier) checkKeySet(a *attempt) (string, *AppError) {
	if v.keys == nil {
		return "", notRun("the configuration is not usable")
	}
	if err := v.keys.Ready(a.ctx); err != nil {
		return "", errJWKSInit.because("%v", err).fixedBy(keySetNextStep(err))
	}
	return a.found(v.keySetFound), nil
}

// keySetFound says what the key set holds, and what its fetch said of
// Entra's clock.
func (v *verifier) keySetFound() string {
	ks, _ := v.keys.KeyReadAll(context.Background())
	s := fmt.Sprintf("%d usable keys", len(ks))
	if st, ok := v.keys.(*jwkscache.Static); ok {
		s += " from " + st.Fetch.URL
		if len(st.Fetch.Skipped) > 0 {
			s += fmt.Sprintf(" (%d skipped: %v)", len(st.Fetch.Skipped), st.Fetch.Skipped)
		}
		s += clockNote(st.Fetch.ClockOffset(), st.Fetch.ServerDate)
	}
	return s
}

// clockNote warns when this server's clock is more than a minute from
// Entra's Date, before any token fails for it.
func clockNote(offset time.Duration, entra time.Time) string {
	switch {
	case entra.IsZero():
		return "; Entra sent no Date: clock offset unknown"
	case offset > maxQuietSkew:
		return fmt.Sprintf("; WARNING: this server's clock is %s behind Entra's (tokens fail at 5m: synchronise it with NTP)", offset)
	case offset < -maxQuietSkew:
		return fmt.Sprintf("; WARNING: this server's clock is %s ahead of Entra's (tokens expire early: synchronise it with NTP)", -offset)
	}
	return "" // within a minute: nothing to say
}

func (v *verifier) checkFormat(a *attempt) (string, *AppError) {
	if e := a.tokBuf.parse(a.raw); e != nil {
		return "", e.fixedBy(fixFormat)
	}
	t := &a.tokBuf
	a.tok = t
	return a.found(func() string {
		// Unverified, the sender's words: clipped as in reasons.
		s := fmt.Sprintf("compact JWS, header alg %q, kid %q", clipFact(t.alg), clipFact(t.kid))
		if len(t.ignored) > 0 {
			s += fmt.Sprintf("; ignored header members %v (keys come only from the tenant's key set)", t.ignored)
		}
		return s
	}), nil
}

// fixFormat is the next step for a token that is not a compact JWS.
const fixFormat = "The client did not post an Entra access token as issued: it must send the bare compact token (three base64url parts; no Bearer prefix, quotes or whitespace) in access_token. Check the client, or a proxy that rewrites request bodies."

// checkAlgorithm pins the algorithm: whatever else the header says, only
// RSASSA-PKCS1-v1_5 with SHA-256 is ever computed.
func (v *verifier) checkAlgorithm(a *attempt) (string, *AppError) {
	t, e := a.token()
	switch {
	case e != nil:
		return "", e
	case t.alg != "RS256":
		return "", errInvalidToken.because("alg is %q, only RS256 is accepted", clipFact(t.alg)) // unverified: the sender's words
	}
	return "alg RS256", nil
}

// checkKey resolves the token's kid through keyfunc, over the key source.
// The kid is bounded first, so that an absurd one never reaches the cache.
func (v *verifier) checkKey(a *attempt) (string, *AppError) {
	t, e := a.token()
	switch {
	case v.keys == nil:
		return "", notRun("the configuration is not usable")
	case e != nil:
		return "", e
	case a.diagnose && v.keys.Ready(a.ctx) != nil: // Validate: the keyset check passed
		return "", notRun("no key set could be fetched")
	}
	kid := t.kid
	switch {
	case kid == "":
		return "", errInvalidToken.because("header has no kid")
	case len(kid) > jwkscache.MaxKIDLen:
		return "", errInvalidToken.because("kid is %d bytes long; Entra kids are about 27", len(kid))
	}
	for i := 0; i < len(kid); i++ {
		if c := kid[i]; c < 0x21 || c > 0x7e {
			return "", errInvalidToken.because("kid has a byte 0x%02x outside printable ASCII", c)
		}
	}
	// One lookup, through keyfunc over the key source: a kid the set does
	// not hold comes back as the source's *MissError (which refreshes,
	// rate-limited), wrapped by keyfunc.
	key, err := t.resolveKey(v.keyfunc.KeyfuncCtx(a.ctx))
	if err != nil {
		a.noKey = true
		return "", v.missed(err)
	}
	pub, ok := key.(*rsa.PublicKey)
	if !ok { // the key set holds RSA keys only; fail closed all the same
		return "", errInvalidToken.because("key %q is a %T, not an RSA key", kid, key)
	}
	a.key = pub
	return a.found(func() string { return fmt.Sprintf("kid %q is in the tenant's key set", kid) }), nil
}

// missed answers a key that could not be resolved, with the next step that
// fits why.
func (v *verifier) missed(err error) *AppError {
	miss, ok := errors.AsType[*jwkscache.MissError](err)
	if ok && v.report != nil {
		v.report.missed(miss)
	}
	switch {
	case !ok:
		return errInvalidToken.because("key resolution failed: %v", err)
	case miss.Refresh == jwkscache.RefreshFailed:
		return errInvalidToken.becauseText(miss.Error()).fixedBy("The key set could not be refreshed: check that this server reaches the Entra authority over https (proxy, firewall, DNS); the keys held are kept meanwhile.")
	}
	// The reason is the miss's own text, made once (keyfunc's wrapping read
	// it already); the claims-mapping hint is the next step, which the log
	// carries beside it. A flood of unknown kids makes one of these per
	// token, so nothing more is built for it.
	return errInvalidToken.becauseText(miss.Error()).fixedBy(claimsMappingFix)
}

// claimsMappingFix is the next step for a kid the tenant's key set lacks.
const claimsMappingFix = "If the server API app has a claims-mapping policy it signs with its own keys, listed only at the discovery URL with ?appid=<ClientID> (this validator uses it unless JWKSURL is set); a token for another tenant or cloud names keys of that tenant: check Tenant ID and the authority."

// checkSignature verifies RS256 with the resolved key, through golang-jwt.
func (v *verifier) checkSignature(a *attempt) (string, *AppError) {
	t, e := a.token()
	switch {
	case e != nil:
		return "", e
	case a.key == nil:
		return "", notRun("no key to verify with")
	}
	sig, err := b64.DecodeString(t.sig64)
	if err != nil {
		return "", errInvalidToken.because("signature: %v", decodeFault(t.Raw, len(t.signingInput)+1, err))
	}
	t.Signature = sig
	if want := a.key.Size(); len(t.Signature) != want {
		return "", errInvalidToken.because("signature is %d bytes, key %q needs %d", len(t.Signature), t.kid, want)
	}
	if err := t.Method.Verify(t.signingInput, t.Signature, a.key); err != nil {
		return "", errInvalidToken.because("signature does not verify with key %q: %v", t.kid, err)
	}
	a.verified = true
	return a.found(func() string { return "RS256 signature verifies with key " + t.kid }), nil
}

func (v *verifier) checkExpiry(a *attempt) (string, *AppError) {
	c, e := v.claims(a)
	switch {
	case e != nil:
		return "", e
	case c.bad["exp"] != "":
		return "", errInvalidToken.because("%s", c.bad["exp"])
	case c.ExpiresAt.IsZero():
		return "", errTokenExpired.because("token has no exp claim")
	case !a.now.Before(c.ExpiresAt.Add(v.cfg.Leeway)):
		return "", errTokenExpired.because("token expired at %s, %s ago (leeway %s, server time %s)",
			c.ExpiresAt.UTC().Format(time.RFC3339), a.now.Sub(c.ExpiresAt).Round(time.Second), v.cfg.Leeway, a.now.UTC().Format(time.RFC3339))
	}
	return a.foundInClaims(func() string {
		return fmt.Sprintf("expires %s (in %s)", c.ExpiresAt.UTC().Format(time.RFC3339), c.ExpiresAt.Sub(a.now).Round(time.Second))
	}), nil
}

// checkNotBefore allows this server's clock to be clockSkew (plus Leeway)
// behind Entra's: a fresh token's nbf and iat are the moment of issue.
func (v *verifier) checkNotBefore(a *attempt) (string, *AppError) {
	c, e := v.claims(a)
	if e != nil {
		return "", e
	}
	for _, claim := range [...]string{"nbf", "iat"} {
		if p, ok := c.bad[claim]; ok {
			return "", errInvalidToken.because("%s", p)
		}
	}
	allowed := a.now.Add(clockSkew + v.cfg.Leeway)
	for _, t := range [...]struct {
		claim string
		at    time.Time
	}{{"nbf", c.NotBefore}, {"iat", c.IssuedAt}} {
		if !t.at.IsZero() && allowed.Before(t.at) {
			return "", errInvalidToken.because("token %s is %s, %s ahead of this server's clock (allowed %s): check the server's clock (NTP)",
				t.claim, t.at.UTC().Format(time.RFC3339), t.at.Sub(a.now).Round(time.Second), clockSkew+v.cfg.Leeway).
				fixedBy("Synchronise this server's clock (NTP): it is behind Entra's by more than the allowance.")
		}
	}
	return a.foundInClaims(func() string {
		if c.NotBefore.IsZero() {
			return "no nbf"
		}
		return "valid since " + c.NotBefore.UTC().Format(time.RFC3339)
	}), nil
}

func (v *verifier) checkTenant(a *attempt) (string, *AppError) {
	c, e := v.claims(a)
	switch {
	case e != nil:
		return "", e
	case c.bad["tid"] != "":
		return "", errInvalidToken.because("%s", c.bad["tid"])
	case c.TenantID == "":
		return "", errMissingClaims.because("token has no tid claim").fixedBy(v2Fix)
	case c.TenantID != v.tenant:
		return "", errInvalidTenant.because("tid is %q, expected the configured Tenant ID %q", c.TenantID, v.tenant)
	}
	return a.foundInClaims(func() string { return "tid " + c.TenantID }), nil
}

const v1Fix = "set accessTokenAcceptedVersion = 2 in the server API app's manifest (api.requestedAccessTokenVersion = 2 in the newer manifest format), then sign in again on the device"

// v2Fix is the next step when a claim every v2 user token carries is missing.
const v2Fix = "Make the server API app issue v2 access tokens (accessTokenAcceptedVersion = 2): they always carry tid and oid, the user's objectId as a GUID."

func (v *verifier) checkVersion(a *attempt) (string, *AppError) {
	c, e := v.claims(a)
	switch {
	case e != nil:
		return "", e
	case c.Version == "1.0" || strings.HasPrefix(c.Issuer, "https://sts.windows.net/"):
		return "", errExtractAuthData.because("token is a v1 access token (ver %q, iss %q); %s", c.Version, c.Issuer, v1Fix).fixedBy("In Entra, " + v1Fix + ".")
	case c.bad["ver"] != "":
		return "", errInvalidToken.because("%s", c.bad["ver"])
	case c.Version != "" && c.Version != "2.0":
		return "", errInvalidToken.because("ver is %q, expected \"2.0\"", c.Version)
	}
	return a.foundInClaims(func() string { return fmt.Sprintf("ver %q (v2 token)", c.Version) }), nil
}

// checkIssuer compares iss, then binds the signing key to it as Microsoft's
// own validator does: a key's issuer (with {tenantid} replaced by tid), where
// present, must be iss, and its cloud, where present, the configured cloud's.
func (v *verifier) checkIssuer(a *attempt) (string, *AppError) {
	c, e := v.claims(a)
	switch {
	case e != nil:
		return "", e
	case c.bad["iss"] != "":
		return "", errInvalidToken.because("%s", c.bad["iss"])
	case c.Issuer != v.issuer:
		return "", errInvalidToken.because("iss is %q, expected %q", c.Issuer, v.issuer)
	}
	found := a.foundInClaims(func() string { return "iss " + c.Issuer })
	if a.key == nil { // Diagnose, when the key could not be resolved
		return found, nil
	}
	kid := a.tok.kid
	issuer, cloud, ok := v.keys.Binding(kid, a.key)
	if !ok {
		return "", errInvalidToken.because("signing key %q left the key set while the token was checked; the next attempt uses the new set", kid)
	}
	if issuer != "" {
		if bound := strings.ReplaceAll(issuer, "{tenantid}", c.TenantID); bound != c.Issuer {
			return "", errInvalidToken.because("signing key %q is bound to issuer %q, the token's iss is %q: that key never signs for this tenant", kid, bound, c.Issuer)
		}
	}
	if cloud != "" && v.cloud != "" && cloud != v.cloud {
		return "", errInvalidToken.because("signing key %q belongs to cloud %q, the configured authority is %q (%s)", kid, cloud, v.cfg.authority(), v.cloud)
	}
	return found, nil
}

// graphAppID is Microsoft Graph: a token for it means the app asked MSAL for
// a Graph scope instead of IntuneScope.
const graphAppID = "00000003-0000-0000-c000-000000000000"

func (v *verifier) checkAudience(a *attempt) (string, *AppError) {
	c, e := v.claims(a)
	switch {
	case e != nil:
		return "", e
	case c.bad["aud"] != "":
		return "", errInvalidToken.because("%s", c.bad["aud"])
	case c.Audience == v.client || c.Audience == "api://"+v.client:
		return a.foundInClaims(func() string { return "aud " + c.Audience }), nil
	}
	hint := "check ClientID: it must be the server API app that exposes login.mattermost"
	if c.Audience == graphAppID || c.Audience == "https://graph.microsoft.com" {
		hint = "the token is for Microsoft Graph: the app requested the wrong scope (it must request " + v.cfg.Scope() + ")"
	}
	return "", errInvalidToken.because("aud is %q, expected %q or %q; %s", c.Audience, v.client, "api://"+v.client, hint).fixedBy(capitalize(hint) + ".")
}

func (v *verifier) checkScope(a *attempt) (string, *AppError) {
	c, e := v.claims(a)
	switch {
	case e != nil:
		return "", e
	case c.bad["scp"] != "":
		return "", errInvalidToken.because("%s", c.bad["scp"])
	case slices.Contains(c.Scopes, scopeName):
		return a.foundInClaims(func() string { return fmt.Sprintf("scp %q", c.scp) }), nil
	case !c.hasScp && c.hasRoles:
		return "", errInvalidToken.because("token has roles and no scp: it is an app-only token, not a user's delegated token")
	}
	return "", errInvalidToken.because("scp is %q, it must contain %q: expose the scope on the server API app, pre-authorize the mobile app and grant admin consent", c.scp, scopeName).
		fixedBy("On the server API app, expose the scope " + scopeName + ", pre-authorize the mobile app's client IDs and grant tenant-wide admin consent.")
}

func (v *verifier) checkClient(a *attempt) (string, *AppError) {
	c, e := v.claims(a)
	switch {
	case e != nil:
		return "", e
	case len(v.allowAZP) == 0:
		return a.foundInClaims(func() string {
			return fmt.Sprintf("azp %q, %s (no allow-list configured)", c.AuthorizedParty, clientOf(c))
		}), nil
	case c.bad["azp"] != "":
		return "", errInvalidToken.because("%s", c.bad["azp"])
	}
	if !slices.Contains(v.allowAZP, c.AuthorizedParty) {
		e := errInvalidToken.because("azp is %q, not one of the allowed mobile client IDs %v", c.AuthorizedParty, v.allowAZP)
		if build := officialClient(c.AuthorizedParty); build != "" {
			// The shipping app itself: the allow-list is what is wrong.
			e = e.fixedBy("The token comes from the official Mattermost app's " + build + " build (client " + c.AuthorizedParty +
				"), which AllowedClientIDs lacks: add it to AllowedClientIDs (the release build is " + MobileClientRelease +
				", the beta " + MobileClientBeta + "), or empty the list to allow any client the tenant pre-authorised.")
		}
		return "", e
	}
	return a.foundInClaims(func() string { return fmt.Sprintf("azp %q, %s, is allowed", c.AuthorizedParty, clientOf(c)) }), nil
}

// clientOf says which client the token is from: one of the official
// Mattermost app's builds, or a client that is not the shipping app (which
// only an empty allow-list lets through: worth the admin's notice).
func clientOf(c *Claims) string {
	if build := officialClient(c.AuthorizedParty); build != "" {
		return "the official Mattermost app's " + build + " build"
	}
	return "not one of the official Mattermost app's clients"
}

func (v *verifier) checkObjectID(a *attempt) (string, *AppError) {
	c, e := v.claims(a)
	if e != nil {
		return "", e
	}
	switch p, bad := c.bad["oid"]; {
	case bad:
		e = errExtractAuthData.because("%s", p)
	case c.ObjectID == "":
		e = errMissingClaims.because("token has no oid claim (or it is empty); v2 tokens for users always carry one")
	case !isCanonicalGUID(c.ObjectID):
		e = errExtractAuthData.because("oid %q is not a lower-case GUID, so it cannot be mapped to objectId", c.ObjectID)
	default:
		return a.foundInClaims(func() string { return "oid " + c.ObjectID }), nil
	}
	e.fix, e.identity = v2Fix, true
	return "", e
}

// validate walks the checks for a (its ctx and raw set) and stops at the
// first failure: the request path. The caller provides a, so that a
// sign-in's one allocation holds it. The payload is decoded by the first
// check of the claims, that is after the signature verified.
func (v *verifier) validate(a *attempt) (*Claims, *AppError) {
	for i := range checks {
		_, e := checks[i].run(v, a)
		if e == nil {
			continue
		}
		if e.ID == "" { // notRun: cannot happen after the checks before passed; fail closed
			e = errInvalidToken.because("check %s could not run: %s", checks[i].name, e.Reason)
		}
		e.Facts = a.facts()
		if a.noKey {
			e.unverified = a.tok
		}
		return nil, e
	}
	a.claims.kid = a.tok.kid
	return a.claims, nil
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// facts is what may be logged of an attempt that failed. Claims are facts
// only once the signature verified. A token whose signature failed says
// nothing but its kid; one whose key was not found is read later, only if
// the failure is logged (readUnverified).
func (a *attempt) facts() TokenFacts {
	switch {
	case a.verified && a.claims != nil:
		return a.claims.facts(a.tok.kid)
	case a.tok == nil:
		return TokenFacts{}
	}
	return TokenFacts{KeyID: clipFact(a.tok.kid)}
}

// readUnverified fills e.Facts, for a token whose key was not found, with
// what it claims (clipped, marked unverified) about the tenant and app it
// was meant for.
func (e *AppError) readUnverified() {
	if e.unverified != nil {
		e.Facts, e.unverified = unverifiedFacts(e.unverified), nil
	}
}
