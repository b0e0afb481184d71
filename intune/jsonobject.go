package intune

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// Every JSON object this package reads (a token's header and claims, the
// request body, the host's user JSON) is read with readInto, that is with
// go-json-experiment/json's defaults, which are the contract's strictness:
// names match exactly (TID is not tid), a name that appears twice in an
// object is an error (compared after unescaping, at any depth), strings must
// be valid UTF-8, nesting is bounded (10000 levels), and nothing but
// whitespace may follow the object. The inputs are bounded before they get
// here (MaxTokenBytes, MaxBodyBytes).

// readInto reads data as exactly one JSON object into a value whose
// UnmarshalJSONFrom is walkObject over its own member method, which is
// called for each member of its names, in document order, with d
// positioned at the member's value: it must consume that value (ReadToken
// for a scalar, ReadValue, or SkipValue). Members of other names are
// skipped, validated. An error from the member method stops the reading and
// is returned as it is; a fault of the JSON is described in jsonFault's
// words. A typed reader per document, not a closure: a closure and what it
// captures cost allocations on every sign-in.
func readInto(data []byte, into json.UnmarshalerFrom) error {
	return readFault(json.Unmarshal(data, into))
}

// readFrom is readInto over a stream: the decoder reads r into its own
// recycled buffer (json.UnmarshalRead), to its end, and nothing but
// whitespace may follow the object.
func readFrom(r io.Reader, into json.UnmarshalerFrom) error {
	return readFault(json.UnmarshalRead(r, into))
}

// readFault is what readInto and readFrom return for json's err: nil, a
// member function's own error as it is, or the JSON's fault in jsonFault's
// words, also where a member function met it reading its value: the
// decoder's own text quotes the member names on the way to the fault, which
// are the sender's words and as long as it likes.
func readFault(err error) error {
	if err == nil {
		return nil
	}
	if me, ok := errors.AsType[*memberError](err); ok {
		if _, syntax := errors.AsType[*jsontext.SyntacticError](me.err); !syntax {
			return me.err
		}
		err = me.err
	}
	return jsonFault(err)
}

// memberError carries a member function's error through json.Unmarshal,
// kept apart from the JSON's own faults.
type memberError struct{ err error }

func (e *memberError) Error() string { return e.err.Error() }

// known returns the string of names that the quoted name raw spells.
func known(names []string, raw jsontext.Value) (string, bool) {
	name := []byte(raw[1 : len(raw)-1])
	if bytes.IndexByte(name, '\\') >= 0 { // escaped: "t\u0069d" is tid
		name, _ = jsontext.AppendUnquote(nil, raw) // valid: the decoder vouched for it
	}
	for _, n := range names {
		if n == string(name) {
			return n, true
		}
	}
	return "", false
}

// errNotObject: the JSON is valid but not an object.
var errNotObject = errors.New("not a JSON object")

// walkObject is the UnmarshalJSONFrom of every object this package reads:
// the object at d, member called for each member of names. member is only
// called, never kept: a method value passed here stays on the stack.
func walkObject(d *jsontext.Decoder, names []string, member func(d *jsontext.Decoder, name string) error) error {
	if d.PeekKind() != '{' {
		if err := d.SkipValue(); err != nil {
			return err // not JSON at all
		}
		return errNotObject
	}
	if _, err := d.ReadToken(); err != nil {
		return err
	}
	for d.PeekKind() != '}' {
		raw, err := d.ReadValue() // the quoted name: duplicates and UTF-8 are checked here
		if err != nil {
			return err
		}
		name, ok := known(names, raw)
		if !ok {
			// ReadValue, not SkipValue: it checks the value in one pass
			// over data, where SkipValue reads a 12 KB groups claim token
			// by token.
			if _, err := d.ReadValue(); err != nil {
				return err
			}
			continue
		}
		if err := member(d, name); err != nil {
			return &memberError{err}
		}
	}
	_, err := d.ReadToken()
	return err
}

// jsonFault says what is wrong with JSON that readInto refused: a
// repeated name, or where the grammar is broken. The text names offsets and
// member names only, never a value.
func jsonFault(err error) error {
	var syn *jsontext.SyntacticError
	switch {
	case errors.Is(err, errNotObject):
		return errNotObject
	case errors.As(err, &syn) && errors.Is(syn.Err, jsontext.ErrDuplicateName):
		return fmt.Errorf("member %q appears twice", clipFact(syn.JSONPointer.LastToken()))
	case errors.As(err, &syn) && syn.Err != nil:
		msg := syn.Err.Error()
		if syn.ByteOffset > 0 {
			msg += " after offset " + strconv.FormatInt(syn.ByteOffset, 10)
		}
		return errors.New("not valid JSON: " + msg)
	}
	return fmt.Errorf("not valid JSON: %w", err)
}

// stringValue stores the string value at d in *dst. A value of another
// kind is consumed and returned instead (valid until d reads on), for the
// caller to say what it was.
func stringValue(d *jsontext.Decoder, dst *string) (other jsontext.Value, err error) {
	v, err := d.ReadValue() // checked once here, UTF-8 included
	switch {
	case err != nil:
		return nil, err
	case v.Kind() != '"':
		return v, nil
	case bytes.IndexByte(v, '\\') < 0: // the common case: the text as it is (Token.String would scan it again)
		*dst = string(v[1 : len(v)-1])
	default:
		b, _ := jsontext.AppendUnquote(nil, v) // valid: the decoder vouched for it
		*dst = string(b)
	}
	return nil, nil
}

// requireString is stringValue for a member that must be a string: any
// other kind fails the whole object.
func requireString(d *jsontext.Decoder, name string, dst *string) error {
	other, err := stringValue(d, dst)
	if err != nil || other == nil {
		return err
	}
	return fmt.Errorf("%s is %s, not a string", name, kindPhrase(other.Kind()))
}

// kindPhrase names a JSON kind in a reason.
func kindPhrase(k jsontext.Kind) string {
	switch k {
	case '"':
		return "a string"
	case '0':
		return "a number"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	case '{':
		return "an object"
	case '[':
		return "an array"
	}
	return "not a JSON value"
}

// clipJSON says, short, what a raw JSON value is, for a reason: it is the
// token's words, and a 16 KB claim must not become a 16 KB log line. A
// number, a boolean or null is written as JSON writes it (42, not "42",
// which would read as a string), a string as the string "...", an array or
// an object named and shown in part.
func clipJSON(raw jsontext.Value) string {
	const maxJSONLen = 40
	switch k := raw.Kind(); k {
	case '"':
		s, _ := jsontext.AppendUnquote(nil, raw) // valid: the decoder vouched for it
		return "the string " + strconv.Quote(clipTo(string(s), maxJSONLen))
	case '[', '{':
		return kindPhrase(k) + " " + strings.Map(printableOrSpace, clipTo(string(raw), maxJSONLen))
	}
	return clipTo(string(raw), maxJSONLen) // digits, signs, letters: ASCII as it is
}

// printableOrSpace keeps a log line on one line: the whitespace between
// JSON tokens and any rune that is not printable become a space.
func printableOrSpace(r rune) rune {
	if unicode.IsPrint(r) {
		return r
	}
	return ' '
}
