package intune

import (
	"encoding/base64"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestClaimsOutliveThePooledPayload: nothing a decoded Claims holds may
// point into the pooled payload buffer once the next token reuses it, not
// even the names of claims noted as having the wrong type.
func TestClaimsOutliveThePooledPayload(t *testing.T) {
	enc := base64.RawURLEncoding.EncodeToString
	first, e := decodeClaims(enc([]byte(`{"nbf":"9999999999","ver":2,"tid":1,"oid":"a\u00e9","scp":"x login.mattermost","email":"alice@contoso.com"}`)))
	require.Nil(t, e)
	for range 10 { // reuse the pooled buffer with other bytes
		_, e := decodeClaims(enc([]byte(`{"xyz":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","zzz":1,"qqq":2}`)))
		require.Nil(t, e)
	}
	for _, claim := range []string{"nbf", "ver", "tid"} {
		assert.Contains(t, first.bad, claim)
	}
	assert.Equal(t, "aé", first.ObjectID)
	assert.Equal(t, []string{"x", "login.mattermost"}, first.Scopes)
	assert.Equal(t, "alice@contoso.com", first.Email)
}
