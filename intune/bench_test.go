package intune_test

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mamlogin/mamlogin/intune"
	"github.com/mamlogin/mamlogin/intune/intunetest"
)

// BenchmarkValidate and BenchmarkFloorRSAVerify run on the same token, so the
// ratio of their ns/op is read from one run:
//
//	go test -run '^$' -bench 'Validate|Floor' ./intune/
func BenchmarkValidate(b *testing.B) {
	tenant := newTenant(b)
	v := newValidator(b, tenant.Config())
	tok := tenant.Token()
	ctx := b.Context()
	if _, err := v.Validate(ctx, tok); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Validate(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidateParallel(b *testing.B) {
	tenant := newTenant(b)
	v := newValidator(b, tenant.Config())
	tok := tenant.Token()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := v.Validate(b.Context(), tok); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkFloorRSAVerify is the physical floor: base64url-decode the
// signature, SHA-256 the signing input, rsa.VerifyPKCS1v15 with a pre-parsed
// key. No header, no claims, no key lookup.
func BenchmarkFloorRSAVerify(b *testing.B) {
	tenant := newTenant(b)
	tok := tenant.Token()
	pub := &tenant.SigningKey().Private.PublicKey
	b.ReportAllocs()
	for b.Loop() {
		i := strings.LastIndexByte(tok, '.')
		sig, err := base64.RawURLEncoding.DecodeString(tok[i+1:])
		if err != nil {
			b.Fatal(err)
		}
		h := sha256.Sum256([]byte(tok[:i]))
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, h[:], sig); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkValidateRejectUnknownKID: the cost of a token naming a key the set
// does not hold, once the refresh it may trigger is rate-limited.
func BenchmarkValidateRejectUnknownKID(b *testing.B) {
	tenant := newTenant(b)
	v := newValidator(b, tenant.Config())
	tok := tenant.Token(intunetest.WithHeader("kid", "not-a-key-of-this-tenant"))
	_, _ = v.Validate(b.Context(), tok) // the one allowed refresh
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Validate(b.Context(), tok); err == nil {
			b.Fatal("accepted")
		}
	}
}

// BenchmarkSignIn is the handler end to end (body parse, Validate, in-memory
// store lookup and sync, session, JSON response) for an existing user.
// Compare with BenchmarkFloorRSAVerify; sign-ins per second = 1e9 / ns/op
// per core.
func BenchmarkSignIn(b *testing.B) {
	tenant := newTenant(b)
	cfg := tenant.Config()
	v := newValidator(b, cfg)
	store := intunetest.NewStore()
	store.Add(cfg.AuthService, intunetest.UserOID, intunetest.Profile{Username: "alice"})
	h := intune.NewLoginHandler(cfg, v, store, &intunetest.Sessions{}, intune.WithLogger(quiet))
	body := appBody(tenant.Token())
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/oauth/intune", strings.NewReader(body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code, rec.Body.String())
		}
	}
}
