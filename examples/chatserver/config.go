package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mamlogin/mamlogin/examples/chatserver/sqlstore"
	"github.com/mamlogin/mamlogin/intune"
)

// The live Intune configuration.
//
// It lives in the database (one JSON document, versioned), so that every
// replica runs on the same one. An admin changes it through
// PUT /api/v4/intune/config on any replica: that replica checks it,
// applies it (LoginHandler.SetConfig, which fetches the new tenant's keys
// and refuses what it cannot serve), and only then saves it. The others
// learn of it through sqlstore's WatchConfig (PostgreSQL NOTIFY, or a poll
// of the SQLite file) and apply it the same way, without a restart.

// configDoc is the configuration as the admin endpoint and the database
// carry it: the fields of intune.Config an admin sets, with Leeway as a Go
// duration ("30s"). Unknown fields are refused (a misspelt field would
// otherwise be silently ignored).
type configDoc struct {
	Enable           bool     `json:"Enable"`
	AuthService      string   `json:"AuthService"`
	TenantID         string   `json:"TenantID"`
	ClientID         string   `json:"ClientID"`
	Authority        string   `json:"Authority,omitempty"`
	JWKSURL          string   `json:"JWKSURL,omitempty"`
	AllowedClientIDs []string `json:"AllowedClientIDs,omitempty"`
	Leeway           string   `json:"Leeway,omitempty"`
}

func docFrom(c intune.Config) configDoc {
	d := configDoc{Enable: c.Enable, AuthService: string(c.AuthService), TenantID: c.TenantID, ClientID: c.ClientID,
		Authority: c.Authority, JWKSURL: c.JWKSURL, AllowedClientIDs: c.AllowedClientIDs}
	if c.Leeway != 0 {
		d.Leeway = c.Leeway.String()
	}
	return d
}

// config is the intune.Config of d; a Leeway that is not a duration is a
// *intune.ConfigError naming it.
func (d configDoc) config() (intune.Config, error) {
	c := intune.Config{Enable: d.Enable, AuthService: intune.AuthService(d.AuthService), TenantID: d.TenantID,
		ClientID: d.ClientID, Authority: d.Authority, JWKSURL: d.JWKSURL, AllowedClientIDs: d.AllowedClientIDs}
	if d.Leeway != "" {
		l, err := time.ParseDuration(d.Leeway)
		if err != nil {
			return c, &intune.ConfigError{Field: "Leeway", Reason: fmt.Sprintf("%q is not a duration such as \"30s\"", d.Leeway)}
		}
		c.Leeway = l
	}
	return c, nil
}

// decodeDoc reads a configuration document onto base (a zero doc for PUT,
// for PATCH the stored one, freshly decoded: see liveConfig.change). What is wrong with it is a
// *intune.ConfigError naming the field where one is at fault.
func decodeDoc(body []byte, base configDoc) (configDoc, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	d := base // base must be the caller's own: the decoder writes a list into the array it finds
	err := dec.Decode(&d)
	if err == nil && dec.More() {
		err = errors.New("more than one JSON value")
	}
	if err == nil {
		return d, nil
	}
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &te):
		return d, &intune.ConfigError{Field: te.Field, Reason: fmt.Sprintf("is a JSON %s, expected %s", te.Value, te.Type)}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		return d, &intune.ConfigError{Field: name, Reason: "is not a configuration field (the fields are those of intune.Config: Enable, AuthService, TenantID, ClientID, Authority, JWKSURL, AllowedClientIDs, Leeway)"}
	}
	return d, fmt.Errorf("the body is not a JSON configuration: %w", err)
}

// liveConfig applies the stored configuration to the sign-in handler and
// keeps it applied. Admin changes and the watch are serialised by mu, so a
// replica never applies an older version over a newer one.
type liveConfig struct {
	db    *sqlstore.DB
	login *intune.LoginHandler
	log   *slog.Logger

	mu      sync.Mutex
	version int64         // the stored version applied; 0: none yet
	wake    chan struct{} // a version may have changed (capacity 1)
}

