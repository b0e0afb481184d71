package intunetest_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/mamlogin/mamlogin/intune"
	"github.com/mamlogin/mamlogin/intune/intunetest"
)

// Sign in as the shipping app does, against a real server, and read the
// app_error of a failure as the app reads it.
func ExampleAppLogin() {
	tenant := intunetest.NewTenant()
	defer tenant.Close()
	cfg := tenant.Config()
	v, err := intune.NewValidator(context.Background(), cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer v.Close()
	h := intune.NewLoginHandler(cfg, v, intunetest.NewStore(), &intunetest.Sessions{},
		intune.WithRetryStatus(http.StatusUnauthorized))
	defer h.Close()
	srv := httptest.NewServer(h)
	defer srv.Close()

	post := func(token string) (*http.Response, []byte) {
		resp, err := http.DefaultClient.Do(intunetest.NewAppLogin(token).Request(context.Background(), srv.URL+"/oauth/intune"))
		if err != nil {
			panic(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, body
	}

	resp, _ := post(tenant.Token())
	fmt.Println(resp.StatusCode)

	resp, body := post(tenant.Token(intunetest.WithClaim("aud", "api://someone-else")))
	e, err := intunetest.DecodeAppError(body)
	fmt.Println(resp.StatusCode, e.StatusCode, e.ID, err)
	// Output:
	// 200
	// 401 401 ent.intune.validate_token.invalid_token.app_error <nil>
}
