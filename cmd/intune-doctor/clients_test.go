package main

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/mamlogin/mamlogin/intune"
	"github.com/mamlogin/mamlogin/intune/intunetest"
)

// TestOfficialClients: the help names every official client of the app,
// and a token from one that --allowed-client lacks is told which build it
// is and to add it.
func TestOfficialClients(t *testing.T) {
	for _, c := range intune.MobileClients() {
		assert.Contains(t, help, c.ID, c.Build)
	}
	tenant := intunetest.NewTenant()
	defer tenant.Close()
	flags := append(flagsFor(tenant), "--json", "--allowed-client", intune.MobileClientBeta)

	code, out, _ := doctor(t, tenant.Token(intunetest.FromClient(intune.MobileClientRelease)), append([]string{"token"}, flags...)...)
	assert.Equal(t, 1, code)
	r := decode(t, out)
	assert.Equal(t, intune.ErrInvalidToken.ID, r.Verdict)
	var step string
	for _, c := range r.Checks {
		if c.Name == intune.CheckClient {
			step = c.NextStep
		}
	}
	assert.Contains(t, step, "release build")
	assert.Contains(t, step, "add it to AllowedClientIDs")

	// A passing check says which client the token is from.
	detail := func(args []string, tok string) string {
		t.Helper()
		code, out, _ := doctor(t, tok, append([]string{"token"}, args...)...)
		assert.Equal(t, 0, code, out)
		for _, c := range decode(t, out).Checks {
			if c.Name == intune.CheckClient {
				return c.Detail
			}
		}
		return ""
	}
	assert.Contains(t, detail(flags, tenant.Token(intunetest.FromClient(intune.MobileClientBeta))), "the official Mattermost app's beta build, is allowed")
	noList := append(flagsFor(tenant), "--json")
	assert.Contains(t, detail(noList, tenant.Token(intunetest.FromClient(intune.MobileClientRelease))), "the official Mattermost app's release build (no allow-list configured)")
	assert.Contains(t, detail(noList, tenant.Token(intunetest.FromClient("0d9f2a4b-1c3e-4f5a-8b7c-6d5e4f3a2b1c"))),
		"not one of the official Mattermost app's clients (no allow-list configured)")
}
