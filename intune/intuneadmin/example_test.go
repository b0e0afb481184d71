package intuneadmin_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/mamlogin/mamlogin/intune"
	"github.com/mamlogin/mamlogin/intune/intuneadmin"
	"github.com/mamlogin/mamlogin/intune/intunetest"
)

// The page mounted behind the host's administrator check. The page itself
// authenticates no one: here a toy check stands for the host's own (a
// system-admin session); never mount the page without one.
func Example() {
	tenant := intunetest.NewTenant() // in production: the real tenant
	defer tenant.Close()
	store := intunetest.NewStore() // in production: the host's UserStore
	store.Add(intune.AuthServiceOpenID, intunetest.UserOID, intunetest.Profile{ID: "u1", Username: "alice"})

	cfg := tenant.Config()
	page := &intuneadmin.Page{
		Config:  func() intune.Config { return cfg }, // in a host: loginHandler.Config
		Options: []intune.Option{intune.WithUserStore(store)},
		Logger:  slog.New(slog.DiscardHandler),
	}

	// A toy administrator check. A real host checks the session and role.
	adminOnly := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("X-Toy-Admin") != "yes" {
				http.Error(w, "system administrators only", http.StatusForbidden)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	mux := http.NewServeMux()
	mux.Handle("/admin/intune/test", adminOnly(page))

	ask := func(admin bool, body string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, "/admin/intune/test", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		if admin {
			r.Header.Set("X-Toy-Admin", "yes")
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		return w
	}

	fmt.Println(ask(false, `{"token": "`+tenant.Token()+`"}`).Code)

	var res intuneadmin.Result
	_ = json.Unmarshal(ask(true, `{"token": "`+tenant.Token()+`"}`).Body.Bytes(), &res)
	fmt.Printf("verdict %q: %s\n", res.Verdict, res.Summary)

	res = intuneadmin.Result{}
	_ = json.Unmarshal(ask(true, `{"token": "`+tenant.Token(intunetest.WithClaim("aud", "api://someone-else"))+`"}`).Body.Bytes(), &res)
	fmt.Printf("verdict %q, check %s\n", res.Verdict, res.FailedCheck)
	// Output:
	// 403
	// verdict "": This token would sign in as user u1 (username alice) (objectId 9f3b7c1e-2a4d-4e6f-8b0a-1c2d3e4f5a6b, provider openid).
	// verdict "ent.intune.validate_token.invalid_token.app_error", check audience
}
