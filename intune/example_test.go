package intune_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/mamlogin/mamlogin/intune"
	"github.com/mamlogin/mamlogin/intune/intunetest"
)

// A validator for one tenant and server API app. Here the tenant is the fake
// one of intunetest; in production leave Authority empty (the public cloud).
func ExampleNewValidator() {
	tenant := intunetest.NewTenant()
	defer tenant.Close()

	v, err := intune.NewValidator(context.Background(), tenant.Config())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer v.Close()

	claims, err := v.Validate(context.Background(), tenant.Token())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(claims.ObjectID, claims.Scopes)
	// Output: 9f3b7c1e-2a4d-4e6f-8b0a-1c2d3e4f5a6b [login.mattermost]
}

// Failures are *AppError values with the documented ID, status and user
// message; the concrete reason is for the admin's log only.
func ExampleValidator_Validate_expired() {
	tenant := intunetest.NewTenant()
	defer tenant.Close()
	v, _ := intune.NewValidator(context.Background(), tenant.Config())
	defer v.Close()

	_, err := v.Validate(context.Background(), tenant.Token(intunetest.WithClaim("exp", 1700000000)))
	var ae *intune.AppError
	if errors.As(err, &ae) {
		fmt.Println(ae.ID, ae.StatusCode, ae.Retry)
		fmt.Println(ae.Message)
	}
	fmt.Println(errors.Is(err, intune.ErrTokenExpired))
	// Output:
	// ent.intune.validate_token.token_expired.app_error 400 once
	// Your sign in session has expired. Please try signing in again.
	// true
}

func ExampleConfig_Check() {
	cfg := intune.Config{Enable: true, AuthService: intune.AuthServiceSAML, TenantID: "contoso.onmicrosoft.com"}
	fmt.Println(cfg.Check())
	// Output: intune: config TenantID: "contoso.onmicrosoft.com" is not a GUID (the Directory (tenant) ID looks like 72f988bf-86f1-41af-91ab-2d7cd011db47; a domain name is not accepted)
}

func ExampleConfig_ClientConfig() {
	cfg := intune.Config{Enable: true, AuthService: intune.AuthServiceOffice365,
		TenantID: "72f988bf-86f1-41af-91ab-2d7cd011db47", ClientID: "6a1f5c2e-9b7d-4d3e-8f21-0c4b7a9e3d15"}
	cc := cfg.ClientConfig()
	fmt.Println(cc["IntuneMAMEnabled"], cc["IntuneAuthService"], cc["IntuneScope"])
	// Output: true office365 api://6a1f5c2e-9b7d-4d3e-8f21-0c4b7a9e3d15/login.mattermost
}
