package main

import (
	"crypto/subtle"
	"net/http"
	"strings"
)

// admin lets through requests that carry the admin token
// (Authorization: Bearer <token>) and answers 401 to the others. The token
// comes from -admin-token (or CHATSERVER_ADMIN_TOKEN), or is generated at
// start (see main). A real server checks its system-admin role instead.
func (s *server) admin(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			_, tok, ok = r.BasicAuth() // a browser, for the test page: the token is the password
		}
		if !ok || s.o.adminToken == "" || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), []byte(s.o.adminToken)) != 1 {
			w.Header().Add("WWW-Authenticate", `Bearer realm="chatserver admin"`)
			w.Header().Add("WWW-Authenticate", `Basic realm="chatserver admin", charset="UTF-8"`)
			writeError(w, http.StatusUnauthorized, "api.context.permissions.app_error",
				"This endpoint needs the admin token: Authorization: Bearer <admin token>.")
			return
		}
		h(w, r)
	}
}
