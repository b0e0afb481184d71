package intune

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzAppendJSONString: the handler's error body writes strings byte for
// byte as encoding/json does (the host's message function may return any
// text), so MarshalJSON and the handler's body cannot differ.
//
//	go test -run '^$' -fuzz FuzzAppendJSONString -fuzztime 30s ./intune/
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", `quote " and \ backslash`, "<b>&amp;</b>", "\b\f\n\r\t\x00\x1f\x7f",
		"é 😀", "\u2028\u2029", "bad \xff utf-8 \xc3", "Ihre Anmeldesitzung ist abgelaufen."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		require.NoError(t, err)
		require.Equal(t, string(want), string(appendJSONString(nil, s)))
	})
}

// TestMarshalJSONIsTheHandlersBody: one writer for the app_error body.
func TestMarshalJSONIsTheHandlersBody(t *testing.T) {
	e := ErrTokenExpired.because("internal")
	e.RequestID = "req-1"
	got, err := e.MarshalJSON()
	require.NoError(t, err)
	want, err := json.Marshal(map[string]any{"id": e.ID, "message": e.Message, "detailed_error": "", "request_id": "req-1", "status_code": 400})
	require.NoError(t, err)
	require.JSONEq(t, string(want), string(got))
	require.Equal(t, string(appErrorBody(nil, e.ID, e.Message, "req-1", 400)), string(got))
}
