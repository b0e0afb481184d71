package intunetest_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/mamlogin/mamlogin/intune"
	"github.com/mamlogin/mamlogin/intune/intunetest"
)

// A token from each build of the shipping app, checked against the
// production allow-list (release and beta): a pull-request build is
// refused, and the next step says which build it is.
func ExampleFromClient() {
	tenant := intunetest.NewTenant()
	defer tenant.Close()
	cfg := tenant.Config()
	cfg.AllowedClientIDs = intune.DefaultAllowedClientIDs()
	v, err := intune.NewValidator(context.Background(), cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer v.Close()

	for _, c := range intune.MobileClients() {
		_, err := v.Validate(context.Background(), tenant.Token(intunetest.FromClient(c.ID)))
		if e, ok := err.(*intune.AppError); ok {
			fmt.Printf("%s: %s; the next step names the build: %v\n", c.Build, e.ID, strings.Contains(e.NextStep(), c.Build+" build"))
			continue
		}
		fmt.Printf("%s: signs in\n", c.Build)
	}
	// Output:
	// release: signs in
	// beta: signs in
	// pull request: ent.intune.validate_token.invalid_token.app_error; the next step names the build: true
}
