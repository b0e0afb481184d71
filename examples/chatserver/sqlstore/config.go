package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// ConfigChannel is the PostgreSQL NOTIFY channel SaveConfig signals on, with
// the new version as payload.
const ConfigChannel = "intune_config"

// ConfigPollInterval is how often WatchConfig reads the version on SQLite,
// which has no notifications. A SQLite file has one host, and reading one
// row of it costs microseconds, so polling is the equivalent there.
const ConfigPollInterval = 500 * time.Millisecond

// Reconnection and liveness of WatchConfig's PostgreSQL connection.
const (
	watchMinBackoff = 100 * time.Millisecond
	watchMaxBackoff = 10 * time.Second
	// watchIdle is how long a quiet LISTEN waits before it pings the
	// server: a connection dropped by the network, not closed by the
	// server, would otherwise go unnoticed until TCP keepalive.
	watchIdle = 30 * time.Second
	// watchAppName marks the LISTEN connection in pg_stat_activity.
	watchAppName = "sqlstore-config-watch"
)

// LoadConfig returns the stored Intune configuration (a JSON document) and
// its version; nil, 0 when none was ever saved.
func (db *DB) LoadConfig(ctx context.Context) (body []byte, version int64, err error) {
	var s string
	err = db.sql.QueryRowContext(ctx, `SELECT body, version FROM intune_config WHERE id = 1`).Scan(&s, &version)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("sqlstore: load config: %w", err)
	}
	return []byte(s), version, nil
}

// SaveConfig stores the Intune configuration (a JSON document) and returns
// its new version, one more than the last. On PostgreSQL it also sends
// NOTIFY intune_config with the version, in the same transaction: the
// notification is delivered if and only if the save commits, and only after
// it, so a replica that reloads on it reads the new body.
func (db *DB) SaveConfig(ctx context.Context, body []byte) (version int64, err error) {
	if !json.Valid(body) {
		return 0, errors.New("sqlstore: save config: body is not JSON")
	}
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		// The upsert takes the row's lock, so concurrent saves get
		// consecutive versions.
		err := tx.QueryRowContext(ctx, `INSERT INTO intune_config (id, version, body, update_at) VALUES (1, 1, $1, $2)
			ON CONFLICT (id) DO UPDATE SET version = intune_config.version + 1, body = excluded.body, update_at = excluded.update_at
			RETURNING version`, string(body), millis(db.now())).Scan(&version)
		if err != nil {
			return err
		}
		if db.engine == EnginePostgres {
			_, err = tx.ExecContext(ctx, `SELECT pg_notify($1, $2)`, ConfigChannel, strconv.FormatInt(version, 10))
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("sqlstore: save config: %w", err)
	}
	return version, nil
}

// ErrConfigConflict is SaveConfigIf's answer when the stored version is no
// longer the one the change was made from: another writer (another admin,
// another replica) saved in between.
var ErrConfigConflict = errors.New("sqlstore: the configuration was changed meanwhile")

// SaveConfigIf stores body as SaveConfig does, but only if the stored
// version is still version (0: none stored yet); otherwise it stores
// nothing and returns ErrConfigConflict. It is a compare-and-set on the
// version: of two replicas that read the same version and write at once,
// one wins and the other is told, so no update is silently lost. On
// PostgreSQL the UPDATE re-checks its WHERE on the row a concurrent
// transaction committed; on SQLite writers are serialised anyway.
func (db *DB) SaveConfigIf(ctx context.Context, body []byte, version int64) (int64, error) {
	if !json.Valid(body) {
		return 0, errors.New("sqlstore: save config: body is not JSON")
	}
	var saved int64
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		q := `UPDATE intune_config SET version = version + 1, body = $1, update_at = $2 WHERE id = 1 AND version = $3 RETURNING version`
		if version == 0 {
			q = `INSERT INTO intune_config (id, version, body, update_at) VALUES (1, 1, $1, $2) ON CONFLICT (id) DO NOTHING RETURNING version`
		}
		args := []any{string(body), millis(db.now())}
		if version != 0 {
			args = append(args, version)
		}
		if err := tx.QueryRowContext(ctx, q, args...).Scan(&saved); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return ErrConfigConflict
			}
			return err
		}
		if db.engine == EnginePostgres {
			_, err := tx.ExecContext(ctx, `SELECT pg_notify($1, $2)`, ConfigChannel, strconv.FormatInt(saved, 10))
			return err
		}
		return nil
	})
	if errors.Is(err, ErrConfigConflict) {
		return 0, ErrConfigConflict
	}
	if err != nil {
		return 0, fmt.Errorf("sqlstore: save config: %w", err)
	}
	return saved, nil
}

