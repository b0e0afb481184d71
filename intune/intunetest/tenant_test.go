package intunetest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mamlogin/mamlogin/intune"
	"github.com/mamlogin/mamlogin/intune/intunetest"
)

// TestKeyPEMRoundTrip: a key kept as PEM reads back as the same key, kid
// and certificate; what is not a whole key is refused.
func TestKeyPEMRoundTrip(t *testing.T) {
	k := intunetest.NewKey()
	back, err := intunetest.ParseKeyPEM(k.PEM())
	require.NoError(t, err)
	assert.Equal(t, k.ID, back.ID)
	assert.True(t, k.Private.Equal(back.Private))
	assert.Equal(t, k.JWK(), back.JWK())

	keyOnly, _, _ := strings.Cut(string(k.PEM()), "-----BEGIN CERTIFICATE-----")
	for name, in := range map[string]string{"empty": "", "garbage": "not PEM", "no certificate": keyOnly,
		"no key": "-----BEGIN CERTIFICATE-----" + strings.SplitN(string(k.PEM()), "-----BEGIN CERTIFICATE-----", 2)[1]} {
		_, err := intunetest.ParseKeyPEM([]byte(in))
		assert.Error(t, err, name)
	}
}

// TestTenantWithoutServer: a tenant served by a server of the caller's
// answers each request with the address it was asked at, and a validator
// pointed at that server accepts its tokens.
func TestTenantWithoutServer(t *testing.T) {
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	tenant := intunetest.NewTenant(intunetest.WithoutServer(srv.URL + "/"))
	defer tenant.Close()
	mux.Handle("/", tenant.Handler())
	assert.Equal(t, srv.URL, tenant.URL())

	v, err := intune.NewValidator(t.Context(), tenant.Config())
	require.NoError(t, err)
	defer v.Close()
	c, err := v.Validate(t.Context(), tenant.Token())
	require.NoError(t, err)
	assert.Equal(t, intunetest.UserOID, c.ObjectID)

	// Asked at another name of the same server: that name's URLs.
	other := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	req := httptest.NewRequest(http.MethodGet, other+"/"+strings.ToUpper(tenant.TenantID)+"/v2.0/.well-known/openid-configuration", nil)
	rec := httptest.NewRecorder()
	tenant.Handler().ServeHTTP(rec, req)
	require.Equal(t, http.StatusOK, rec.Code)
	var doc map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &doc))
	assert.Equal(t, other+"/"+tenant.TenantID+"/v2.0", doc["issuer"])
	assert.Equal(t, other+"/"+tenant.TenantID+"/discovery/v2.0/keys", doc["jwks_uri"])

	// Another tenant, as Entra answers it.
	rec = httptest.NewRecorder()
	tenant.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, srv.URL+"/11111111-2222-4333-8444-555555555555/v2.0/.well-known/openid-configuration", nil))
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	assert.Contains(t, rec.Body.String(), `"error":"invalid_tenant"`)
}

// A dev server that is its own fake authority: the tenant's key kept across
// runs as PEM, its documents served on the server's own mux.
func ExampleWithoutServer() {
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()

	kept := intunetest.NewKey().PEM() // stored where the dev server keeps its data
	k, err := intunetest.ParseKeyPEM(kept)
	if err != nil {
		fmt.Println(err)
		return
	}
	tenant := intunetest.NewTenant(intunetest.WithSigningKey(k), intunetest.WithoutServer(srv.URL))
	mux.Handle("GET /{tenant}/v2.0/.well-known/openid-configuration", tenant.Handler())
	mux.Handle("GET /{tenant}/discovery/v2.0/keys", tenant.Handler())

	v, err := intune.NewValidator(context.Background(), tenant.Config())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer v.Close()
	_, err = v.Validate(context.Background(), tenant.Token())
	fmt.Println(err)
	// Output: <nil>
}
