package main

import (
	"errors"
	"net/http"
	"strings"

	"github.com/mamlogin/mamlogin/examples/chatserver/sqlstore"
	"github.com/mamlogin/mamlogin/intune"
)

// The app's calls after sign-in, on the session the sign-in issued: the
// bearer token from the Token header (Authorization: Bearer), or the
// MMAUTHTOKEN cookie.

// me returns the session's user: the app's first call after sign-in.
func (s *server) me(w http.ResponseWriter, r *http.Request) {
	u, ok := s.sessionUser(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, u.Profile)
}

// sessionUser answers 401 for a request without a live session (unknown,
// expired, revoked, or its user deactivated) and 500 when the database
// fails; ok reports that neither happened.
func (s *server) sessionUser(w http.ResponseWriter, r *http.Request) (*intune.User, bool) {
	u, err := s.sessions.SessionUser(r.Context(), sqlstore.TokenFromRequest(r))
	switch {
	case errors.Is(err, sqlstore.ErrNoSession):
		writeError(w, http.StatusUnauthorized, "api.context.session_expired.app_error", "Invalid or expired session, please login again.")
		return nil, false
	case err != nil:
		s.log.Error("session lookup failed", "error", err)
		writeError(w, http.StatusInternalServerError, "app.session.get.app_error", "We encountered an error finding the session.")
		return nil, false
	}
	return u, true
}

// logout revokes the session and clears its cookies. A session carried by
// cookie must also show it came from the app or the web client (as
// Mattermost asks): X-Requested-With: XMLHttpRequest, or the MMCSRF
// cookie's value in X-CSRF-Token. A cross-site form can send neither.
func (s *server) logout(w http.ResponseWriter, r *http.Request) {
	if _, bearer := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); !bearer && !csrfOK(r) {
		writeError(w, http.StatusUnauthorized, "api.context.session_expired.app_error", "Invalid or expired session, please login again.")
		return
	}
	err := s.sessions.RevokeSession(r.Context(), sqlstore.TokenFromRequest(r))
	if err != nil && !errors.Is(err, sqlstore.ErrNoSession) {
		s.log.Error("logout failed", "error", err)
		writeError(w, http.StatusInternalServerError, "app.session.revoke.app_error", "We encountered an error signing you out.")
		return
	}
	for _, name := range []string{sqlstore.CookieToken, sqlstore.CookieUserID, sqlstore.CookieCSRF} {
		http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1, HttpOnly: name == sqlstore.CookieToken,
			Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode})
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "OK"})
}

func csrfOK(r *http.Request) bool {
	if strings.EqualFold(r.Header.Get("X-Requested-With"), "XMLHttpRequest") {
		return true
	}
	c, err := r.Cookie(sqlstore.CookieCSRF)
	return err == nil && c.Value != "" && r.Header.Get("X-CSRF-Token") == c.Value
}
