package intune_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"

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

// memStore is a toy UserStore: a map from objectId to user. A real one is
// a table with a unique constraint on (auth service, objectId); see the
// example server's sqlstore package.
type memStore struct{ users map[string]*intune.User }

func (s *memStore) UserByObjectID(_ context.Context, svc intune.AuthService, oid string) (*intune.User, error) {
	if u, ok := s.users[oid]; ok {
		return u, nil
	}
	return nil, intune.ErrUserNotFound
}

func (s *memStore) CreateUser(_ context.Context, svc intune.AuthService, c *intune.Claims) (*intune.User, error) {
	u := &intune.User{ID: "u-" + c.ObjectID[:8], Profile: map[string]string{
		"id": "u-" + c.ObjectID[:8], "auth_service": string(svc), "email": c.Email}}
	s.users[c.ObjectID] = u
	return u, nil
}

func (s *memStore) SyncUser(_ context.Context, u *intune.User, _ *intune.Claims) (*intune.User, error) {
	return u, nil
}

// tokenSessions is a toy SessionIssuer: the app reads the Token header.
type tokenSessions struct{}

func (tokenSessions) IssueSession(_ context.Context, w http.ResponseWriter, _ *http.Request, s *intune.SignIn) error {
	w.Header().Set("Token", "session-of-"+s.User.ID)
	return nil
}

// The sign-in endpoint, mounted where the shipping app posts, with the
// host's user store and sessions. The first sign-in of an OpenID Connect
// user creates it.
func ExampleNewLoginHandler() {
	tenant := intunetest.NewTenant() // in production: your Config, and no fake tenant
	defer tenant.Close()
	cfg := tenant.Config()
	v, err := intune.NewValidator(context.Background(), cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer v.Close()
	h := intune.NewLoginHandler(cfg, v, &memStore{users: map[string]*intune.User{}}, tokenSessions{},
		intune.WithRetryStatus(http.StatusUnauthorized)) // the shipping app retries only on 401
	defer h.Close()
	mux := http.NewServeMux()
	mux.Handle("POST /oauth/intune", h)
	mux.Handle("POST /api/v4/users/login/intune", h)

	// What the app sends.
	body := `{"device_id":"apple_rn-v2:1234","voip_device_id":"","access_token":"` + tenant.Token() + `"}`
	req := httptest.NewRequest(http.MethodPost, "/oauth/intune", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Requested-With", "XMLHttpRequest")
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	fmt.Println(rec.Code, rec.Header().Get("Token"))
	// Output: 200 session-of-u-9f3b7c1e
}

// Diagnose runs every check on a captured token and says, for each, what
// sign-in would answer and what to do. With the host's store it also says
// who the token signs in as.
func ExampleDiagnose() {
	tenant := intunetest.NewTenant()
	defer tenant.Close()
	cfg := tenant.Config()
	cfg.AuthService = intune.AuthServiceSAML
	store := intunetest.NewStore() // no user yet: SAML never creates one

	r := intune.Diagnose(context.Background(), cfg, tenant.Token(intunetest.WithClaim("scp", "User.Read")),
		intune.WithUserStore(store), intune.WithKeySetLogger(slog.New(slog.DiscardHandler)))
	for _, c := range r.Checks {
		if !c.OK {
			fmt.Println(c.Name, c.ErrorID)
		}
	}
	fmt.Println("sign-in answers", r.Verdict())
	// Output:
	// scope ent.intune.validate_token.invalid_token.app_error
	// user ent.intune.login.account_not_found.app_error
	// sign-in answers ent.intune.validate_token.invalid_token.app_error
}

// A host that loads its configuration after it builds the handler (from a
// database shared by replicas) says so: until the first SetConfig, sign-ins
// are answered not_ready (503, Retry-After), never not_configured.
func ExampleWithConfigPending() {
	tenant := intunetest.NewTenant()
	defer tenant.Close()
	h := intune.NewLoginHandler(intune.Config{}, nil, &memStore{users: map[string]*intune.User{}}, tokenSessions{},
		intune.WithConfigPending(), intune.WithLogger(slog.New(slog.DiscardHandler)))
	defer h.Close()
	signIn := func() {
		body := `{"device_id":"","access_token":"` + tenant.Token() + `"}`
		req := httptest.NewRequest(http.MethodPost, "/oauth/intune", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		fmt.Println(rec.Code, rec.Header().Get("Retry-After"))
	}
	signIn()
	// The stored configuration, loaded: the handler builds its Validator.
	if err := h.SetConfig(context.Background(), tenant.Config()); err != nil {
		fmt.Println(err)
		return
	}
	signIn()
	// Output:
	// 503 1
	// 200
}

// What a Validator enforces, as a copy: amending it changes nothing.
func ExampleValidator_Config() {
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
	cfg.AllowedClientIDs[0] = "changed after the call" // the caller's copy
	got := v.Config()
	got.AllowedClientIDs[1] = "changed on the way out" // another copy
	fmt.Println(v.Config().AllowedClientIDs[0] == intune.MobileClientRelease, v.Config().AllowedClientIDs[1] == intune.MobileClientBeta)
	// Output: true true
}

// heldAddresses is a UserStore that knows which addresses other accounts
// hold, and tells the doctor before a first sign-in meets one.
type heldAddresses struct {
	*intunetest.Store
	held map[string]string // address -> the account holding it
}

func (s heldAddresses) CheckNewUser(_ context.Context, _ intune.AuthService, c *intune.Claims) error {
	if id, ok := s.held[strings.ToLower(c.Email)]; ok {
		return fmt.Errorf("the address %s is held by user %s: %w", c.Email, id, intune.ErrEmailInUse)
	}
	return nil
}

func (s heldAddresses) CreateUser(ctx context.Context, svc intune.AuthService, c *intune.Claims) (*intune.User, error) {
	if err := s.CheckNewUser(ctx, svc, c); err != nil {
		return nil, err
	}
	return s.Store.CreateUser(ctx, svc, c)
}

// A store whose CreateUser refuses some first sign-ins implements
// NewUserChecker, so that the doctor's verdict is what sign-in answers.
func ExampleNewUserChecker() {
	tenant := intunetest.NewTenant()
	defer tenant.Close()
	cfg := tenant.Config() // OpenID Connect: a first sign-in creates the user
	store := heldAddresses{Store: intunetest.NewStore(), held: map[string]string{"alice@contoso.com": "u-alice-password"}}

	r := intune.Diagnose(context.Background(), cfg, tenant.Token(intunetest.WithClaim("email", "Alice@Contoso.com")),
		intune.WithUserStore(store), intune.WithKeySetLogger(slog.New(slog.DiscardHandler)))
	fmt.Println("sign-in answers", r.Verdict())
	// Output:
	// sign-in answers ent.intune.login.email_in_use.app_error
}
