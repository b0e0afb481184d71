package intune_test

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mamlogin/mamlogin/intune"
	"github.com/mamlogin/mamlogin/intune/intunetest"
)

// BenchmarkValidate and BenchmarkFloorRSAVerify run on the same token, so the
// ratio of their ns/op is read from one run:
//
//	go test -run '^$' -bench 'Validate|Floor' ./intune/
func BenchmarkValidate(b *testing.B) {
	for _, size := range []struct {
		name string
		opts []intunetest.TokenOption
	}{{"1.5KB", nil}, {"16KB", []intunetest.TokenOption{bigToken()}}} {
		b.Run(size.name, func(b *testing.B) {
			tenant := newTenant(b)
			v := newValidator(b, tenant.Config())
			tok := tenant.Token(size.opts...)
			b.Logf("token of %d bytes", len(tok))
			b.Run("Validate", func(b *testing.B) { benchValidate(b, v, tok) })
			b.Run("FloorRSAVerify", func(b *testing.B) { benchFloor(b, tenant, tok) })
		})
	}
}

// bigToken fills the groups claim so that the token is just under
// MaxTokenBytes: the largest token Validate reads (Entra caps groups at 200
// and sends an overage claim beyond, so this is the worst real case).
func bigToken() intunetest.TokenOption {
	groups := make([]string, 0, 300)
	for i := range 285 {
		groups = append(groups, fmt.Sprintf("%08x-1c3e-4f5a-8b7c-6d5e4f3a2b1c", i))
	}
	return intunetest.WithClaim("groups", groups)
}

func benchValidate(b *testing.B, v *intune.Validator, tok string) {
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

// benchFloor is the physical floor: base64url-decode the signature, SHA-256
// the signing input, rsa.VerifyPKCS1v15 with a pre-parsed key. No header, no
// claims, no key lookup.
func benchFloor(b *testing.B, tenant *intunetest.Tenant, tok string) {
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
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code, rec.Body.String())
		}
	}
}

// BenchmarkReject is the cost of answering what is not a sign-in, handler
// end to end: the contract wants rejecting garbage to cost far less than a
// sign-in, so that a flood costs less than the users it competes with.
func BenchmarkReject(b *testing.B) {
	tenant := newTenant(b)
	cfg := tenant.Config()
	v := newValidator(b, cfg)
	h := intune.NewLoginHandler(cfg, v, intunetest.NewStore(), &intunetest.Sessions{}, intune.WithLogger(quiet))
	rogue := intunetest.NewKey()
	for _, tt := range []struct{ name, body string }{
		{"Malformed", appBody("not.a.token")},
		{"UnknownKID", appBody(tenant.Token(intunetest.WithKey(rogue)))},
		{"BadSignature", appBody(tenant.Token(intunetest.WithSignatureFrom(rogue)))},
		{"Expired", appBody(tenant.Token(intunetest.WithExpiry(time.Now().Add(-time.Hour))))},
	} {
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "/oauth/intune", strings.NewReader(tt.body))
				req.Header.Set("Content-Type", "application/json")
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusBadRequest {
					b.Fatal(rec.Code, rec.Body.String())
				}
			}
		})
	}
}
