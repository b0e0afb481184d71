package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/bits"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func members(t *testing.T, data string) (map[string]Value, error) {
	t.Helper()
	out := map[string]Value{}
	err := Each(data, func(name string, v Value) error {
		out[name] = v
		return nil
	})
	return out, err
}

func TestEach(t *testing.T) {
	tests := []struct {
		name string
		in   string
		err  string // "" means accepted
	}{
		{"empty object", `{}`, ""},
		{"whitespace", " \t\r\n{ \"a\" : 1 , \"b\":[ ] } \n", ""},
		{"every kind", `{"s":"x","n":-1.5e+3,"t":true,"f":false,"z":null,"o":{"a":{"b":[1,{"c":2}]}},"a":[[],{}]}`, ""},
		{"escapes", `{"s":"\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"}`, ""},
		{"utf-8", `{"s":"é😀"}`, ""},
		{"deep", `{"x":` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + `}`, ""},
		{"too deep", `{"x":` + strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1) + `}`, "deeper"},
		{"duplicate", `{"a":1,"a":2}`, `"a" appears twice`},
		{"duplicate after unescaping", `{"tid":1,"t\u0069d":2}`, `"tid" appears twice`},
		{"case differs: not a duplicate", `{"tid":1,"TID":2}`, ""},
		{"nested duplicates are not read", `{"o":{"a":1,"a":2}}`, ""},
		{"array", `[]`, "not a JSON object"},
		{"string", `"x"`, "not a JSON object"},
		{"not JSON", `RS256`, "not valid JSON"},
		{"empty", ``, "not valid JSON"},
		{"trailing data", `{}{}`, "data after the value"},
		{"trailing comma", `{"a":1,}`, "not valid JSON"},
		{"missing colon", `{"a" 1}`, "not valid JSON"},
		{"unquoted name", `{a:1}`, "not valid JSON"},
		{"single quotes", `{'a':1}`, "not valid JSON"},
		{"unterminated string", `{"a":"x}`, "unterminated"},
		{"control byte", "{\"a\":\"x\ty\"}", "control byte"},
		{"invalid utf-8", "{\"a\":\"\xff\"}", "invalid UTF-8"},
		{"bad escape", `{"a":"\x"}`, "bad escape"},
		{"short unicode escape", `{"a":"\u12"}`, "escape"},
		{"leading zero", `{"a":01}`, "not valid JSON"},
		{"bare minus", `{"a":-}`, "digit"},
		{"dot without digits", `{"a":1.}`, "digit"},
		{"exponent without digits", `{"a":1e}`, "digit"},
		{"plus sign", `{"a":+1}`, "not valid JSON"},
		{"NaN", `{"a":NaN}`, "not valid JSON"},
		{"truncated literal", `{"a":tru}`, "not valid JSON"},
		{"unclosed array", `{"a":[1,2}`, "not valid JSON"},
		{"mismatched close", `{"a":[1}]}`, "not valid JSON"},
		{"unclosed object", `{"a":1`, "not valid JSON"},
		{"nested trailing comma", `{"a":[1,]}`, "not valid JSON"},
		{"nested missing value", `{"a":{"b":}}`, "not valid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := members(t, tt.in)
			if tt.err == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.err)
		})
	}
}

func TestEachTooManyMembers(t *testing.T) {
	var b strings.Builder
	b.WriteString("{")
	for i := range MaxMembers + 1 {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`"m` + strings.Repeat("x", i) + `":1`)
	}
	b.WriteString("}")
	_, err := members(t, b.String())
	require.ErrorContains(t, err, "more than 100 members")
}

func TestValues(t *testing.T) {
	m, err := members(t, `{"plain":"abc","esc":"a\"b\u00e9","num":12.5,"arr":[1, "x"],"obj":{"k":true},"nul":null}`)
	require.NoError(t, err)
	s, ok := m["plain"].Str()
	assert.True(t, ok)
	assert.Equal(t, "abc", s)
	s, ok = m["esc"].Str()
	assert.True(t, ok)
	assert.Equal(t, "a\"bé", s)
	_, ok = m["num"].Str()
	assert.False(t, ok)
	assert.Equal(t, Number, m["num"].Kind)
	assert.Equal(t, "12.5", m["num"].Raw)
	assert.Equal(t, Array, m["arr"].Kind)
	assert.Equal(t, `[1, "x"]`, m["arr"].Raw)
	assert.Equal(t, Object, m["obj"].Kind)
	assert.Equal(t, Null, m["nul"].Kind)

	var elems []string
	require.NoError(t, Elements(m["arr"].Raw, func(v Value) error {
		elems = append(elems, v.Raw)
		return nil
	}))
	assert.Equal(t, []string{"1", `"x"`}, elems)
}

