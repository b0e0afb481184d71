package intune

import (
	"net/http"
	"reflect"
	"slices"
)

// A Config is a value, but two of its fields are references: the
// AllowedClientIDs slice and the HTTPClient pointer. Shared, they would let
// a caller change a running configuration behind SetConfig's back (amend
// the slice Config returned, and SetConfig then compares the new value with
// itself and keeps a Validator that enforces another list). So every Config
// that crosses the package's API is copied on the way in (NewValidator,
// NewLoginHandler, SetConfig, Diagnose) and on the way out (Config,
// Validator.Config): the package owns its copies, the caller owns theirs.

// clone returns c with its reference-typed fields copied: a list the caller
// can change without changing c, and a client of its own. The client's
// Transport, Jar and CheckRedirect stay shared: they are the host's, and
// the package never changes them.
func (c Config) clone() Config {
	if c.AllowedClientIDs != nil {
		c.AllowedClientIDs = slices.Clone(c.AllowedClientIDs)
	}
	if c.HTTPClient != nil {
		hc := *c.HTTPClient
		c.HTTPClient = &hc
	}
	return c
}

// sameClient reports whether a and b make the same requests: both nil, or
// the same timeout with the same transport, jar and redirect policy. The
// clients are compared by what they hold, not by address, since every copy
// of a Config has a client of its own.
func sameClient(a, b *http.Client) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Timeout == b.Timeout && sameRef(a.Transport, b.Transport) && sameRef(a.Jar, b.Jar) &&
		sameRef(a.CheckRedirect, b.CheckRedirect)
}

// sameRef reports whether x and y are the same value: the same pointer,
// func or map for reference kinds, equal for comparable ones. A value that
// cannot be compared counts as different (a new Validator is built: the
// safe side).
func sameRef(x, y any) bool {
	vx, vy := reflect.ValueOf(x), reflect.ValueOf(y)
	if !vx.IsValid() || !vy.IsValid() {
		return vx.IsValid() == vy.IsValid()
	}
	if vx.Type() != vy.Type() {
		return false
	}
	switch vx.Kind() {
	case reflect.Pointer, reflect.Func, reflect.Map, reflect.Chan, reflect.UnsafePointer, reflect.Slice:
		if vx.IsNil() || vy.IsNil() {
			return vx.IsNil() && vy.IsNil()
		}
		return vx.Pointer() == vy.Pointer() && (vx.Kind() != reflect.Slice || vx.Len() == vy.Len())
	}
	return vx.Comparable() && vx.Equal(vy)
}

// Config returns a copy of the configuration v was built for: changing it
// changes nothing in v.
func (v *Validator) Config() Config { return v.cfg.clone() }
