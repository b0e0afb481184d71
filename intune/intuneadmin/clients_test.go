package intuneadmin_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/mamlogin/mamlogin/intune"
)

// TestAllowListNamesTheOfficialBuilds: the configuration under test names
// each official client of the allow-list by its build, and says when the
// App Store build is missing (every App Store user is refused then).
func TestAllowListNamesTheOfficialBuilds(t *testing.T) {
	const lacksRelease = "the allow-list lacks the App Store build of the Mattermost app (" + intune.MobileClientRelease + ")"
	for _, tc := range []struct {
		name    string
		allowed []string
		shows   []string
		problem bool
	}{
		{"none", nil, []string{"<dd>any (no allow-list)</dd>"}, false},
		{"the default", intune.DefaultAllowedClientIDs(), []string{
			intune.MobileClientRelease + " (the Mattermost app&#39;s release build), " + intune.MobileClientBeta + " (the Mattermost app&#39;s beta build)"}, false},
		{"beta and a client of the host's own", []string{intune.MobileClientBeta, "0d9f2a4b-1c3e-4f5a-8b7c-6d5e4f3a2b1c"}, []string{
			intune.MobileClientBeta + " (the Mattermost app&#39;s beta build), 0d9f2a4b-1c3e-4f5a-8b7c-6d5e4f3a2b1c</dd>"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			cfg := f.tenant.Config()
			cfg.AllowedClientIDs = tc.allowed
			f.page.Config = func() intune.Config { return cfg }
			w := httptest.NewRecorder()
			f.page.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/admin/intune/test", nil))
			body := w.Body.String()
			for _, s := range tc.shows {
				assert.Contains(t, body, s)
			}
			if tc.problem {
				assert.Contains(t, body, lacksRelease)
			} else {
				assert.NotContains(t, body, lacksRelease)
			}
		})
	}
}
