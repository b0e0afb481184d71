package intune_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/mamlogin/mamlogin/intune"
	"github.com/mamlogin/mamlogin/intune/intunetest"
)

// The shipping app shows a failed sign-in's message with a Try again
// button, and an empty one as "Response with status code N": give the
// catalog's silent rows the real server's text.
func ExampleWithMessages() {
	realServersWords := func(_ *http.Request, id, english string) string {
		if english != "" {
			return "" // keep the documented text (or translate it)
		}
		switch id {
		case intune.ErrNotConfigured.ID, intune.ErrProviderNotConfigured.ID:
			return "Microsoft Intune authentication is not configured."
		case intune.ErrNotAvailable.ID:
			return "Microsoft Intune authentication is not available on this server."
		}
		return ""
	}
	// Intune switched off: the not_configured row, silent in the catalog.
	h := intune.NewLoginHandler(intune.Config{}, nil, intunetest.NewStore(), &intunetest.Sessions{},
		intune.WithMessages(realServersWords), intune.WithLogger(slog.New(slog.DiscardHandler)))
	defer h.Close()

	req := httptest.NewRequest(http.MethodPost, "/oauth/intune", strings.NewReader(`{"access_token":"x.y.z"}`))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var body struct{ ID, Message string }
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	fmt.Println(rec.Code, body.ID)
	fmt.Println(body.Message)
	// Output:
	// 400 api.user.login_by_intune.not_configured.app_error
	// Microsoft Intune authentication is not configured.
}
