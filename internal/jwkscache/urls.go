package jwkscache

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
)

// Key material travels only over https. Plain http is allowed only where the
// configured URL is itself http on a loopback address (tests, a local
// mirror), and nothing reached from an https start may be http.

// CheckURL parses a configured authority or key-set URL and applies the
// transport rule: https, or http on a loopback IP literal or localhost.
func CheckURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return nil, fmt.Errorf("%q is not an absolute URL", raw)
	}
	switch u.Scheme {
	case "https":
		return u, nil
	case "http":
		if IsLoopbackHost(u.Hostname()) {
			return u, nil
		}
		return nil, fmt.Errorf("%q must use https: plain http is allowed only on loopback (127.0.0.0/8, ::1 or localhost)", raw)
	}
	return nil, fmt.Errorf("%q must be an https URL", raw)
}

// IsLoopbackHost reports whether host (as url.URL.Hostname returns it) is an
// IPv4 address in 127.0.0.0/8, the IPv6 address ::1, or the name localhost.
// It parses; it never compares prefixes, so 127.attacker.example is not
// loopback.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	if err != nil || a.Zone() != "" {
		return false
	}
	return a.Is4() && a.IsLoopback() || a == netip.IPv6Loopback()
}

// ErrInsecureURL is wrapped by the errors of fetches refused under the
// transport rule: an https fetch that would continue over http (a discovery
// jwks_uri or a redirect), or http that leaves loopback.
var ErrInsecureURL = errors.New("refused: key material travels only over https")

// allowedNext applies the rule to a URL reached from start: from https only
// https; from http on loopback, https or http on loopback.
func allowedNext(start, next *url.URL) error {
	if next.Scheme == "https" {
		return nil
	}
	if start.Scheme == "https" {
		return fmt.Errorf("%s: %w (it started on https)", Redact(next.String()), ErrInsecureURL)
	}
	if next.Scheme == "http" && IsLoopbackHost(next.Hostname()) {
		return nil
	}
	return fmt.Errorf("%s: %w (http is allowed on loopback only)", Redact(next.String()), ErrInsecureURL)
}

// Redact drops the query and fragment of a URL, for logs and reports.
func Redact(raw string) string {
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		return raw[:i]
	}
	return raw
}
