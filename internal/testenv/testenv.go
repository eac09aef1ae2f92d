// Package testenv gives tests the real services they need: Redis, PostgreSQL and an AWS
// emulator (moto_server).
//
// Each service is found in this order:
//  1. an environment variable (CLONEBOT_TEST_REDIS_URL, CLONEBOT_TEST_POSTGRES_URL,
//     CLONEBOT_TEST_AWS_ENDPOINT, CLONEBOT_TEST_REDIS_CLUSTER);
//  2. the machine's running service on its standard port (Redis 6379, PostgreSQL 5432);
//  3. a server started from the system binaries on a free port in a temporary directory,
//     stopped when the test binary exits (packages call testenv.Main from TestMain); a Redis
//     Cluster is always of this kind unless named by its variable.
//
// A service that cannot be had fails the test; it is never skipped. Tests are isolated from
// each other: every Redis user gets its own key prefix, every PostgreSQL user its own
// database, every moto user its own names.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// Main runs the package's tests, then the checks (each failing the run with its error, e.g. a
// leak check over everything the tests logged), then stops every server this package started.
// Use it from TestMain: func TestMain(m *testing.M) { testenv.Main(m) }.
func Main(m *testing.M, checks ...func() error) {
	code := m.Run()
	for _, check := range checks {
		if err := check(); err != nil {
			fmt.Fprintf(os.Stderr, "FAIL: %v\n", err)
			code = 1
		}
	}
	stopAll()
	os.Exit(code)
}

var (
	stopMu  sync.Mutex
	stopFns []func()
)

func onStop(f func()) {
	stopMu.Lock()
	defer stopMu.Unlock()
	stopFns = append(stopFns, f)
}

func stopAll() {
	stopMu.Lock()
	defer stopMu.Unlock()
	for i := len(stopFns) - 1; i >= 0; i-- {
		stopFns[i]()
	}
	stopFns = nil
}

// UniqueName returns prefix followed by 8 random lowercase hex characters, for names that
// must not collide between tests or runs (key prefixes, databases, AWS identifiers).
func UniqueName(prefix string) string {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return prefix + hex.EncodeToString(b[:])
}

// FreeAddr returns a loopback address with a free TCP port, for a server the test starts.
func FreeAddr(t testing.TB) string {
	t.Helper()
	p, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", p)
}

// freePort asks the kernel for a free loopback TCP port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// dialable reports whether addr accepts TCP connections.
func dialable(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// waitFor polls ready until it returns nil or the deadline passes. It is used only to wait
// for a server process to come up, never to make a test pass.
func waitFor(ctx context.Context, what string, ready func() error) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		if last = ready(); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s did not become ready: %w", what, errors.Join(ctx.Err(), last))
		case <-tick.C:
		}
	}
}

// startProcess starts a long-running server and registers its termination.
func startProcess(cmd *exec.Cmd) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	onStop(func() { stopProcess(cmd) })
	return nil
}

// stopProcess interrupts a started server and waits for it to exit, killing it after 10 s.
func stopProcess(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// lookBinary finds a server binary on PATH or in the Debian PostgreSQL directory.
func lookBinary(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/17/bin"} {
		p := dir + "/" + name
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found on PATH (install it: see .ci/run)", name)
}

// once memoises a service address for the whole test binary.
type once struct {
	mu   sync.Mutex
	done bool
	val  string
	err  error
}

func (o *once) get(f func() (string, error)) (string, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.done {
		o.val, o.err = f()
		o.done = true
	}
	return o.val, o.err
}

func envOr(key string) string { return strings.TrimSpace(os.Getenv(key)) }