// applyTimeout bounds one SetConfig: the new tenant's first key fetch.
const applyTimeout = 15 * time.Second

func (lc *liveConfig) applied() int64 {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	return lc.version
}

// start stores def if the database has no configuration yet (replicas
// starting together store one default between them) and applies the
// stored one. If that fails, heal may fix it (see server.adopt);
// otherwise the failure is logged and sign-in stays off until an admin
// saves one that works: the server still starts, its database is fine.
func (lc *liveConfig) start(ctx context.Context, def configDoc, heal func(context.Context, configDoc, error) error) error {
	body, err := json.Marshal(def)
	if err != nil {
		return err
	}
	created, err := lc.db.InitConfig(ctx, body)
	if err != nil {
		return err
	}
	if created {
		lc.log.Info("intune: stored the default configuration", "config", string(body))
	}
	stored, err := lc.reload(ctx)
	var ce *intune.ConfigError
	if errors.As(err, &ce) && heal != nil {
		err = heal(ctx, stored, err)
	}
	switch {
	case errors.As(err, &ce):
		lc.log.Error("intune: the stored configuration cannot be applied; Intune sign-in is off until an admin saves one that works (PUT /api/v4/intune/config)",
			"field", ce.Field, "error", err)
	case err != nil:
		return err
	}
	return nil
}

// watch applies every version saved (by any replica) until ctx ends. A
// version that cannot be applied here is retried with backoff, and given up
// for a newer one as soon as one is saved.
func (lc *liveConfig) watch(ctx context.Context) {
	watching := make(chan struct{})
	go func() {
		defer close(watching)
		_ = lc.db.WatchConfig(ctx, func(int64) {
			select {
			case lc.wake <- struct{}{}:
			default: // a reload is pending already; it reads the newest version
			}
		})
	}()
	defer func() { <-watching }()
	const minBackoff, maxBackoff = time.Second, 30 * time.Second
	backoff := minBackoff
	var retry <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-lc.wake:
		case <-retry:
		}
		if _, err := lc.reload(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			lc.log.Error("intune: a stored configuration cannot be applied here; the current one keeps serving",
				"error", err, "retry_in", backoff)
			retry = time.After(backoff)
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		retry, backoff = nil, minBackoff
	}
}

// reload applies the stored configuration if it is newer than the one
// applied, and returns the stored document.
func (lc *liveConfig) reload(ctx context.Context) (configDoc, error) {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	body, version, err := lc.db.LoadConfig(ctx)
	if err != nil || body == nil {
		return configDoc{}, err
	}
	doc, err := decodeDoc(body, configDoc{})
	if err != nil || version <= lc.version {
		return doc, err
	}
	cfg, err := doc.config()
	if err == nil {
		actx, cancel := context.WithTimeout(ctx, applyTimeout)
		err = lc.login.SetConfig(actx, cfg)
		cancel()
	}
	if err != nil {
		return doc, fmt.Errorf("stored configuration version %d: %w", version, err)
	}
	lc.version = version
	lc.log.Info("intune: now on the stored configuration", "version", version)
	return doc, nil
}

// errNotSaved is a change that was valid and applied here but could not be
// saved: it was taken back.
type errNotSaved struct{ err error }

func (e errNotSaved) Error() string { return "the configuration could not be saved: " + e.err.Error() }
func (e errNotSaved) Unwrap() error { return e.err }

// errConflict is a change refused because the stored configuration is not
// the one it was made from: the admin's If-Match names another version
// (precondition), or another replica saved between this one's read and
// write (the compare-and-set lost). Nothing was changed.
type errConflict struct {
	stored       int64 // the stored version now, when known
	precondition bool  // If-Match named another version
}

func (e errConflict) Error() string {
	if e.precondition {
		return fmt.Sprintf("the configuration is at version %d, not the one If-Match names: read it again (GET), then change that", e.stored)
	}
	return "the configuration was changed meanwhile on another replica; nothing was changed: read it again (GET) and retry"
}

