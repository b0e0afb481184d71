package intune_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/mamlogin/mamlogin/intune"
)

func TestMobileClients(t *testing.T) {
	got := intune.MobileClients()
	assert.Equal(t, []intune.MobileClient{
		{ID: "9ac649f1-4f77-44d6-9792-b2f54ab3c9a7", Build: "release"},
		{ID: "64e9952b-20eb-46dc-92ad-99089ed24903", Build: "beta"},
		{ID: "b8543726-2747-4acc-950a-f1ec2766bc2a", Build: "pull request"},
	}, got)
	for _, c := range got {
		assert.NoError(t, intune.Config{AllowedClientIDs: []string{c.ID}}.Check(), c.Build)
	}
	// Each call is the caller's own: amending one changes no other.
	got[0].ID = "changed"
	assert.Equal(t, intune.MobileClientRelease, intune.MobileClients()[0].ID)
	def := intune.DefaultAllowedClientIDs()
	assert.Equal(t, []string{intune.MobileClientRelease, intune.MobileClientBeta}, def)
	def[0] = "changed"
	assert.Equal(t, intune.MobileClientRelease, intune.DefaultAllowedClientIDs()[0])
}
