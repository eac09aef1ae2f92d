package testenv

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

var postgresURL once

// PostgresAdminURL returns the URL of a superuser connection to a real PostgreSQL server
// for this test binary. Use it only to create or inspect databases and roles; tests put
// their data in a database of their own (see Postgres).
func PostgresAdminURL(t testing.TB) string {
	t.Helper()
	u, err := postgresURL.get(findPostgres)
	if err != nil {
		t.Fatalf("testenv: no PostgreSQL: %v", err)
	}
	return u
}

// Postgres creates a fresh database for this test on a real PostgreSQL server and returns
// its URL. The database is dropped when the test ends.
func Postgres(t testing.TB) string {
	t.Helper()
	admin := PostgresAdminURL(t)
	name := UniqueName("cbtest_")
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("testenv: connect postgres: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("testenv: create database: %v", err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(ctx, admin)
		if err != nil {
			return
		}
		defer c.Close(ctx)
		_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	return WithDatabase(admin, name)
}

// WithDatabase returns the PostgreSQL URL u pointed at database db.
func WithDatabase(u, db string) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	p.Path = "/" + db
	return p.String()
}

func findPostgres() (string, error) {
	if u := envOr("CLONEBOT_TEST_POSTGRES_URL"); u != "" {
		return u, pingPostgres(u)
	}
	if dialable("127.0.0.1:5432") {
		u := "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
		if pingPostgres(u) == nil {
			return u, nil
		}
	}
	return startPostgres()
}

func pingPostgres(u string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, u)
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	return c.Ping(ctx)
}

// startPostgres runs initdb and postgres from the system binaries in a temporary directory.
// PostgreSQL refuses to run as root, so as root the server runs as the "postgres" user.
func startPostgres() (string, error) {
	u, _, _, err := launchPostgres(tempDir("postgres"), startProcess, ServerOptions{})
	if err != nil {
		return "", err
	}
	return u, waitFor(context.Background(), "postgres", func() error { return pingPostgres(u) })
}

// launchPostgres initialises a data directory under dir and starts a server on it with start,
// as opts say; it does not wait for the server to accept connections. It returns the
// superuser URL (over TCP, or over the Unix socket in dir when TCP needs a password), the TCP
// port and the data directory.
func launchPostgres(dir string, start func(*exec.Cmd) error, opts ServerOptions) (string, int, string, error) {
	initdb, err := lookBinary("initdb")
	if err != nil {
		return "", 0, "", err
	}
	postgres, err := lookBinary("postgres")
	if err != nil {
		return "", 0, "", err
	}
	port, err := freePort()
	if err != nil {
		return "", 0, "", err
	}
	cred, err := nonRootCredential(dir)
	if err != nil {
		return "", 0, "", err
	}
	data := filepath.Join(dir, "data")
	auth := []string{"-A", "trust"}
	if opts.PasswordAuth {
		auth = []string{"--auth-local=trust", "--auth-host=scram-sha-256"}
	}
	init := exec.Command(initdb, append(auth, "-D", data, "-U", "postgres", "--no-sync")...)
	init.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := init.CombinedOutput(); err != nil {
		return "", 0, "", fmt.Errorf("initdb: %w: %s", err, out)
	}
	args := []string{"-D", data, "-p", strconv.Itoa(port), "-h", "127.0.0.1",
		"-k", dir, "-c", "fsync=off", "-c", "max_connections=200"}
	for _, s := range opts.Settings {
		args = append(args, "-c", s)
	}
	cmd := exec.Command(postgres, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	cmd.Stdout, cmd.Stderr = opts.Log, opts.Log
	if err := start(cmd); err != nil {
		return "", 0, "", fmt.Errorf("start postgres: %w", err)
	}
	u := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	if opts.PasswordAuth {
		u = fmt.Sprintf("postgres://postgres@/postgres?host=%s&port=%d", url.QueryEscape(dir), port)
	}
	return u, port, data, nil
}

// nonRootCredential returns nil when not root, else the postgres user's credential after
// handing dir to that user.
func nonRootCredential(dir string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root and no postgres user to run the server as: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// tempDir makes a directory that lives until the test binary stops.
func tempDir(what string) string {
	dir, err := os.MkdirTemp("", "clonebot-"+what+"-")
	if err != nil {
		panic(err)
	}
	onStop(func() { os.RemoveAll(dir) })
	return dir
}