// change makes a new configuration from the stored one and puts it in
// force everywhere, all under mu: it reads the stored document (a fresh
// copy, decoded from the database, that no one else holds), makes the new
// one from it (edit), checks it, applies it here (SetConfig, which refuses
// what this replica cannot serve) and saves it if the stored version is
// still the one read (SaveConfigIf). So two changes on this replica are
// serialised, each made from the other's result; a change raced by another
// replica is refused as errConflict and taken back here; and a refused
// change leaves the stored and the live configuration as they were.
// ifVersion, when not 0, is the version the admin's change was made from
// (If-Match).
func (lc *liveConfig) change(ctx context.Context, ifVersion int64, edit func(stored configDoc) (configDoc, error)) (configDoc, int64, error) {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	body, version, err := lc.db.LoadConfig(ctx)
	if err != nil {
		return configDoc{}, 0, errNotSaved{err}
	}
	if ifVersion != 0 && ifVersion != version {
		return configDoc{}, 0, errConflict{stored: version, precondition: true}
	}
	stored := configDoc{}
	if body != nil {
		if stored, err = decodeDoc(body, configDoc{}); err != nil {
			return configDoc{}, 0, fmt.Errorf("stored configuration version %d: %w", version, err)
		}
	}
	doc, err := edit(stored)
	if err != nil {
		return configDoc{}, 0, err
	}
	cfg, err := doc.config()
	if err != nil {
		return configDoc{}, 0, err
	}
	if err := cfg.Check(); err != nil {
		return configDoc{}, 0, err
	}
	next, err := json.Marshal(doc)
	if err != nil {
		return configDoc{}, 0, err
	}
	old := lc.login.Config() // a copy: ours to restore
	actx, cancel := context.WithTimeout(ctx, applyTimeout)
	defer cancel()
	if err := lc.login.SetConfig(actx, cfg); err != nil {
		return configDoc{}, 0, err // refused: the handler kept what it had, nothing was saved
	}
	saved, err := lc.db.SaveConfigIf(ctx, next, version)
	if err != nil {
		if lc.version != 0 { // a handler that never had a configuration has none to go back to
			if rerr := lc.login.SetConfig(context.WithoutCancel(actx), old); rerr != nil {
				lc.log.Error("intune: taking back a configuration that could not be saved failed", "error", rerr)
			}
		}
		if errors.Is(err, sqlstore.ErrConfigConflict) {
			return configDoc{}, 0, errConflict{}
		}
		return configDoc{}, 0, errNotSaved{err}
	}
	lc.version = saved
	lc.log.Info("intune: configuration saved for every replica", "version", saved, "config", string(next))
	return docFrom(lc.login.Config()), saved, nil
}

// current is the configuration sign-ins run on now and its stored version,
// read together.
func (lc *liveConfig) current() (configDoc, int64) {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	return docFrom(lc.login.Config()), lc.version
}

// defaultConfig is what a new database starts with: the fake tenant (this
// server's own, or the one -authority names) for the -provider, with the
// shipping app's release and beta clients allowed. Without -dev and
// -authority there is no tenant to trust yet: Intune MAM starts disabled.
func (s *server) defaultConfig() configDoc {
	if s.tenant == nil && s.o.authority == "" {
		return configDoc{AuthService: string(s.o.provider)}
	}
	authority := s.o.authority
	if authority == "" {
		authority = s.base
	}
	return configDoc{Enable: true, AuthService: string(s.o.provider), TenantID: devTenantID, ClientID: devClientID,
		Authority: authority, AllowedClientIDs: intune.DefaultAllowedClientIDs()}
}

// ConfigVersionHeader carries the stored version of the configuration the
// admin endpoint answers with.
const ConfigVersionHeader = "X-Intune-Config-Version"