// InitConfig stores body as the configuration's first version unless one
// was saved before, and reports whether it did. Replicas starting together
// on an empty database may all call it with their default: one wins, and
// the others keep what LoadConfig then returns. On PostgreSQL the insert
// is notified as SaveConfig's are.
func (db *DB) InitConfig(ctx context.Context, body []byte) (created bool, err error) {
	if !json.Valid(body) {
		return false, errors.New("sqlstore: init config: body is not JSON")
	}
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO intune_config (id, version, body, update_at) VALUES (1, 1, $1, $2)
			ON CONFLICT (id) DO NOTHING`, string(body), millis(db.now()))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		created = n == 1
		if created && db.engine == EnginePostgres {
			_, err = tx.ExecContext(ctx, `SELECT pg_notify($1, '1')`, ConfigChannel)
		}
		return err
	})
	if err != nil {
		return false, fmt.Errorf("sqlstore: init config: %w", err)
	}
	return created, nil
}

// WatchConfig calls changed with the configuration's version whenever it
// may have changed, until ctx is done; then it returns ctx.Err(). changed
// runs on WatchConfig's goroutine, one call at a time; it should reload
// (LoadConfig) when the version is newer than the one it has, since a
// version can be reported more than once.
//
// On PostgreSQL it LISTENs on intune_config on a connection of its own (not
// from the pool, which would hand it to other queries), and calls changed
// once with the current version after every (re)connect, so that saves made
// while it was disconnected are not missed; then once per notification. A
// lost connection is reopened with exponential backoff.
//
// On SQLite it reads the version every ConfigPollInterval, calling changed
// first with the current version and then whenever it differs.
func (db *DB) WatchConfig(ctx context.Context, changed func(version int64)) error {
	if db.engine == EnginePostgres {
		return db.listenConfig(ctx, changed)
	}
	return db.pollConfig(ctx, changed)
}

func (db *DB) configVersion(ctx context.Context) (int64, error) {
	var v int64
	err := db.sql.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM intune_config`).Scan(&v)
	return v, err
}

func (db *DB) pollConfig(ctx context.Context, changed func(int64)) error {
	tick := time.NewTicker(ConfigPollInterval)
	defer tick.Stop()
	last := int64(-1)
	for {
		// An error (a busy or closed database) is retried at the next tick.
		if v, err := db.configVersion(ctx); err == nil && v != last {
			last = v
			changed(v)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

func (db *DB) listenConfig(ctx context.Context, changed func(int64)) error {
	cfg, err := pgx.ParseConfig(db.dsn)
	if err != nil {
		return fmt.Errorf("sqlstore: watch config: %w", err)
	}
	cfg.RuntimeParams["application_name"] = watchAppName
	backoff := watchMinBackoff
	for {
		connected, err := db.listenOnce(ctx, cfg, changed)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		db.logger().Warn("sqlstore: config watch: connection lost; reconnecting", "err", err, "backoff", backoff)
		if connected {
			backoff = watchMinBackoff
		}
		// Jitter keeps replicas that lost the server together from all
		// reconnecting in the same instant.
		wait := backoff/2 + rand.N(backoff/2+1)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		backoff = min(2*backoff, watchMaxBackoff)
	}
}

// listenOnce connects, LISTENs and reports versions until the connection
// fails or ctx is done. connected says whether it got as far as LISTEN.
func (db *DB) listenOnce(ctx context.Context, cfg *pgx.ConnConfig, changed func(int64)) (connected bool, err error) {
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return false, err
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = conn.Close(closeCtx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{ConfigChannel}.Sanitize()); err != nil {
		return false, err
	}
	// Read the version after LISTEN: a save that commits before this read is
	// in it, one that commits after is notified.
	version := func() (int64, error) {
		var v int64
		err := conn.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM intune_config`).Scan(&v)
		return v, err
	}
	v, err := version()
	if err != nil {
		return false, err
	}
	changed(v)
	for {
		waitCtx, cancel := context.WithTimeout(ctx, watchIdle)
		n, err := conn.WaitForNotification(waitCtx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return true, ctx.Err()
			}
			if waitCtx.Err() != nil { // quiet for watchIdle: is the server still there?
				if err := conn.Ping(ctx); err != nil {
					return true, err
				}
				continue
			}
			return true, err
		}
		v, err := strconv.ParseInt(n.Payload, 10, 64)
		if err != nil { // a NOTIFY not sent by SaveConfig: read the version
			if v, err = version(); err != nil {
				return true, err
			}
		}
		changed(v)
	}
}
