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

	code, _, _ = doctor(t, tenant.Token(intunetest.FromClient(intune.MobileClientBeta)), append([]string{"token"}, flags...)...)
	assert.Equal(t, 0, code, "an allowed client")
}