// getConfig answers the configuration sign-ins run on now, with its
// version (ETag and ConfigVersionHeader): a change made from it may say so
// with If-Match, and is then refused if another was saved meanwhile.
func (s *server) getConfig(w http.ResponseWriter, _ *http.Request) {
	doc, version := s.live.current()
	setVersion(w, version)
	writeJSON(w, http.StatusOK, doc)
}

func setVersion(w http.ResponseWriter, version int64) {
	w.Header().Set(ConfigVersionHeader, strconv.FormatInt(version, 10))
	w.Header().Set("ETag", strconv.Quote(strconv.FormatInt(version, 10)))
}

// ifMatch reads If-Match: a version as the ETag carries it ("7"), or
// none (0). "*" is any version.
func ifMatch(r *http.Request) (int64, error) {
	v := strings.TrimSpace(r.Header.Get("If-Match"))
	if v == "" || v == "*" {
		return 0, nil
	}
	n, err := strconv.ParseInt(strings.Trim(strings.TrimPrefix(v, "W/"), `"`), 10, 64)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("If-Match %q is not a configuration version (the ETag of GET /api/v4/intune/config)", v)
	}
	return n, nil
}

// changed is the answer to a change: the configuration now in force, and
// a warning when the change has a consequence the admin must know of.
type changed struct {
	configDoc
	Warning string `json:"warning,omitempty"`
}

// splitWarning says what changing the enforced provider does to users, who
// are keyed by provider and Entra objectId; "" when it does not change.
func splitWarning(from, to string) string {
	if strings.EqualFold(from, to) || from == "" || to == "" {
		return ""
	}
	return fmt.Sprintf("AuthService changed from %q to %q: users are keyed by provider and Entra objectId, so every user who signed in under %q signs in as a new account under %q (the old accounts stay, unused). "+
		"To keep them, change AuthService back, or move the accounts to the new provider first (Mattermost: mmctl user migrate-auth).", from, to, from, to)
}

// putConfig replaces (PUT) or amends (PATCH) the stored configuration: 400
// with the field named for one that is wrong or that this server cannot
// serve (its tenant's keys cannot be fetched), 412 when If-Match names a
// version that is no longer the stored one, 409 when another replica saved
// meanwhile, 200 with the configuration applied.
func (s *server) putConfig(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err != nil {
		writeError(w, http.StatusBadRequest, "api.intune.config.invalid.app_error", "reading the body: "+err.Error())
		return
	}
	want, err := ifMatch(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, "api.intune.config.invalid.app_error", err.Error())
		return
	}
	var from string
	doc, version, err := s.live.change(r.Context(), want, func(stored configDoc) (configDoc, error) {
		from = stored.AuthService
		if r.Method == http.MethodPatch {
			return decodeDoc(body, stored)
		}
		return decodeDoc(body, configDoc{})
	})
	var ce *intune.ConfigError
	var ns errNotSaved
	var conflict errConflict
	switch {
	case errors.As(err, &ce):
		writeJSON(w, http.StatusBadRequest, appError{ID: "api.intune.config.invalid.app_error", Message: err.Error(),
			Field: ce.Field, StatusCode: http.StatusBadRequest})
	case errors.As(err, &conflict):
		status := http.StatusConflict
		if conflict.precondition {
			status = http.StatusPreconditionFailed
		}
		writeError(w, status, "api.intune.config.conflict.app_error", err.Error())
	case errors.As(err, &ns):
		s.log.Error("intune: configuration change not saved", "error", err)
		writeError(w, http.StatusInternalServerError, "api.intune.config.save.app_error",
			"The configuration could not be saved; nothing was changed. Please try again later.")
	case err != nil:
		writeError(w, http.StatusBadRequest, "api.intune.config.invalid.app_error", err.Error())
	default:
		warning := splitWarning(from, doc.AuthService)
		if warning != "" {
			s.log.Warn("intune: the enforced provider changed: users split", "from", from, "to", doc.AuthService, "version", version)
		}
		setVersion(w, version)
		writeJSON(w, http.StatusOK, changed{configDoc: doc, Warning: warning})
	}
}
