package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/mamlogin/mamlogin/examples/chatserver/sqlstore"
	"github.com/mamlogin/mamlogin/intune"
)

// The audit trail: one record per sign-in attempt, in the database, written
// from the sign-in handler's events (intune.WithEvents). Events arrive on a
// goroutine of the handler's, so a slow or failing database never delays or
// fails a sign-in; at worst records are lost, and logged.
//
// The receiver only queues the record; a writer goroutine inserts what has
// queued in one transaction (sqlstore's AuditBatch). One insert and commit
// per record cannot keep up with a busy server (on SQLite, a few hundred a
// second); the handler would then drop events once its buffer is full.

const (
	auditTimeout  = 5 * time.Second // bounds one batch write
	auditQueue    = 4096            // records queued for the writer
	maxAuditBatch = 512             // records per transaction at most

	// A database that fails every write is logged at most this often (the
	// sign-in handler's failure-log rate), not once per batch.
	auditLogPerSecond = 10
	auditLogBurst     = 100

	// The trail's retention (flags -audit-max-age and -audit-max-records):
	// pruned at start and then every auditPruneEvery.
	defaultAuditMaxAge     = 90 * 24 * time.Hour
	defaultAuditMaxRecords = 1_000_000
	auditPruneEvery        = time.Hour
)

// auditDetail is the record's detail JSON: what an admin needs to follow
// one attempt, never the token.
type auditDetail struct {
	Replica       string  `json:"replica"` // the server that answered
	DurationMS    float64 `json:"duration_ms"`
	Created       bool    `json:"created,omitempty"` // this sign-in created the user
	HasDeviceID   bool    `json:"has_device_id"`
	HasVoIPDevice bool    `json:"has_voip_device_id"`
	Reason        string  `json:"reason,omitempty"` // why it failed (internal: admins only)
	TenantID      string  `json:"tid,omitempty"`
	Audience      string  `json:"aud,omitempty"`
	AuthorizedBy  string  `json:"azp,omitempty"`
	KeyID         string  `json:"kid,omitempty"`
	Issuer        string  `json:"iss,omitempty"`
	Version       string  `json:"ver,omitempty"`
	// Verified is false when the token facts are a rejected token's claims
	// (its words, not facts); then oid is left out of the record.
	Verified     bool   `json:"verified"`
	ClaimedOID   string `json:"claimed_oid,omitempty"`
	ExpiresAtSec int64  `json:"exp,omitempty"`
}

// audit queues the record of one sign-in attempt (the WithEvents
// receiver). When the queue is full it waits, on the handler's event
// goroutine, never on a sign-in: the handler buffers, then drops and counts.
func (s *server) audit(e intune.SignInEvent) {
	d := auditDetail{Replica: s.base, DurationMS: float64(e.Duration.Microseconds()) / 1000, Created: e.Created,
		HasDeviceID: e.HasDeviceID, HasVoIPDevice: e.HasVoIPDeviceID, Reason: e.Reason,
		TenantID: e.Token.TenantID, Audience: e.Token.Audience, AuthorizedBy: e.Token.AuthorizedParty,
		KeyID: e.Token.KeyID, Issuer: e.Token.Issuer, Version: e.Token.Version, Verified: e.Token.Verified,
		ExpiresAtSec: e.Token.ExpiresAt}
	oid := e.Token.ObjectID
	if !e.Token.Verified {
		d.ClaimedOID, oid = oid, ""
	}
	detail, err := json.Marshal(d)
	if err != nil {
		s.log.Error("audit: encoding the detail", "request_id", e.RequestID, "error", err)
		detail = nil
	}
	rec := sqlstore.AuditRecord{At: e.Start, RequestID: e.RequestID, Outcome: e.Outcome, Status: e.Status,
		UserID: e.UserID, OID: oid, Provider: string(e.Provider), Detail: detail}
	select {
	case s.auditQ <- rec:
	case <-s.auditQuit: // closing, after the wait for the trail timed out
		s.log.Warn("audit: the record of a sign-in was not written: the server is closing", "request_id", e.RequestID)
		s.audited.Add(1)
	}
}

// writeAudit inserts the queued records, as many as have queued at once in
// one transaction, until auditQuit is closed.
func (s *server) writeAudit() {
	defer close(s.auditDone)
	batch := make([]sqlstore.AuditRecord, 0, maxAuditBatch)
	for {
		select {
		case rec := <-s.auditQ:
			batch = append(batch[:0], rec)
		case <-s.auditQuit:
			return
		}
	more:
		for len(batch) < maxAuditBatch {
			select {
			case rec := <-s.auditQ:
				batch = append(batch, rec)
			default:
				break more
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), auditTimeout)
		if err := s.db.AuditBatch(ctx, batch); err != nil {
			s.auditFailed.Add(int64(len(batch)))
			if s.auditLog.Allow() {
				s.log.Warn("audit: sign-in records were not written", "records", len(batch),
					"first_request_id", batch[0].RequestID, "error", err, "lost_so_far", s.auditFailed.Load())
			}
		}
		cancel()
		s.audited.Add(int64(len(batch)))
	}
}

// maxAuditLimit bounds GET /api/v4/intune/audit?limit=N.
const maxAuditLimit = 1000

// getAudit answers the newest audit records, newest first (limit: 1 to
// 1000, default 100).
func (s *server) getAudit(w http.ResponseWriter, r *http.Request) {
	limit := sqlstore.DefaultAuditLimit
	if q := r.URL.Query().Get("limit"); q != "" {
		n, err := strconv.Atoi(q)
		if err != nil || n < 1 || n > maxAuditLimit {
			writeError(w, http.StatusBadRequest, "api.intune.audit.limit.app_error", "limit must be a number from 1 to 1000.")
			return
		}
		limit = n
	}
	recs, err := s.db.AuditRecords(r.Context(), limit)
	if err != nil {
		s.log.Error("audit: reading records", "error", err)
		writeError(w, http.StatusInternalServerError, "api.intune.audit.read.app_error", "The audit records could not be read.")
		return
	}
	if recs == nil {
		recs = []sqlstore.AuditRecord{}
	}
	writeJSON(w, http.StatusOK, recs)
}

// pruneAuditEvery applies the retention bounds now and then every interval
// until ctx ends. Replicas each prune: the deletes are idempotent.
func (s *server) pruneAuditEvery(ctx context.Context, every time.Duration) {
	if s.o.auditMaxAge <= 0 && s.o.auditMaxRecords <= 0 {
		return
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		s.pruneAudit(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// pruneAudit deletes the records beyond the retention bounds once.
func (s *server) pruneAudit(ctx context.Context) {
	n, err := s.db.PruneAudit(ctx, s.o.auditMaxAge, s.o.auditMaxRecords)
	switch {
	case err != nil && ctx.Err() == nil:
		s.log.Warn("audit: pruning old records failed; retried at the next interval", "error", err)
	case n > 0:
		s.log.Info("audit: pruned records beyond the retention bounds", "deleted", n,
			"max_age", s.o.auditMaxAge, "max_records", s.o.auditMaxRecords)
	}
}
