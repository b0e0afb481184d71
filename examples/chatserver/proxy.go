package main

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Reverse proxies the admin trusts (-trusted-proxies). A request's
// X-Forwarded-Proto and X-Forwarded-For are anyone's words: a client can
// send them itself. They are believed only from a peer in this list, and
// by default the list is empty: then the scheme is the connection's own
// (r.TLS) and the client is the peer.
type trustedProxies []netip.Prefix

// parseTrustedProxies reads a comma-separated list of IP addresses and
// CIDR prefixes ("10.0.0.0/8,192.0.2.7").
func parseTrustedProxies(s string) (trustedProxies, error) {
	var out trustedProxies
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("%q is neither an IP address nor a CIDR prefix", f)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

func (t trustedProxies) trusts(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range t {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// peer is the address of the connection's other end.
func peer(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, _ := netip.ParseAddr(host)
	return a.Unmap()
}

// secure reports whether the request reached the server over TLS: its own
// connection, or a trusted proxy's that says X-Forwarded-Proto: https.
func (t trustedProxies) secure(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	if !t.trusts(peer(r)) {
		return false
	}
	proto, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ",")
	return strings.EqualFold(strings.TrimSpace(proto), "https")
}

// client is the address a request came from: the peer, or behind trusted
// proxies the last address of X-Forwarded-For that is not one of them
// (the addresses before it were written by the client, and prove nothing).
func (t trustedProxies) client(r *http.Request) netip.Addr {
	a := peer(r)
	if !t.trusts(a) {
		return a
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		h, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return a // garbage: the last proxy is all that is known
		}
		if a = h.Unmap(); !t.trusts(a) {
			return a
		}
	}
	return a
}
