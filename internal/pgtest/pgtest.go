// Package pgtest runs a throwaway PostgreSQL server for tests.
//
// Start returns the DSN of a fresh, empty database. Without Main, every
// Start runs its own server (initdb and all, about a second), stopped when
// the test ends. With Main in the package's TestMain, one server is started
// on the first Start and shared by the package's tests, each Start still
// getting a database of its own:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
//
// The server binaries (initdb, postgres) are found in PGTEST_BINDIR, else the
// newest /usr/lib/postgresql/*/bin, else PATH. Where they are missing, Start
// skips the test, unless the environment variable CI is set: CI installs
// PostgreSQL, so there a missing server fails the test instead of silently
// not running it.
//
// PostgreSQL refuses to run as root. When the tests run as root, the data
// directory is owned by, and the server runs as, the "postgres" system user.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Timeouts. Generous because a loaded 2-core CI runner under -race is slow;
// they bound waits, they are not waited out.
const (
	readyTimeout = 60 * time.Second // server start until a connection succeeds
	stopTimeout  = 30 * time.Second // SIGINT (fast shutdown) until exit, then SIGKILL
	pollInterval = 25 * time.Millisecond
)

// shared is the server Main lets the package's tests share.
var shared struct {
	enabled atomic.Bool
	once    sync.Once
	srv     *server
	err     error
}

// dbSeq numbers the databases Start creates in this process.
var dbSeq atomic.Int64

// Main runs the package's tests with one PostgreSQL server shared by every
// Start, started on first use (packages whose PostgreSQL tests are all
// filtered out start none) and stopped when the tests are done. It returns
// m.Run's exit code; call it from TestMain.
func Main(m *testing.M) int {
	shared.enabled.Store(true)
	code := m.Run()
	if shared.srv != nil {
		if err := shared.srv.stop(); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: stopping the shared server: %v\n", err)
		}
	}
	return code
}

// Start returns the DSN of a new, empty database on a throwaway PostgreSQL
// server, postgres://postgres@127.0.0.1:PORT/DBNAME?sslmode=disable (trust
// authentication, loopback only, fsync off). It skips t when the server
// binaries are missing, or fails it when CI is set.
func Start(t testing.TB) (dsn string) {
	t.Helper()
	bins, owner := needServer(t)

	var srv *server
	var err error
	if shared.enabled.Load() {
		shared.once.Do(func() { shared.srv, shared.err = startServer(bins, owner) })
		if shared.err != nil {
			t.Fatalf("pgtest: %v", shared.err)
		}
		srv = shared.srv
	} else {
		srv, err = startServer(bins, owner)
		if err != nil {
			t.Fatalf("pgtest: %v", err)
		}
		t.Cleanup(func() {
			if err := srv.stop(); err != nil {
				t.Errorf("pgtest: %v", err)
			}
		})
	}

	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	dsn, err = srv.createDatabase(ctx)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return dsn
}

// missing skips t, or fails it in CI, where tests must never skip.
// needServer finds the server binaries and the user to run them as, or
// skips t (fails it in CI) when there are none.
func needServer(t testing.TB) (binaries, *owner) {
	t.Helper()
	bins, err := findBinaries()
	if err != nil {
		missing(t, err)
	}
	own, err := serverUser()
	if err != nil {
		missing(t, err)
	}
	return bins, own
}

func missing(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("pgtest: PostgreSQL is required in CI (CI=%q): %v", os.Getenv("CI"), err)
	}
	t.Skipf("pgtest: skipping, no PostgreSQL server to test against: %v (install the postgresql package, or set PGTEST_BINDIR)", err)
}

// binaries are the paths of the server programs.
type binaries struct{ initdb, postgres string }

// findBinaries looks in PGTEST_BINDIR, then the newest Debian-style
// /usr/lib/postgresql/N/bin (initdb and postgres are not on PATH there),
// then PATH.
func findBinaries() (binaries, error) {
	in := func(dir string) (binaries, bool) {
		b := binaries{filepath.Join(dir, "initdb"), filepath.Join(dir, "postgres")}
		return b, isExecutable(b.initdb) && isExecutable(b.postgres)
	}
	if dir := os.Getenv("PGTEST_BINDIR"); dir != "" {
		if b, ok := in(dir); ok {
			return b, nil
		}
		return binaries{}, fmt.Errorf("PGTEST_BINDIR=%s has no initdb and postgres", dir)
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return majorVersion(dirs[i]) > majorVersion(dirs[j]) })
	for _, dir := range dirs {
		if b, ok := in(dir); ok {
			return b, nil
		}
	}
	initdb, err1 := exec.LookPath("initdb")
	postgres, err2 := exec.LookPath("postgres")
	if err := errors.Join(err1, err2); err != nil {
		return binaries{}, fmt.Errorf("initdb and postgres are neither in /usr/lib/postgresql/*/bin nor on PATH: %w", err)
	}
	return binaries{initdb, postgres}, nil
}

// majorVersion reads N from /usr/lib/postgresql/N/bin (0 if not a number).
func majorVersion(bindir string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(bindir)), 64)
	return v
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// owner is the account the server runs as: nil for the current one.
type owner struct{ uid, gid uint32 }

// serverUser is nil unless we are root, which PostgreSQL refuses to run as;
// then it is the postgres system user.
func serverUser() (*owner, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root and there is no postgres user to run the server as: %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("postgres user: %w", err)
	}
	return &owner{uint32(uid), uint32(gid)}, nil
}

// server is one running postmaster.
type server struct {
	base     string // temp dir: data/ (PGDATA), the socket, postgres.log
	port     int
	cmd      *exec.Cmd
	done     chan struct{} // closed when the postmaster has exited
	err      error         // its exit status, once done
	stopOnce sync.Once
	stopErr  error
}

