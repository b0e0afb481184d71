package intunetest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mamlogin/mamlogin/intune"
	"github.com/mamlogin/mamlogin/intune/intunetest"
)

func TestAppLoginRequestIsTheAppsWireFormat(t *testing.T) {
	req := intunetest.NewAppLogin("eyJ.a.b").Request(t.Context(), "http://chat.example.com/oauth/intune")
	assert.Equal(t, http.MethodPost, req.Method)
	assert.Equal(t, "/oauth/intune", req.URL.Path)
	assert.Equal(t, http.Header{
		"Content-Type":     {"application/json"},
		"Accept":           {"application/json"},
		"X-Requested-With": {"XMLHttpRequest"},
		"Cache-Control":    {"no-store"},
		"User-Agent":       {intunetest.AppUserAgent},
	}, req.Header)
	assert.Regexp(t, `^Mattermost Mobile/\d+\.\d+\.\d+\+\d+ \(iOS; [\d.]+; [^;)]+\)$`, intunetest.AppUserAgent)
	body, err := io.ReadAll(req.Body)
	require.NoError(t, err)
	assert.JSONEq(t, `{"device_id":"`+intunetest.AppDeviceID+`","voip_device_id":"","access_token":"eyJ.a.b"}`, string(body))
	assert.Equal(t, string(body), intunetest.NewAppLogin("eyJ.a.b").JSON())
	// Sent to a real server, GetBody lets a redirect or retry resend it.
	require.NotNil(t, req.GetBody)

	assert.Panics(t, func() { intunetest.NewAppLogin("x").Request(t.Context(), "http://[::1") })
}

func TestDecodeAppError(t *testing.T) {
	row := *intune.ErrTokenExpired
	row.RequestID = "req-1"
	catalog, err := json.Marshal(&row)
	require.NoError(t, err)
	tests := []struct {
		name string
		body string
		want intunetest.AppErrorBody
		err  string
	}{
		{"the library's answer", string(catalog), intunetest.AppErrorBody{ID: intune.ErrTokenExpired.ID, Message: intune.ErrTokenExpired.Message,
			RequestID: "req-1", StatusCode: intune.ErrTokenExpired.StatusCode}, ""},
		{"a success's user JSON", `{"id":"u1","username":"alice"}`, intunetest.AppErrorBody{}, "no id or status_code"},
		{"a proxy's error page", `<html>502 Bad Gateway</html>`, intunetest.AppErrorBody{}, "not an app_error body"},
		{"a status that is not a number", `{"id":"x","status_code":"401"}`, intunetest.AppErrorBody{}, "not an app_error body"},
		{"two values", `{"id":"x","status_code":401}{}`, intunetest.AppErrorBody{}, "not an app_error body"},
		// The app reads the exact names, once each, and shows message.
		{"names in another case", `{"ID":"x","Status_Code":400,"message":"m"}`, intunetest.AppErrorBody{}, "no id or status_code"},
		{"a repeated id", `{"id":"x","id":"y","status_code":400,"message":"m"}`, intunetest.AppErrorBody{}, "duplicate"},
		{"a null message", `{"id":"x","status_code":400,"message":null}`, intunetest.AppErrorBody{}, "message is not a string"},
		{"no message", `{"id":"x","status_code":400}`, intunetest.AppErrorBody{}, "message is not a string"},
		{"a null id", `{"id":null,"status_code":400,"message":"m"}`, intunetest.AppErrorBody{}, "no id or status_code"},
		{"a null status_code", `{"id":"x","status_code":null,"message":"m"}`, intunetest.AppErrorBody{}, "no id or status_code"},
		{"the least the app reads", `{"id":"x","status_code":400,"message":""}`, intunetest.AppErrorBody{ID: "x", StatusCode: 400}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := intunetest.DecodeAppError([]byte(tc.body))
			if tc.err != "" {
				assert.ErrorContains(t, err, tc.err)
			} else {
				assert.NoError(t, err)
			}
			assert.Equal(t, tc.want, got)
		})
	}
}
