package sqlstore

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestUsernameCandidate(t *testing.T) {
	long := strings.Repeat("a", 100)
	valid := regexp.MustCompile(`^[a-z][a-z0-9._-]*$`)
	seen := map[string]bool{}
	for attempt := 1; attempt <= maxUsernameAttempts; attempt++ {
		for _, base := range []string{"alice", long} {
			c := usernameCandidate(base, attempt)
			require.LessOrEqual(t, len(c), maxUsernameLen, c)
			require.Regexp(t, valid, c)
			require.False(t, seen[c], "candidate %q twice", c)
			seen[c] = true
		}
	}
	require.Equal(t, "alice", usernameCandidate("alice", 1))
	require.Equal(t, "alice-2", usernameCandidate("alice", 2))
	require.Regexp(t, `^alice-[a-z2-7]{8}$`, usernameCandidate("alice", maxUsernameAttempts))
}

func TestNewID(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := newID()
		require.Regexp(t, `^[ybndrfg8ejkmcpqxot1uwisza345h769]{26}$`, id)
		require.False(t, seen[id])
		seen[id] = true
	}
}
