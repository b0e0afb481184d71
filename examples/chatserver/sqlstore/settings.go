package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Setting returns the value stored under name, or ok false when there is none.
func (db *DB) Setting(ctx context.Context, name string) (value string, ok bool, err error) {
	err = db.sql.QueryRowContext(ctx, `SELECT value FROM settings WHERE name = $1`, name).Scan(&value)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("sqlstore: setting %q: %w", name, err)
	}
	return value, true, nil
}

// SettingOnce returns the value stored under name. When there is none yet it
// calls create and stores what it returns, unless another process stored a
// value first: then that value is returned and create's is dropped. Replicas
// starting together on an empty database therefore all end up with the same
// value, whichever made it.
func (db *DB) SettingOnce(ctx context.Context, name string, create func() (string, error)) (string, error) {
	if v, ok, err := db.Setting(ctx, name); err != nil || ok {
		return v, err
	}
	v, err := create()
	if err != nil {
		return "", fmt.Errorf("sqlstore: making setting %q: %w", name, err)
	}
	// DO NOTHING: the first insert wins; read back what won.
	if _, err := db.exec(ctx, `INSERT INTO settings (name, value, create_at) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO NOTHING`, name, v, millis(db.now())); err != nil {
		return "", fmt.Errorf("sqlstore: storing setting %q: %w", name, err)
	}
	stored, ok, err := db.Setting(ctx, name)
	if err == nil && !ok {
		err = fmt.Errorf("sqlstore: setting %q vanished after it was stored", name)
	}
	return stored, err
}
