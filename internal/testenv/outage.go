package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Halt shuts the server down (fast shutdown: open connections are cut) and keeps its data
// directory and port, so Resume can start it again: a database outage a test can live through.
// Never point it at a shared server; it only stops one this process started.
func (s *Server) Halt() error {
	if s.cmd == nil || s.cmd.Process == nil {
		return errors.New("halt: the server is not running")
	}
	cmd := s.cmd
	s.cmd = nil
	_ = cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
	return nil
}

// Resume starts a halted server again with the command line it was first started with (the
// data directory's postmaster.opts) and returns once it accepts connections.
func (s *Server) Resume(ctx context.Context) error {
	if s.cmd != nil {
		return errors.New("resume: the server is running")
	}
	opts, err := os.ReadFile(filepath.Join(s.DataDir, "postmaster.opts"))
	if err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	args := postmasterArgs(string(opts))
	if len(args) < 2 {
		return fmt.Errorf("resume: postmaster.opts %q has no command line", opts)
	}
	cred, err := nonRootCredential(s.dir)
	if err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("resume: start postgres: %w", err)
	}
	s.cmd = cmd
	return waitFor(ctx, "postgres", func() error { return pingPostgres(s.URL) })
}

// postmasterArgs splits postmaster.opts: the binary, then each argument in double quotes.
func postmasterArgs(opts string) []string {
	opts = strings.TrimSpace(opts)
	bin, rest, _ := strings.Cut(opts, " ")
	args := []string{bin}
	for {
		_, after, ok := strings.Cut(rest, `"`)
		if !ok {
			return args
		}
		arg, tail, ok := strings.Cut(after, `"`)
		if !ok {
			return args
		}
		args = append(args, arg)
		rest = tail
	}
}
