// Package sqlstore is the reference SQL store for Intune sign-in: users
// found by Entra objectId, Mattermost-like sessions, the live Intune
// configuration shared by replicas, and a sign-in audit trail.
//
// This is the reference store the example chat server uses. Copy it into
// your server and adapt it to your own user and session tables; do not
// import it (it is an example, and its API follows the example's needs).
//
// One schema and one store type serve both engines, through database/sql:
// PostgreSQL (pgx) for a server with replicas, SQLite (modernc.org/sqlite,
// pure Go, no cgo) for a single process. The SQL is written once, in the
// common subset of the two (positional $N parameters, ON CONFLICT,
// RETURNING); the only per-engine DDL is the audit table's auto-increment
// column. What differs at run time is PostgreSQL-only: the advisory lock
// around migrations and NOTIFY/LISTEN for configuration changes, which
// SQLite replaces with its write lock and polling.
//
// What it implements for package intune:
//
//   - [Users] is an [intune.UserStore]: exact (auth_service, auth_data)
//     lookup, just-in-time creation that relies on the unique constraint, one
//     account per email address (another account's address is
//     [intune.ErrEmailInUse], naming it), and attribute sync.
//   - [Sessions] is an [intune.SessionIssuer]: it stores a hash of a random
//     bearer token, revokes the device's other sessions in the same
//     transaction, and sets the Token header and MMAUTHTOKEN, MMUSERID and
//     MMCSRF cookies.
//
// And for the host around it: the live configuration ([DB.InitConfig],
// [DB.LoadConfig], [DB.SaveConfig], [DB.WatchConfig]), the audit trail
// ([DB.Audit]) and settings made once and shared by replicas
// ([DB.SettingOnce]).
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	"modernc.org/sqlite"               // registers "sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Engine names, as (*DB).Engine reports them.
const (
	EngineSQLite   = "sqlite"
	EnginePostgres = "postgres"
)

// DB is an open store. It is safe for concurrent use.
type DB struct {
	// Now is the clock for every timestamp the store writes and for session
	// expiry; nil means time.Now. Tests set it to move time without sleeping.
	// Set it before the DB is shared between goroutines.
	Now func() time.Time
	// Logger receives what WatchConfig retries (lost connections) and the
	// sessions a sign-in revokes on its device; nil means no logging.
	Logger *slog.Logger

	sql    *sql.DB
	engine string
	dsn    string // for the PostgreSQL LISTEN connection, which is not pooled

	// writeTurn, on SQLite only, is held by the one write of this process
	// that may run: see takeWriteTurn.
	writeTurn chan struct{}
}

// sqliteBusyTimeout is how long a SQLite write waits for another writer
// (SQLite has one writer at a time, even in WAL mode) before SQLITE_BUSY.
const sqliteBusyTimeout = 10 * time.Second

// Open opens the store and brings its schema up to date. A DSN starting
// with postgres:// or postgresql:// is a PostgreSQL server (pgx's syntax);
// anything else is the path of a SQLite file, created if missing (its
// directory must exist; ":memory:" is refused, as each pooled connection
// would get a database of its own). SQLite is opened in WAL mode (readers
// do not block the writer), its writes taking turns (see takeWriteTurn),
// with a busy timeout (for other processes' writes) and foreign keys on
// (SQLite's default is off, per connection).
func Open(ctx context.Context, dsn string) (*DB, error) {
	db := &DB{dsn: dsn}
	var err error
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		db.engine = EnginePostgres
		db.sql, err = sql.Open("pgx", dsn)
	} else {
		db.engine = EngineSQLite
		db.writeTurn = make(chan struct{}, 1)
		db.sql, err = sql.Open("sqlite", sqliteDSN(dsn))
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: open %s: %w", db.engine, err)
	}
	if db.engine == EngineSQLite {
		if err := db.enableWAL(ctx); err != nil {
			db.sql.Close()
			return nil, err
		}
	}
	db.SetPool(DefaultPool)
	if err := db.migrate(ctx); err != nil {
		db.sql.Close()
		return nil, err
	}
	return db, nil
}

// Pool bounds the store's connections. database/sql's defaults suit
// neither engine under load: no cap on open connections (a burst of
// sign-ins can exhaust PostgreSQL's max_connections, shared by every
// replica), and 2 idle ones kept (the rest are closed as each burst ends
// and opened again by the next: a connection per few dozen sign-ins, each a
// PostgreSQL backend process forked and authenticated).
type Pool struct {
	MaxOpen     int           // connections open at most (in use or idle); requests beyond wait for one
	MaxIdle     int           // idle connections kept; at most MaxOpen
	MaxIdleTime time.Duration // an idle connection is closed after this
	MaxLifetime time.Duration // a connection is closed after this, so that a fail-over or a new server is picked up
}

// DefaultPool is what Open sets: 20 open and 20 idle connections per
// process (replicas times MaxOpen must stay under PostgreSQL's
// max_connections, 100 by default, with room for the admin's tools),
// idle ones closed after 5 minutes, every one renewed after 30.
var DefaultPool = Pool{MaxOpen: 20, MaxIdle: 20, MaxIdleTime: 5 * time.Minute, MaxLifetime: 30 * time.Minute}