func TestCallbackErrorStops(t *testing.T) {
	stop := errors.New("stop")
	calls := 0
	err := Each(`{"a":1,"b":2}`, func(string, Value) error {
		calls++
		return stop
	})
	assert.ErrorIs(t, err, stop)
	assert.Equal(t, 1, calls)
}

// TestPlainStringsAlias: a string without escapes is a substring of the input,
// not a copy (the point of reading a token in one pass).
func TestPlainStringsAlias(t *testing.T) {
	in := `{"tid":"72f988bf-86f1-41af-91ab-2d7cd011db47"}`
	allocs := testing.AllocsPerRun(100, func() {
		_ = Each(in, func(_ string, v Value) error {
			_, _ = v.Str()
			return nil
		})
	})
	assert.Zero(t, allocs)
}

// reference is what encoding/json says of data, with the rules this package
// adds: one object, valid UTF-8, no repeated top-level name, bounded.
func reference(data []byte) bool {
	if !json.Valid(data) || !utf8.Valid(data) {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return false
	}
	seen := map[string]bool{}
	for dec.More() {
		name, err := dec.Token()
		if err != nil {
			return false
		}
		if seen[name.(string)] || len(seen) == MaxMembers {
			return false
		}
		seen[name.(string)] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return false
		}
	}
	return true
}

// FuzzEach: Each accepts exactly what encoding/json accepts plus the rules
// above, never panics, and decodes strings as encoding/json does.
//
//	go test -run '^$' -fuzz FuzzEach -fuzztime 30s ./internal/strictjson/
func FuzzEach(f *testing.F) {
	files, _ := filepath.Glob("../../testdata/fuzz/body/*")
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{`{}`, `{"a":"\ud800"}`, `{"a":[{"b":[]}],"c":-0.0e-0}`, `{"a":1,"a":1}`, "{\"\xc3\":1}", `{"x":"\u0000"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if bytes.Count(data, []byte("[")) > MaxDepth/2 {
			return // depth is bounded here and not there; covered by TestEach
		}
		err := Each(string(data), func(name string, v Value) error {
			if v.Kind == String {
				s, ok := v.Str()
				var want string
				if !ok || json.Unmarshal([]byte(v.Raw), &want) != nil || s != want {
					t.Fatalf("string %q decodes to %q, encoding/json says %q", v.Raw, s, want)
				}
			}
			return nil
		})
		if got, want := err == nil, reference(data); got != want {
			t.Fatalf("Each accepts=%v, reference accepts=%v (err %v) on %q", got, want, err, data)
		}
	})
}

// TestSpecialNeverMisses: the word-at-a-time filter never passes over a byte
// that needs a closer look, whatever its position and neighbours, and its
// lowest flag is exactly the first such byte.
func TestSpecialNeverMisses(t *testing.T) {
	for b := range 256 {
		for pos := range 8 {
			for _, fill := range []byte{'a', 0x20, 0x7f, '!'} {
				var w uint64
				for i := range 8 {
					c := fill
					if i == pos {
						c = byte(b)
					}
					w |= uint64(c) << (8 * i)
				}
				m := special(w)
				if !plain[b] && m == 0 {
					t.Fatalf("byte 0x%02x at %d among 0x%02x passed", b, pos, fill)
				}
				if plain[b] && plain[fill] && m != 0 {
					t.Fatalf("false alarm on plain bytes 0x%02x at %d among 0x%02x", b, pos, fill)
				}
				// The lowest flag is the first byte that is not plain.
				first := 8
				for i := range 8 {
					if !plain[byte(w>>(8*i))] {
						first = i
						break
					}
				}
				if got := bits.TrailingZeros64(m) / 8; got != first {
					t.Fatalf("byte 0x%02x at %d among 0x%02x: first flag at %d, first special byte at %d", b, pos, fill, got, first)
				}
			}
		}
	}
}
