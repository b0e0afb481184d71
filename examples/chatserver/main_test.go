package main

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBaseURL(t *testing.T) {
	for _, tc := range []struct{ addr, want string }{
		{"127.0.0.1:8065", "http://127.0.0.1:8065"},
		{"0.0.0.0:8065", "http://127.0.0.1:8065"}, // the fake tenant's Authority must be loopback
		{"[::]:8065", "http://[::1]:8065"},
		{"[::1]:8066", "http://[::1]:8066"},
		{"192.0.2.7:80", "http://192.0.2.7:80"},
	} {
		a, err := net.ResolveTCPAddr("tcp", tc.addr)
		require.NoError(t, err)
		assert.Equal(t, tc.want, baseURL(a), tc.addr)
	}
}

func TestDatabaseAndAdminToken(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")

	t.Run("embedded by default", func(t *testing.T) {
		dsn, where, err := database("", data)
		require.NoError(t, err)
		assert.Equal(t, filepath.Join(data, "chatserver.db"), dsn)
		assert.Contains(t, where, "delete "+data)
		assert.DirExists(t, data)

		tok, note, err := adminToken("", dsn, data)
		require.NoError(t, err)
		assert.Len(t, tok, 26)
		assert.Contains(t, note, "generated")
		fi, err := os.Stat(filepath.Join(data, "admin-token"))
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
		again, note, err := adminToken("", dsn, data)
		require.NoError(t, err)
		assert.Equal(t, tok, again, "kept across starts")
		assert.Contains(t, note, "kept in")
	})
	t.Run("a SQLite file of one's own", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "mine.db")
		dsn, where, err := database(file+"?_pragma=busy_timeout(100)", data)
		require.NoError(t, err)
		assert.Equal(t, file+"?_pragma=busy_timeout(100)", dsn)
		assert.Contains(t, where, "delete "+file+", "+file+"-wal", "never the directory it is in")
	})
	t.Run("PostgreSQL", func(t *testing.T) {
		pg := "postgres://chat:s3cret@db.internal/chat?sslmode=disable"
		dsn, where, err := database(pg, data)
		require.NoError(t, err)
		assert.Equal(t, pg, dsn)
		assert.NotContains(t, where, "s3cret")
		a, _, err := adminToken("", pg, data)
		require.NoError(t, err)
		b, note, err := adminToken("", pg, data)
		require.NoError(t, err)
		assert.NotEqual(t, a, b, "one per process")
		assert.Contains(t, note, "-admin-token")
	})
	t.Run("given", func(t *testing.T) {
		tok, _, err := adminToken("mine", "x.db", data)
		require.NoError(t, err)
		assert.Equal(t, "mine", tok)
	})
}
