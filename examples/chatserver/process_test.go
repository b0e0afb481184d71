package main

import (
	"bytes"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Tests of the real program: built with go build, run as processes on
// loopback, driven over HTTP only.

// binDir holds the example's binary; TestMain removes it.
var binDir string

// buildBinary builds the example once per test binary.
var buildBinary = sync.OnceValues(func() (string, error) {
	var err error
	if binDir, err = os.MkdirTemp("", "chatserver-bin-"); err != nil {
		return "", err
	}
	bin := filepath.Join(binDir, "chatserver")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		return "", &buildError{err, out}
	}
	return bin, nil
})

type buildError struct {
	err error
	out []byte
}

func (e *buildError) Error() string { return "go build: " + e.err.Error() + "\n" + string(e.out) }

// binary is the example's binary (go build ./examples/chatserver).
func binary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: builds and runs the example binary")
	}
	bin, err := buildBinary()
	require.NoError(t, err)
	return bin
}

// process is one running example server.
type process struct {
	URL    string
	args   []string
	cmd    *exec.Cmd
	out    *output
	exited chan struct{}
	once   sync.Once
}

// output collects a process's stdout and stderr and reports the URL of its
// first line, "chatserver: listening on <URL>".
type output struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	scanned int
	url     chan string
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.buf.Write(p)
	for {
		rest := o.buf.Bytes()[o.scanned:]
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			return len(p), nil
		}
		o.scanned += i + 1
		if u, ok := strings.CutPrefix(string(rest[:i]), "chatserver: listening on "); ok {
			select {
			case o.url <- u:
			default:
			}
		}
	}
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// startProcess runs the binary with args (and extra environment) until the
// test ends or stop, and returns once it answers its ping.
func startProcess(t *testing.T, bin string, env []string, args ...string) *process {
	t.Helper()
	p := launch(t, bin, env, args...)
	p.waitReady(t)
	return p
}

// launch starts the binary; waitReady waits for it.
func launch(t *testing.T, bin string, env []string, args ...string) *process {
	t.Helper()
	p := &process{args: args, out: &output{url: make(chan string, 1)}, exited: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	require.NoError(t, p.cmd.Start())
	go func() {
		_ = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("output of chatserver %v:\n%s", args, p.out)
		}
	})

	return p
}

// waitReady waits until the process says where it listens and answers its
// ping with 200 (polling, with a deadline).
func (p *process) waitReady(t *testing.T) {
	t.Helper()
	args := p.args
	timeout := time.After(60 * time.Second)
	select {
	case p.URL = <-p.out.url:
	case <-p.exited:
		t.Fatalf("chatserver %v exited before listening:\n%s", args, p.out)
	case <-timeout:
		t.Fatalf("chatserver %v: not listening within 60s:\n%s", args, p.out)
	}
	poll := time.NewTicker(20 * time.Millisecond)
	defer poll.Stop()
	for {
		if resp, err := http.Get(p.URL + "/api/v4/system/ping"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-p.exited:
			t.Fatalf("chatserver %v exited:\n%s", args, p.out)
		case <-timeout:
			t.Fatalf("chatserver %v: not ready within 60s:\n%s", args, p.out)
		case <-poll.C:
		}
	}
}

// stop ends the process as an operator does (SIGINT: graceful shutdown),
// killing it if it has not exited 15 seconds later.
func (p *process) stop() {
	p.once.Do(func() {
		_ = p.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-p.exited:
		case <-time.After(15 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
}
