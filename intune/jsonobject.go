package intune

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// maxMembers bounds the members of a token header or payload. Entra's access
// tokens carry about twenty claims.
const maxMembers = 100

// eachMember calls fn, in document order, with the name and raw value of each
// member of the JSON object data. It rejects anything that is not one valid
// JSON object, and any name that appears twice: RFC 7519 allows a parser to
// take the last duplicate, which is exactly the kind of parser differential
// (one component reads the first tid, another the last) that must not exist
// here. Names are compared exactly, after unescaping; encoding/json's struct
// decoding would match "TID" to a field tagged "tid".
func eachMember(data []byte, fn func(name string, raw []byte) error) error {
	if !json.Valid(data) {
		return errors.New("not valid JSON")
	}
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return errors.New("not a JSON object")
	}
	var seen [maxMembers]string
	n := 0
	i = skipSpace(data, i+1)
	for i < len(data) && data[i] != '}' {
		// json.Valid vouched for the grammar: a string name, ':', a value.
		end := stringEnd(data, i)
		name, err := unquote(data[i:end])
		if err != nil {
			return err
		}
		for _, s := range seen[:n] {
			if s == name {
				return fmt.Errorf("member %q appears twice", name)
			}
		}
		if n == maxMembers {
			return fmt.Errorf("more than %d members", maxMembers)
		}
		seen[n] = name
		n++
		i = skipSpace(data, end)
		i = skipSpace(data, i+1) // ':'
		vend := valueEnd(data, i)
		if err := fn(name, data[i:vend]); err != nil {
			return err
		}
		i = skipSpace(data, vend)
		if i < len(data) && data[i] == ',' {
			i = skipSpace(data, i+1)
		}
	}
	return nil
}

func skipSpace(d []byte, i int) int {
	for i < len(d) && (d[i] == ' ' || d[i] == '\t' || d[i] == '\n' || d[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index just past the string starting at d[i] == '"'.
func stringEnd(d []byte, i int) int {
	for j := i + 1; j < len(d); j++ {
		switch d[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(d)
}

// valueEnd returns the index just past the (valid) JSON value at d[i].
func valueEnd(d []byte, i int) int {
	switch d[i] {
	case '"':
		return stringEnd(d, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(d); j++ {
			switch d[j] {
			case '"':
				j = stringEnd(d, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return len(d)
	default: // number, true, false, null
		j := i
		for j < len(d) && d[j] != ',' && d[j] != '}' && d[j] != ']' && d[j] != ' ' && d[j] != '\t' && d[j] != '\n' && d[j] != '\r' {
			j++
		}
		return j
	}
}

// unquote decodes a JSON string literal. The common case (no escapes, valid
// UTF-8) costs one allocation.
func unquote(lit []byte) (string, error) {
	if len(lit) < 2 || lit[0] != '"' {
		return "", errors.New("not a string")
	}
	body := lit[1 : len(lit)-1]
	plain := utf8.Valid(body)
	for _, b := range body {
		if b == '\\' {
			plain = false
			break
		}
	}
	if plain {
		return string(body), nil
	}
	var s string
	if err := json.Unmarshal(lit, &s); err != nil {
		return "", err
	}
	return s, nil
}

// Numeric dates must fall after 2000-01-01 and before the year 10000.
const (
	minNumericDate = 946684800
	maxNumericDate = 253402300800
)

// numericDate decodes a JWT NumericDate: a JSON number within the sane range.
// Strings, booleans, 1e300 and negative values are errors. Fractions are
// allowed by RFC 7519 and truncated to the second.
func numericDate(raw []byte) (int64, error) {
	if len(raw) == 0 || !(raw[0] == '-' || '0' <= raw[0] && raw[0] <= '9') {
		return 0, fmt.Errorf("%s is not a JSON number", clip(raw))
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || f < minNumericDate || f >= maxNumericDate {
		return 0, fmt.Errorf("%s is not a date between 2000 and 9999", clip(raw))
	}
	return int64(f), nil
}

// clip shortens a raw value for an error message.
func clip(raw []byte) string {
	const max = 40
	if len(raw) > max {
		return strconv.Quote(string(raw[:max])) + "..."
	}
	return strconv.Quote(string(raw))
}
