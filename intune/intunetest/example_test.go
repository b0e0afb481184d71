package intunetest_test

import (
	"context"
	"fmt"

	"github.com/mamlogin/mamlogin/intune"
	"github.com/mamlogin/mamlogin/intune/intunetest"
)

// A fake Entra tenant on loopback: its Config points a validator at it, and
// Token forges its access tokens, with any claim changed.
func Example() {
	tenant := intunetest.NewTenant()
	defer tenant.Close()
	v, err := intune.NewValidator(context.Background(), tenant.Config())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer v.Close()

	c, err := v.Validate(context.Background(), tenant.Token())
	fmt.Println(c.ObjectID == intunetest.UserOID, err)

	_, err = v.Validate(context.Background(), tenant.Token(intunetest.WithClaim("aud", "api://someone-else")))
	fmt.Println(err.(*intune.AppError).ID)

	// Entra publishes a new key, the validator refreshes (on schedule, or for
	// the first token that names it), then Entra signs with it.
	k := intunetest.NewKey()
	tenant.Publish(k)
	_ = v.RefreshKeys(context.Background())
	tenant.Use(k)
	_, err = v.Validate(context.Background(), tenant.Token())
	fmt.Println(err)
	// Output:
	// true <nil>
	// ent.intune.validate_token.invalid_token.app_error
	// <nil>
}
