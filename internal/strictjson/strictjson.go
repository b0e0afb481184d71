// Package strictjson reads JSON objects the way a security boundary must: in
// one pass that both validates the whole document and hands each top-level
// member to the caller, with names compared exactly (no case folding), any
// repeated name rejected, strings required to be valid UTF-8, and numbers
// required to follow the JSON grammar.
//
// It exists because encoding/json does none of the first three (it matches
// "TID" to a field tagged "tid" and keeps the last of two "tid" members) and
// because a separate json.Valid pass before extraction doubles the cost of
// reading a large token. RFC 7519 lets a JWT parser take the last duplicate;
// two components of one system that take different duplicates (one reads the
// first tid, another the last) are exactly the parser differential an
// attacker looks for, so here there is none to take.
//
// Values are substrings of the input: reading a token allocates nothing per
// member unless a string holds escapes.
package strictjson

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"unicode/utf8"
	"unsafe"
)

// MaxMembers bounds the members of one object. Entra's access tokens carry
// about twenty claims, its keys about ten members.
const MaxMembers = 100

// MaxDepth bounds the nesting of arrays and objects inside a value.
const MaxDepth = 10000

// Kind is the JSON type of a value.
type Kind uint8

const (
	String Kind = iota + 1
	Number
	Bool
	Null
	Object
	Array
)

func (k Kind) String() string {
	switch k {
	case String:
		return "a string"
	case Number:
		return "a number"
	case Bool:
		return "a boolean"
	case Null:
		return "null"
	case Object:
		return "an object"
	case Array:
		return "an array"
	}
	return "nothing"
}

// Value is one JSON value, as it appears in the input.
type Value struct {
	Raw     string // the value's text, quotes included for strings
	Kind    Kind
	escaped bool // a string with at least one backslash escape
}

// Str returns the decoded string. It aliases the input unless the string
// holds escapes. ok is false when v is not a string.
func (v Value) Str() (string, bool) {
	if v.Kind != String {
		return "", false
	}
	if !v.escaped {
		return v.Raw[1 : len(v.Raw)-1], true
	}
	return unescape(v.Raw)
}

// StrTo stores the decoded string in *dst, or says that member name is not
// a string: reading a member whose value must be a string.
func (v Value) StrTo(name string, dst *string) error {
	s, ok := v.Str()
	if !ok {
		return fmt.Errorf("%s is %s, not a string", name, v.Kind)
	}
	*dst = s
	return nil
}

// unescape decodes a string literal with escapes. The scanner vouched for
// it: encoding/json decodes it the same way (a lone surrogate becomes U+FFFD).
func unescape(lit string) (string, bool) {
	var s string
	if err := json.Unmarshal([]byte(lit), &s); err != nil {
		return "", false
	}
	return s, true
}

// Each calls fn with every member of the JSON object in data, in document
// order. It fails, without calling fn further, on anything that is not
// exactly one valid JSON object (surrounding whitespace allowed), on a name
// that appears twice (compared after unescaping), and on more than
// MaxMembers members. An error from fn stops the walk and is returned.
func Each(data string, fn func(name string, v Value) error) error {
	s := scanner{d: data}
	s.space()
	if s.peek() != '{' {
		if _, err := s.value(); err != nil {
			return err
		}
		return errors.New("not a JSON object")
	}
	s.i++
	var seen [MaxMembers]string
	var seenBits uint64 // a one-word Bloom filter over seen: most names skip the comparisons
	n := 0
	s.space()
	if s.peek() == '}' {
		s.i++
		return s.end()
	}
	for {
		s.space()
		nv, err := s.str()
		if err != nil {
			return fmt.Errorf("member name: %w", err)
		}
		name, _ := nv.Str()
		if bit := nameBit(name); seenBits&bit == 0 {
			seenBits |= bit
		} else {
			for _, prev := range seen[:n] {
				if prev == name {
					return fmt.Errorf("member %q appears twice", clip(name))
				}
			}
		}
		if n == MaxMembers {
			return fmt.Errorf("more than %d members", MaxMembers)
		}
		seen[n] = name
		n++
		s.space()
		if s.peek() != ':' {
			return s.unexpected("':'")
		}
		s.i++
		s.space()
		v, err := s.value()
		if err != nil {
			return fmt.Errorf("member %q: %w", clip(name), err)
		}
		if err := fn(name, v); err != nil {
			return err
		}
		s.space()
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return s.end()
		default:
			return s.unexpected("',' or '}'")
		}
	}
}

// nameBit picks one of 64 bits for a member name, from its length and its
// first, middle and last bytes: distinct for nearly every pair of claim
// names, so a duplicate search runs almost only when there is a duplicate.
func nameBit(name string) uint64 {
	if name == "" {
		return 1
	}
	h := uint(len(name))*31 + uint(name[0])*7 + uint(name[len(name)/2])*3 + uint(name[len(name)-1])
	return 1 << (h & 63)
}

