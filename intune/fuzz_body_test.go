package intune_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"math"
	"net/http"
	"testing"

	"github.com/mamlogin/mamlogin/intune"
)

// FuzzLoginBody feeds arbitrary bodies to the handler: no panic or hang, every
// answer is 200 or a catalog app_error with its documented status, and a
// failure's log record stays under 4 KB.
//
//	go test -run '^$' -fuzz FuzzLoginBody -fuzztime 30s ./intune/
func FuzzLoginBody(f *testing.F) {
	for _, s := range seeds(f, "body") {
		f.Add(s)
	}
	r := newRig(f, intune.AuthServiceOpenID)
	f.Add([]byte(appBody(r.tenant.Token())))
	// Every failure is logged (no rate limit), so that each one's record
	// is measured.
	logs := &bytes.Buffer{}
	h := intune.NewLoginHandler(r.cfg, r.v, r.store, r.sessions, intune.WithLogger(slog.New(slog.NewJSONHandler(logs, nil))),
		intune.WithFailureLogLimit(math.MaxFloat64, 1))
	f.Fuzz(func(t *testing.T, body []byte) {
		logs.Reset()
		rec := post(h, string(body))
		if rec.Code == http.StatusOK {
			return
		}
		if logs.Len() > 4<<10 { // one record, whatever the body says
			t.Fatalf("a failure logged %d bytes: %.300s", logs.Len(), logs.String())
		}
		var e struct {
			ID         string `json:"id"`
			StatusCode int    `json:"status_code"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
			t.Fatalf("status %d, body not JSON: %q", rec.Code, rec.Body.String())
		}
		row, ok := intune.LookupError(e.ID)
		if !ok || row.StatusCode != rec.Code || e.StatusCode != rec.Code {
			t.Fatalf("undocumented answer %d %+v", rec.Code, e)
		}
	})
}
