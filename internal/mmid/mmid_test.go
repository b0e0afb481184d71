package mmid

import (
	"regexp"
	"testing"
)

func TestNew(t *testing.T) {
	for name, newID := range map[string]func() string{"New": New, "NewRequestID": NewRequestID} {
		t.Run(name, func(t *testing.T) { testIDs(t, newID) })
	}
}

func testIDs(t *testing.T, newID func() string) {
	shape := regexp.MustCompile(`^[ybndrfg8ejkmcpqxot1uwisza345h769]{26}$`)
	seen := map[string]bool{}
	var atPosition [26]map[byte]bool // every position must vary: no bits left unfilled
	for i := range atPosition {
		atPosition[i] = map[byte]bool{}
	}
	defer func() {
		for i, chars := range atPosition {
			if len(chars) < 30 {
				t.Errorf("position %d took %d of the 32 characters in 1000 ids", i, len(chars))
			}
		}
	}()
	for range 1000 {
		id := newID()
		for i := 0; i < len(id) && i < 26; i++ {
			atPosition[i][id[i]] = true
		}
		if !shape.MatchString(id) {
			t.Fatalf("id %q is not 26 characters of the alphabet", id)
		}
		if seen[id] {
			t.Fatalf("id %q repeats", id)
		}
		seen[id] = true
	}
}