// startServer makes a data directory with initdb and starts a postmaster on
// a free loopback port, returning once it accepts connections.
func startServer(bins binaries, own *owner) (*server, error) {
	base, err := makeBaseDir(own)
	if err != nil {
		return nil, err
	}
	data := filepath.Join(base, "data")
	initdb := exec.Command(bins.initdb, "-D", data, "-A", "trust", "-U", "postgres",
		"--no-sync", "-E", "UTF8", "--locale=C")
	runAs(initdb, own, base)
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(base)
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}

	// A free port can be taken between our probe and the postmaster's bind;
	// then the postmaster exits at once and we try another.
	var errs []error
	for range 3 {
		srv, err := launch(bins, own, base)
		if err == nil {
			return srv, nil
		}
		errs = append(errs, err)
	}
	os.RemoveAll(base)
	return nil, errors.Join(errs...)
}

// makeBaseDir makes the server's directory under the temp dir. Not
// t.TempDir: when the server runs as postgres, every parent must be
// traversable by it, and t.TempDir's are private (0700) to the test user.
func makeBaseDir(own *owner) (string, error) {
	parent := os.TempDir()
	if own != nil && !traversable(parent) {
		parent = "/tmp"
	}
	base, err := os.MkdirTemp(parent, "pgtest-")
	if err != nil {
		return "", fmt.Errorf("making the server directory: %w", err)
	}
	if err := os.Chmod(base, 0o755); err != nil {
		os.RemoveAll(base)
		return "", err
	}
	if own != nil {
		if err := os.Chown(base, int(own.uid), int(own.gid)); err != nil {
			os.RemoveAll(base)
			return "", fmt.Errorf("giving %s to the postgres user: %w", base, err)
		}
	}
	return base, nil
}

// traversable reports whether others may search dir and all its parents.
func traversable(dir string) bool {
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return false
		}
		if d == filepath.Dir(d) {
			return true
		}
	}
}

// runAs makes cmd run in dir as own. The credential is set on the process
// itself rather than through runuser, so that the signals that stop the
// server reach the postmaster directly, not a runuser parent.
func runAs(cmd *exec.Cmd, own *owner, dir string) {
	cmd.Dir = dir // initdb and postgres fail if they cannot read their working directory
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.SysProcAttr = &syscall.SysProcAttr{}
	if own != nil {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: own.uid, Gid: own.gid}
	}
}

// launch starts the postmaster on a free port and waits until it accepts
// connections, it exits, or readyTimeout passes.
func launch(bins binaries, own *owner, base string) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(base, "postgres.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child has its own descriptor
	cmd := exec.Command(bins.postgres, "-D", filepath.Join(base, "data"), "-p", strconv.Itoa(port), "-k", base,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "full_page_writes=off",
		"-c", "synchronous_commit=off", "-c", "max_connections=200")
	runAs(cmd, own, base)
	// If the test binary dies without cleaning up (a -timeout panic), the
	// kernel sends the postmaster SIGQUIT, its immediate shutdown, so no
	// server outlives the tests.
	cmd.SysProcAttr.Pdeathsig = syscall.SIGQUIT
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting postgres: %w", err)
	}
	srv := &server{base: base, port: port, cmd: cmd, done: make(chan struct{})}
	go func() {
		srv.err = cmd.Wait()
		close(srv.done)
	}()

	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	if err := srv.waitReady(ctx); err != nil {
		_ = srv.stop()
		log, _ := os.ReadFile(logPath)
		return nil, fmt.Errorf("postgres on port %d: %w\n%s", port, err, tail(log, 2000))
	}
	return srv, nil
}

// waitReady polls until a connection succeeds, the server exits or ctx ends.
func (s *server) waitReady(ctx context.Context) error {
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		c, err := pgx.Connect(ctx, s.dsn("postgres")+"&connect_timeout=5")
		if err == nil {
			return c.Close(ctx)
		}
		select {
		case <-s.done:
			return fmt.Errorf("exited before accepting connections: %v", s.err)
		case <-ctx.Done():
			return fmt.Errorf("not accepting connections after %v: %w", readyTimeout, err)
		case <-tick.C:
		}
	}
}

func (s *server) dsn(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.port, db)
}

// createDatabase makes a new database and returns its DSN.
func (s *server) createDatabase(ctx context.Context) (string, error) {
	c, err := pgx.Connect(ctx, s.dsn("postgres"))
	if err != nil {
		return "", fmt.Errorf("connecting to create a database: %w", err)
	}
	defer c.Close(context.Background())
	name := fmt.Sprintf("test_%d_%d", os.Getpid(), dbSeq.Add(1))
	if _, err := c.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("creating database %s: %w", name, err)
	}
	return s.dsn(name), nil
}

// stop shuts the postmaster down (SIGINT: fast shutdown, which disconnects
// clients) and removes its directory. Safe to call more than once.
func (s *server) stop() error {
	s.stopOnce.Do(func() {
		defer os.RemoveAll(s.base)
		select {
		case <-s.done:
			return
		default:
		}
		if err := s.cmd.Process.Signal(syscall.SIGINT); err != nil && !errors.Is(err, os.ErrProcessDone) {
			s.stopErr = fmt.Errorf("stopping postgres: %w", err)
		}
		select {
		case <-s.done:
		case <-time.After(stopTimeout):
			_ = s.cmd.Process.Kill()
			<-s.done
			s.stopErr = fmt.Errorf("postgres ignored SIGINT for %v and was killed", stopTimeout)
		}
	})
	return s.stopErr
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.TrimSpace(string(b))
}
