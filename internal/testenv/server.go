package testenv

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"
)

// Server is a PostgreSQL server started from the system binaries for a program that is not a
// test (a benchmark), with a data directory it can inspect. Stop it with Stop.
type Server struct {
	URL     string // superuser URL of the postgres database (over the Unix socket with PasswordAuth)
	Port    int    // TCP port on 127.0.0.1
	DataDir string // the server's data directory (base/, pg_wal/ ...)
	dir     string
	cmd     *exec.Cmd
}

// ServerOptions say how StartServerWith sets a server up.
type ServerOptions struct {
	Settings []string // extra "name=value" server settings (passed as -c)
	// PasswordAuth makes TCP connections give a password (scram-sha-256) while the Unix socket
	// stays trusted for the superuser. Under trust auth PostgreSQL checks neither passwords nor
	// VALID UNTIL, so tests of credentials need this.
	PasswordAuth bool
	Log          io.Writer // the server's own log output (e.g. with log_statement=all); nil discards it
}

// StartServer initialises a fresh data directory in a temporary directory and starts a
// server on a free loopback port, with fsync off and the extra "-c name=value" settings.
// It returns once the server accepts connections.
func StartServer(ctx context.Context, settings ...string) (*Server, error) {
	return StartServerWith(ctx, ServerOptions{Settings: settings})
}

// StartServerWith is StartServer with options.
func StartServerWith(ctx context.Context, opts ServerOptions) (*Server, error) {
	dir, err := os.MkdirTemp("", "clonebot-server-")
	if err != nil {
		return nil, fmt.Errorf("server directory: %w", err)
	}
	s := &Server{dir: dir}
	s.URL, s.Port, s.DataDir, err = launchPostgres(dir, func(c *exec.Cmd) error {
		s.cmd = c
		return c.Start()
	}, opts)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := waitFor(ctx, "postgres", func() error { return pingPostgres(s.URL) }); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// Stop shuts the server down (fast shutdown, then kill after 10 s) and removes its directory.
func (s *Server) Stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = s.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			<-done
		}
	}
	os.RemoveAll(s.dir)
}
