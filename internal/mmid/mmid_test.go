package mmid

import (
	"regexp"
	"testing"
)

func TestNew(t *testing.T) {
	shape := regexp.MustCompile(`^[ybndrfg8ejkmcpqxot1uwisza345h769]{26}$`)
	seen := map[string]bool{}
	for range 1000 {
		id := New()
		if !shape.MatchString(id) {
			t.Fatalf("id %q is not 26 characters of the alphabet", id)
		}
		if seen[id] {
			t.Fatalf("id %q repeats", id)
		}
		seen[id] = true
	}
}
