package intuneprom_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mamlogin/mamlogin/intune"
	"github.com/mamlogin/mamlogin/intune/intuneprom"
	"github.com/mamlogin/mamlogin/intune/intunetest"
)

// A host exports sign-in and key-set metrics next to its own. Here the
// tenant is intunetest's fake one and the registry a fresh one; a host
// usually leaves Registerer empty (prometheus.DefaultRegisterer) and serves
// promhttp.Handler() at /metrics.
func Example() {
	tenant := intunetest.NewTenant()
	defer tenant.Close()
	quiet := slog.New(slog.DiscardHandler)

	reg := prometheus.NewRegistry()
	m, err := intuneprom.New(intuneprom.Options{Registerer: reg})
	if err != nil {
		fmt.Println(err)
		return
	}

	// The events arrive on goroutines of package intune. This host's own
	// receivers pass them on, and tell the example when one has been counted.
	counted := make(chan struct{}, 16)
	signIn := func(e intune.SignInEvent) { m.SignIn(e); counted <- struct{}{} }
	keySet := func(e intune.KeySetEvent) { m.KeySet(e); counted <- struct{}{} }

	cfg := tenant.Config()
	v, err := intune.NewValidator(context.Background(), cfg, intune.WithKeySetEvents(keySet), intune.WithKeySetLogger(quiet))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer v.Close()
	h := intune.NewLoginHandler(cfg, v, intunetest.NewStore(), &intunetest.Sessions{},
		intune.WithEvents(signIn), intune.WithLogger(quiet),
		intune.WithValidatorOptions(intune.WithKeySetEvents(m.KeySet)))
	defer h.Close()
	<-counted // the start-up fetch of the key set

	for _, token := range []string{tenant.Token(), tenant.Token(intunetest.WithClaim("exp", 1700000000))} {
		body := strings.NewReader(`{"device_id":"","access_token":"` + token + `"}`)
		req := httptest.NewRequest(http.MethodPost, "/oauth/intune", body)
		req.Header.Set("Content-Type", "application/json")
		h.ServeHTTP(httptest.NewRecorder(), req)
		<-counted
	}

	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	text, _ := io.ReadAll(rec.Body)
	for line := range strings.SplitSeq(string(text), "\n") {
		if strings.HasPrefix(line, "intune_signins_total") || strings.HasPrefix(line, "intune_keyset_keys") ||
			strings.HasPrefix(line, `intune_keyset_fetches_total{result="success",trigger="start"}`) {
			fmt.Println(line)
		}
	}
	// Output:
	// intune_keyset_fetches_total{result="success",trigger="start"} 1
	// intune_keyset_keys 1
	// intune_signins_total{outcome="ent.intune.validate_token.token_expired.app_error",provider="openid"} 1
	// intune_signins_total{outcome="success",provider="openid"} 1
}
