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
	"slices"
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
// the current one for PATCH). What is wrong with it is a
// *intune.ConfigError naming the field where one is at fault.
func decodeDoc(body []byte, base configDoc) (configDoc, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	d := base
	// The decoder writes a list into the array it finds: base's is not ours.
	d.AllowedClientIDs = slices.Clone(base.AllowedClientIDs)
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

// change applies doc here, then saves it for the other replicas. A
// configuration this replica cannot serve is never saved; one that cannot
// be saved is taken back here.
func (lc *liveConfig) change(ctx context.Context, doc configDoc) (int64, error) {
	cfg, err := doc.config()
	if err != nil {
		return 0, err
	}
	if err := cfg.Check(); err != nil {
		return 0, err
	}
	body, err := json.Marshal(doc)
	if err != nil {
		return 0, err
	}
	lc.mu.Lock()
	defer lc.mu.Unlock()
	old := lc.login.Config()
	actx, cancel := context.WithTimeout(ctx, applyTimeout)
	defer cancel()
	if err := lc.login.SetConfig(actx, cfg); err != nil {
		return 0, err
	}
	version, err := lc.db.SaveConfig(ctx, body)
	if err != nil {
		if rerr := lc.login.SetConfig(context.WithoutCancel(actx), old); rerr != nil {
			lc.log.Error("intune: taking back a configuration that could not be saved failed", "error", rerr)
		}
		return 0, errNotSaved{err}
	}
	lc.version = version
	lc.log.Info("intune: configuration saved for every replica", "version", version, "config", string(body))
	return version, nil
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

// getConfig answers the configuration sign-ins run on now.
func (s *server) getConfig(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set(ConfigVersionHeader, strconv.FormatInt(s.live.applied(), 10))
	writeJSON(w, http.StatusOK, docFrom(s.login.Config()))
}

// putConfig replaces (PUT) or amends (PATCH) the configuration: 400 with
// the field named for one that is wrong or that this server cannot serve
// (its tenant's keys cannot be fetched), 200 with the configuration applied.
func (s *server) putConfig(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err != nil {
		writeError(w, http.StatusBadRequest, "api.intune.config.invalid.app_error", "reading the body: "+err.Error())
		return
	}
	base := configDoc{}
	if r.Method == http.MethodPatch {
		base = docFrom(s.login.Config())
	}
	doc, err := decodeDoc(body, base)
	var version int64
	if err == nil {
		version, err = s.live.change(r.Context(), doc)
	}
	var ce *intune.ConfigError
	var ns errNotSaved
	switch {
	case errors.As(err, &ce):
		writeJSON(w, http.StatusBadRequest, appError{ID: "api.intune.config.invalid.app_error", Message: err.Error(),
			Field: ce.Field, StatusCode: http.StatusBadRequest})
	case errors.As(err, &ns):
		s.log.Error("intune: configuration change not saved", "error", err)
		writeError(w, http.StatusInternalServerError, "api.intune.config.save.app_error",
			"The configuration could not be saved; nothing was changed. Please try again later.")
	case err != nil:
		writeError(w, http.StatusBadRequest, "api.intune.config.invalid.app_error", err.Error())
	default:
		w.Header().Set(ConfigVersionHeader, strconv.FormatInt(version, 10))
		writeJSON(w, http.StatusOK, docFrom(s.login.Config()))
	}
}
