package main

import (
	"crypto/subtle"
	"net/http"
	"strconv"
	"strings"
)

// admin lets through requests that carry the admin token
// (Authorization: Bearer <token>) and answers 401 to the others. The token
// comes from -admin-token (or CHATSERVER_ADMIN_TOKEN), or is generated at
// start (see main). A real server checks its system-admin role instead.
//
// Failed attempts are rate-limited per client address (adminlimit.go): past
// the allowance, 429 with Retry-After, before the token is compared. Each
// failure is logged with the client address, never with what was sent.
func (s *server) admin(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		client := s.o.trustedProxies.client(r)
		if wait, blocked := s.adminFails.blocked(client); blocked {
			w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds(wait)))
			writeError(w, http.StatusTooManyRequests, "api.context.too_many_requests.app_error",
				"Too many requests without the right admin token from this address; try again later.")
			return
		}
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			_, tok, ok = r.BasicAuth() // a browser, for the test page: the token is the password
		}
		if !ok || s.o.adminToken == "" || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), []byte(s.o.adminToken)) != 1 {
			if ok { // a wrong token; a request without one (a browser's first) guesses nothing
				s.adminFails.failed(client)
				s.log.Warn("admin: refused a wrong admin token", "client", client.String(), "method", r.Method, "path", r.URL.Path)
			}
			w.Header().Add("WWW-Authenticate", `Bearer realm="chatserver admin"`)
			w.Header().Add("WWW-Authenticate", `Basic realm="chatserver admin", charset="UTF-8"`)
			writeError(w, http.StatusUnauthorized, "api.context.permissions.app_error",
				"This endpoint needs the admin token: Authorization: Bearer <admin token>.")
			return
		}
		h(w, r)
	}
}
