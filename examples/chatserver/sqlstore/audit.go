package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// AuditRecord is one sign-in attempt, as the audit table keeps it.
type AuditRecord struct {
	ID        int64           `json:"id"`         // assigned by the store, increasing
	At        time.Time       `json:"at"`         // when; zero: the store's clock at insert (stored to the millisecond)
	RequestID string          `json:"request_id"` // the request's id, to join with logs
	Outcome   string          `json:"outcome"`    // e.g. "ok", or the error id the app was sent
	Status    int             `json:"status"`     // HTTP status answered
	UserID    string          `json:"user_id"`    // empty when no user was resolved
	OID       string          `json:"oid"`        // the token's objectId, when it got that far
	Provider  string          `json:"provider"`   // the auth service (openid, office365, saml)
	Detail    json.RawMessage `json:"detail,omitempty"`
}

// DefaultAuditLimit is what AuditRecords returns at most when asked for 0.
const DefaultAuditLimit = 100

// Audit inserts one audit record. ID is ignored (the store assigns it); a
// non-empty Detail must be JSON.
func (db *DB) Audit(ctx context.Context, rec AuditRecord) error {
	return db.AuditBatch(ctx, []AuditRecord{rec})
}

// AuditBatch inserts records in one transaction, in order: all or none. A
// writer that keeps up with thousands of sign-ins a second batches: one
// commit (one fsync) per batch instead of per record. A record whose
// Detail is not JSON fails the batch before anything is written.
func (db *DB) AuditBatch(ctx context.Context, recs []AuditRecord) error {
	details := make([]sql.NullString, len(recs))
	for i, rec := range recs {
		if len(rec.Detail) > 0 {
			if !json.Valid(rec.Detail) {
				return fmt.Errorf("sqlstore: audit: record %d: detail is not JSON", i)
			}
			details[i] = sql.NullString{String: string(rec.Detail), Valid: true}
		}
	}
	if len(recs) == 0 {
		return nil
	}
	now := db.now()
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		for i, rec := range recs {
			if rec.At.IsZero() {
				rec.At = now
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO audit (at, request_id, outcome, status, user_id, oid, provider, detail)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
				millis(rec.At), rec.RequestID, rec.Outcome, rec.Status, rec.UserID, rec.OID, rec.Provider, details[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlstore: audit: %w", err)
	}
	return nil
}

// AuditRecords returns the newest limit records, newest first (limit <= 0:
// DefaultAuditLimit).
func (db *DB) AuditRecords(ctx context.Context, limit int) ([]AuditRecord, error) {
	if limit <= 0 {
		limit = DefaultAuditLimit
	}
	rows, err := db.sql.QueryContext(ctx, `SELECT id, at, request_id, outcome, status, user_id, oid, provider, detail
		FROM audit ORDER BY id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: audit records: %w", err)
	}
	defer rows.Close()
	var recs []AuditRecord
	for rows.Next() {
		var r AuditRecord
		var at int64
		var detail sql.NullString
		if err := rows.Scan(&r.ID, &at, &r.RequestID, &r.Outcome, &r.Status, &r.UserID, &r.OID, &r.Provider, &detail); err != nil {
			return nil, fmt.Errorf("sqlstore: audit records: %w", err)
		}
		r.At = time.UnixMilli(at)
		if detail.Valid {
			r.Detail = json.RawMessage(detail.String)
		}
		recs = append(recs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: audit records: %w", err)
	}
	return recs, nil
}

// PruneAudit deletes the records older than maxAge (0: no age bound) and
// all but the newest maxRecords (0: no count bound), and returns how many
// it deleted. Replicas may all prune: the deletes are idempotent.
func (db *DB) PruneAudit(ctx context.Context, maxAge time.Duration, maxRecords int64) (int64, error) {
	var deleted int64
	del := func(q string, arg any) error {
		res, err := db.exec(ctx, q, arg)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		deleted += n
		return err
	}
	if maxAge > 0 {
		if err := del(`DELETE FROM audit WHERE at < $1`, millis(db.now().Add(-maxAge))); err != nil {
			return deleted, fmt.Errorf("sqlstore: prune audit by age: %w", err)
		}
	}
	if maxRecords > 0 {
		// The id of the newest record beyond the bound: it and every older
		// one go (ids increase with inserts).
		if err := del(`DELETE FROM audit WHERE id <= (SELECT id FROM audit ORDER BY id DESC LIMIT 1 OFFSET $1)`, maxRecords); err != nil {
			return deleted, fmt.Errorf("sqlstore: prune audit by count: %w", err)
		}
	}
	return deleted, nil
}