// Elements calls fn with every element of the JSON array raw (a Value of
// kind Array, already validated by Each), in order.
func Elements(raw string, fn func(v Value) error) error {
	s := scanner{d: raw}
	s.space()
	if s.peek() != '[' {
		return errors.New("not a JSON array")
	}
	s.i++
	s.space()
	if s.peek() == ']' {
		s.i++
		return s.end()
	}
	for {
		s.space()
		v, err := s.value()
		if err != nil {
			return err
		}
		if err := fn(v); err != nil {
			return err
		}
		s.space()
		switch s.peek() {
		case ',':
			s.i++
		case ']':
			s.i++
			return s.end()
		default:
			return s.unexpected("',' or ']'")
		}
	}
}

type scanner struct {
	d string
	i int
}

func (s *scanner) peek() byte {
	if s.i < len(s.d) {
		return s.d[s.i]
	}
	return 0
}

func (s *scanner) space() {
	for s.i < len(s.d) {
		switch s.d[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// end requires nothing but whitespace after the value.
func (s *scanner) end() error {
	s.space()
	if s.i != len(s.d) {
		return errors.New("not valid JSON: data after the value")
	}
	return nil
}

func (s *scanner) unexpected(want string) error {
	if s.i >= len(s.d) {
		return fmt.Errorf("not valid JSON: input ends where %s is expected", want)
	}
	return fmt.Errorf("not valid JSON: byte %q at offset %d where %s is expected", s.d[s.i], s.i, want)
}

// value scans one value of any kind starting at s.i.
func (s *scanner) value() (Value, error) {
	start := s.i
	switch c := s.peek(); {
	case c == '"':
		return s.str()
	case c == '{' || c == '[':
		if err := s.nested(); err != nil {
			return Value{}, err
		}
		k := Object
		if c == '[' {
			k = Array
		}
		return Value{Raw: s.d[start:s.i], Kind: k}, nil
	case c == '-' || '0' <= c && c <= '9':
		if err := s.number(); err != nil {
			return Value{}, err
		}
		return Value{Raw: s.d[start:s.i], Kind: Number}, nil
	default:
		for _, lit := range [...]struct {
			text string
			kind Kind
		}{{"true", Bool}, {"false", Bool}, {"null", Null}} {
			if len(s.d)-s.i >= len(lit.text) && s.d[s.i:s.i+len(lit.text)] == lit.text {
				s.i += len(lit.text)
				return Value{Raw: lit.text, Kind: lit.kind}, nil
			}
		}
		return Value{}, s.unexpected("a value")
	}
}

// plain marks the bytes a string may hold without a closer look: printable
// ASCII other than '"' and '\\'.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// Eight bytes at a time: words with no byte that needs a closer look are
// skipped whole (a 16 KB token is mostly long strings).
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// skipPlain returns the index of the first byte at or after i that is not
// plain (see plain).
func skipPlain(d string, i int) int {
	// A read-only byte view of d: binary.LittleEndian compiles to one load.
	b := unsafe.Slice(unsafe.StringData(d), len(d))
	for ; i+8 <= len(b); i += 8 {
		if m := special(binary.LittleEndian.Uint64(b[i:])); m != 0 {
			// The lowest flagged byte is exact (a borrow only flags bytes
			// above a true match): it is the first byte that is not plain.
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for i < len(d) && plain[d[i]] {
		i++
	}
	return i
}

// special flags (high bit of each byte) the bytes of the little-endian word
// w below 0x20, '"', '\\' or with the high bit set. Bytes above the lowest
// flagged one may be flagged wrongly; the lowest flagged one never is, and no
// such byte goes unflagged.
func special(w uint64) uint64 {
	hasLess := (w - ones*0x20) & ^w & highs // a byte < 0x20
	quote := w ^ (ones * '"')
	hasQuote := (quote - ones) & ^quote & highs
	bslash := w ^ (ones * '\\')
	hasBslash := (bslash - ones) & ^bslash & highs
	return hasLess | hasQuote | hasBslash | (w & highs)
}

// str scans a string literal starting at s.i == '"'.
func (s *scanner) str() (Value, error) {
	if s.peek() != '"' {
		return Value{}, s.unexpected("a string")
	}
	start := s.i
	escaped, err := s.stringBody()
	if err != nil {
		return Value{}, err
	}
	return Value{Raw: s.d[start:s.i], Kind: String, escaped: escaped}, nil
}

// skipString is str for a string nothing reads (inside an unused claim).
func (s *scanner) skipString() error {
	_, err := s.stringBody()
	return err
}

// stringBody scans from the opening quote at s.i to just past the closing
// one, and reports whether the string holds escapes.
func (s *scanner) stringBody() (escaped bool, err error) {
	s.i++
	for {
		s.i = skipPlain(s.d, s.i)
		if s.i >= len(s.d) {
			return false, errors.New("not valid JSON: unterminated string")
		}
		switch c := s.d[s.i]; {
		case c == '"':
			s.i++
			return escaped, nil
		case c == '\\':
			escaped = true
			if err := s.escape(); err != nil {
				return false, err
			}
		case c < 0x20:
			return false, fmt.Errorf("not valid JSON: control byte 0x%02x in a string", c)
		default:
			r, size := utf8.DecodeRuneInString(s.d[s.i:])
			if r == utf8.RuneError && size <= 1 {
				return false, fmt.Errorf("not valid JSON: invalid UTF-8 at offset %d", s.i)
			}
			s.i += size
		}
	}
}

// escape scans one backslash escape starting at s.i == '\\'.
func (s *scanner) escape() error {
	if s.i+1 >= len(s.d) {
		return errors.New("not valid JSON: unterminated escape")
	}
	switch s.d[s.i+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		s.i += 2
		return nil
	case 'u':
		if s.i+6 > len(s.d) {
			return errors.New("not valid JSON: short \\u escape")
		}
		for _, h := range []byte(s.d[s.i+2 : s.i+6]) {
			if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
				return errors.New("not valid JSON: bad \\u escape")
			}
		}
		s.i += 6
		return nil
	}
	return fmt.Errorf("not valid JSON: bad escape \\%c", s.d[s.i+1])
}

// number scans a number per RFC 8259: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) number() error {
	if s.peek() == '-' {
		s.i++
	}
	switch c := s.peek(); {
	case c == '0':
		s.i++
	case '1' <= c && c <= '9':
		s.digits()
	default:
		return s.unexpected("a digit")
	}
	if s.peek() == '.' {
		s.i++
		if !s.digits() {
			return s.unexpected("a digit")
		}
	}
	if c := s.peek(); c == 'e' || c == 'E' {
		s.i++
		if c := s.peek(); c == '+' || c == '-' {
			s.i++
		}
		if !s.digits() {
			return s.unexpected("a digit")
		}
	}
	return nil
}

func (s *scanner) digits() bool {
	start := s.i
	for s.i < len(s.d) && '0' <= s.d[s.i] && s.d[s.i] <= '9' {
		s.i++
	}
	return s.i > start
}

// nested scans an array or object starting at s.i, iteratively: the nesting
// of hostile input costs a byte of stack per level, not a Go frame. Names
// inside nested objects are not checked for duplicates: nothing reads them.
func (s *scanner) nested() error {
	var buf [64]byte
	open := buf[:0] // the closers expected, innermost last
	for {
		// At the start of a value.
		switch c := s.peek(); c {
		case '{', '[':
			if len(open) == MaxDepth {
				return fmt.Errorf("nested deeper than %d", MaxDepth)
			}
			s.i++
			s.space()
			if c == '{' {
				open = append(open, '}')
				if s.peek() == '}' {
					break // empty object: closed below
				}
				if err := s.memberName(); err != nil {
					return err
				}
				continue
			}
			open = append(open, ']')
			if s.peek() == ']' {
				break // empty array: closed below
			}
			continue
		case '"': // the common element: skip value's dispatch
			if err := s.skipString(); err != nil {
				return err
			}
		default:
			if _, err := s.value(); err != nil {
				return err
			}
		}
		// After a value (or at an empty container's closer): close what
		// ends here, then expect the next element or member.
		for {
			s.space()
			c := s.peek()
			closer := open[len(open)-1]
			if c == closer {
				s.i++
				open = open[:len(open)-1]
				if len(open) == 0 {
					return nil
				}
				continue
			}
			if c != ',' {
				return s.unexpected(fmt.Sprintf("',' or %q", closer))
			}
			s.i++
			s.space()
			if closer == '}' {
				if err := s.memberName(); err != nil {
					return err
				}
			}
			break
		}
	}
}

// memberName scans `"name" :` and the whitespace after it.
func (s *scanner) memberName() error {
	if _, err := s.str(); err != nil {
		return err
	}
	s.space()
	if s.peek() != ':' {
		return s.unexpected("':'")
	}
	s.i++
	s.space()
	return nil
}

// clip shortens text quoted in an error: the input may be an attacker's.
func clip(s string) string {
	const max = 40
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}

// Clip quotes and shortens a raw value for an error message or a log.
func Clip(raw string) string {
	const max = 40
	if len(raw) > max {
		return strconv.Quote(raw[:max]) + "..."
	}
	return strconv.Quote(raw)
}