// SetPool applies p to the store's connection pool (the WatchConfig
// connection on PostgreSQL is outside it, one more per process). A
// MaxIdle above MaxOpen is lowered to it.
func (db *DB) SetPool(p Pool) {
	db.sql.SetMaxOpenConns(p.MaxOpen)
	idle := p.MaxIdle
	if p.MaxOpen > 0 {
		idle = min(idle, p.MaxOpen)
	}
	db.sql.SetMaxIdleConns(idle)
	db.sql.SetConnMaxIdleTime(p.MaxIdleTime)
	db.sql.SetConnMaxLifetime(p.MaxLifetime)
}

// sqliteDSN adds the connection settings to a SQLite path. modernc applies
// them to every new connection of the pool, which matters because SQLite's
// foreign_keys and busy_timeout are per-connection settings.
// _txlock=immediate makes every transaction take the write lock at BEGIN:
// a deferred transaction that reads and then writes can fail with
// SQLITE_BUSY at once, without waiting, when another writer got there first.
// WAL is not here but in enableWAL: see there.
//
// A busy_timeout the DSN sets itself ("chat.db?_pragma=busy_timeout(200)")
// is kept: a host that prefers a fast 500 to a queued write can say so.
func sqliteDSN(path string) string {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	settings := "_pragma=foreign_keys(1)&_txlock=immediate"
	if !strings.Contains(strings.ToLower(path), "busy_timeout") {
		settings = fmt.Sprintf("_pragma=busy_timeout(%d)&", sqliteBusyTimeout.Milliseconds()) + settings
	}
	return path + sep + settings
}

// enableWAL puts the SQLite file in WAL mode, which is persistent: it is
// recorded in the file, and every later connection uses it.
//
// It is not a DSN pragma, run as each connection opens: that way,
// concurrent first Opens of a new file failed (about one in twenty, in the
// tests) with SQLITE_BUSY while opening a connection, busy timeout
// notwithstanding. Switching a file to WAL takes an exclusive lock, and
// SQLite does not always wait for it. So it is done here, once per Open,
// on an open connection, and retried on SQLITE_BUSY for as long as the busy
// timeout. Once the file is in WAL mode the pragma changes nothing.
func (db *DB) enableWAL(ctx context.Context) error {
	deadline := time.Now().Add(sqliteBusyTimeout)
	retry := time.NewTicker(20 * time.Millisecond)
	defer retry.Stop()
	for {
		var mode string
		err := db.sql.QueryRowContext(ctx, `PRAGMA journal_mode = WAL`).Scan(&mode)
		if err == nil {
			if !strings.EqualFold(mode, "wal") { // ":memory:" says "memory": not a file
				return fmt.Errorf("sqlstore: open sqlite: journal mode is %q, not WAL; is the DSN a file path?", mode)
			}
			return nil
		}
		var se *sqlite.Error
		if !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_BUSY || time.Now().After(deadline) {
			return fmt.Errorf("sqlstore: open sqlite: enabling WAL: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-retry.C:
		}
	}
}

// Close closes the store's connections. A WatchConfig in progress on
// PostgreSQL has its own connection and ends with its context.
func (db *DB) Close() error { return db.sql.Close() }

// Engine is "sqlite" or "postgres".
func (db *DB) Engine() string { return db.engine }

// SQL is the underlying pool, for the host's own tables and for tests. The
// store's queries use positional $N parameters, which both drivers accept.
func (db *DB) SQL() *sql.DB { return db.sql }

func (db *DB) logger() *slog.Logger {
	if db.Logger != nil {
		return db.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func (db *DB) now() time.Time {
	if db.Now != nil {
		return db.Now()
	}
	return time.Now()
}

// millis is the store's time format: Unix milliseconds, as Mattermost's
// create_at and update_at. An integer compares and indexes the same on both
// engines, which timestamps and their time zones do not.
func millis(t time.Time) int64 { return t.UnixMilli() }

// takeWriteTurn waits, on SQLite, until no other write of this process
// runs, and returns what ends the turn. On PostgreSQL, whose writers do not
// exclude each other, it returns at once.
//
// SQLite has one writer at a time, and its busy timeout is not a queue: a
// writer that finds the lock taken sleeps and tries again, and a writer
// that commits and begins again at once (the audit writer, under a burst of
// sign-ins) takes the lock back before the sleeper wakes. In the tests the
// configuration's first write starved so for the whole busy timeout, and
// failed. Waiting here instead, in a channel's first-come-first-served
// order, every write of the process gets its turn; the busy timeout is left
// for other processes on the same file (sqlite3, a second server).
func (db *DB) takeWriteTurn(ctx context.Context) (done func(), err error) {
	if db.writeTurn == nil {
		return func() {}, nil
	}
	select {
	case db.writeTurn <- struct{}{}:
		return func() { <-db.writeTurn }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// exec runs one write statement outside a transaction, in its turn.
func (db *DB) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	done, err := db.takeWriteTurn(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	return db.sql.ExecContext(ctx, query, args...)
}

// inTx runs f in a transaction, in its write turn, committing if f returns
// nil. Every transaction of the store writes (on SQLite each one takes the
// write lock at BEGIN: see sqliteDSN).
func (db *DB) inTx(ctx context.Context, f func(*sql.Tx) error) error {
	done, err := db.takeWriteTurn(ctx)
	if err != nil {
		return err
	}
	defer done()
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		return errors.Join(err, ignoreDone(tx.Rollback()))
	}
	return tx.Commit()
}

func ignoreDone(err error) error {
	if errors.Is(err, sql.ErrTxDone) {
		return nil
	}
	return err
}
