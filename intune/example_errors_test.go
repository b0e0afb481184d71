package intune_test

import (
	"fmt"

	"github.com/mamlogin/mamlogin/intune"
)

// Every row a sign-in can be answered with, for a dashboard's legend or an
// alert's list of IDs: the documented catalog, then the host's own rows.
func ExampleRows() {
	documented := len(intune.Catalog())
	for i, e := range intune.Rows() {
		if i == documented {
			fmt.Println("host rows:")
		}
		if e.StatusCode >= 500 {
			fmt.Println(e.StatusCode, e.ID)
		}
	}
	// Output:
	// 501 api.user.login_by_intune.not_available.app_error
	// 500 ent.intune.validate_token.jwks_init.app_error
	// host rows:
	// 500 ent.intune.login.store_failed.app_error
	// 500 ent.intune.login.session_failed.app_error
	// 503 ent.intune.login.not_ready.app_error
}
