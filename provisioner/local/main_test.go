package local

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/clonebot/clonebot/internal/leakcheck"
	"github.com/clonebot/clonebot/internal/testenv"
	"github.com/clonebot/clonebot/provisioner"
)

// rec sees every log line and error of this package's tests, and every password they make.
var rec = leakcheck.New()

// TestMain runs the tests, then feeds the test server's own log (every statement it ran,
// log_statement=all) to the recorder and fails if any generated password appears anywhere.
func TestMain(m *testing.M) {
	code := m.Run()
	if srv.stopFn != nil {
		srv.stopFn()
		b, err := os.ReadFile(srv.logPath)
		if err != nil || len(b) == 0 {
			fmt.Fprintf(os.Stderr, "FAIL: no server log to check for passwords: %v\n", err)
			code = 1
		}
		for _, line := range strings.Split(string(b), "\n") {
			rec.Text(line)
		}
		os.RemoveAll(srv.dir)
	}
	if leaks := rec.Leaks(); len(leaks) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: a password reached a log line or an error:\n%q\n", leaks)
		code = 1
	}
	os.Exit(code)
}

// passwordServer is a PostgreSQL server that checks passwords (scram-sha-256 over TCP) and
// VALID UNTIL; testenv's servers trust every local connection, under which PostgreSQL checks
// neither, so the credential tests would prove nothing there.
type passwordServer struct {
	once      sync.Once
	err       error
	superURL  string // the superuser, over the Unix socket (trusted)
	port      int
	logPath   string
	adminURL  string // a CREATEDB CREATEROLE role with a password, over TCP
	adminName string
	dir       string // data, socket and log; removed by TestMain after reading the log
	stopFn    func()
}

var srv passwordServer

// server returns the shared password-checking server, started on first use.
func server(t *testing.T) *passwordServer {
	t.Helper()
	srv.once.Do(func() { srv.err = srv.start() })
	if srv.err != nil {
		t.Fatalf("password-checking PostgreSQL: %v", srv.err)
	}
	return &srv
}

func (s *passwordServer) start() error {
	dir, err := os.MkdirTemp("", "clonebot-local-pg-")
	if err != nil {
		return err
	}
	s.dir = dir
	cred, err := serverCredential(dir)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	s.port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	data := filepath.Join(dir, "data")
	initdb := exec.Command(pgBinary("initdb"), "-D", data, "-U", "postgres", "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %w: %s", err, out)
	}
	s.logPath = filepath.Join(dir, "server.log")
	logFile, err := os.Create(s.logPath)
	if err != nil {
		return err
	}
	cmd := exec.Command(pgBinary("postgres"), "-D", data, "-p", strconv.Itoa(s.port), "-h", "127.0.0.1", "-k", dir,
		"-c", "fsync=off", "-c", "log_statement=all", "-c", "max_connections=100")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	s.stopFn = func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		logFile.Close()
	}
	s.superURL = fmt.Sprintf("postgres://postgres@/postgres?host=%s&port=%d", url.QueryEscape(dir), s.port)
	if err := waitReady(s.superURL); err != nil {
		return err
	}
	return s.makeAdmin()
}

// makeAdmin creates the role the provisioner runs as: not a superuser, as in production.
func (s *passwordServer) makeAdmin() error {
	pw, err := provisioner.GeneratePassword()
	if err != nil {
		return err
	}
	rec.Secret(pw.Reveal())
	verifier, err := scramVerifier(pw)
	if err != nil {
		return err
	}
	s.adminName = testenv.UniqueName("cbadmin_")
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, s.superURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	// The server is hardened as the package doc asks: no database lets every role connect.
	for _, stmt := range []string{
		"CREATE ROLE " + s.adminName + " LOGIN CREATEDB CREATEROLE IN ROLE pg_signal_backend PASSWORD " + quoteLiteral(verifier),
		"REVOKE CONNECT ON DATABASE postgres, template1 FROM PUBLIC",
		"GRANT CONNECT ON DATABASE postgres TO " + s.adminName,
	} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			return rec.Err(fmt.Errorf("prepare server: %w", err))
		}
	}
	u := url.URL{Scheme: "postgres", User: url.UserPassword(s.adminName, pw.Reveal()), Host: "127.0.0.1:" + strconv.Itoa(s.port), Path: "/postgres", RawQuery: "sslmode=disable"}
	s.adminURL = u.String()
	return nil
}

func waitReady(u string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, u)
		cancel()
		if err == nil {
			return conn.Close(context.Background())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres did not start: %w", err)
		}
		time.Sleep(50 * time.Millisecond) // waiting for a process to start, not for a test to pass
	}
}

// serverCredential: PostgreSQL refuses to run as root, so as root it runs as "postgres".
func serverCredential(dir string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root and no postgres user: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func pgBinary(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, v := range []string{"15", "16", "17"} {
		p := filepath.Join("/usr/lib/postgresql", v, "bin", name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return name
}

// superuser opens a superuser connection for test setup and inspection.
func superuser(t *testing.T, database string) *pgx.Conn {
	t.Helper()
	cc, err := pgx.ParseConfig(server(t).superURL)
	if err != nil {
		t.Fatal(err)
	}
	if database != "" {
		cc.Database = database
	}
	conn, err := pgx.ConnectConfig(context.Background(), cc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// loginAs connects over TCP with creds to database (creds.DBName when empty).
func loginAs(ctx context.Context, creds provisioner.Credentials, database string) (*pgx.Conn, error) {
	if database == "" {
		database = creds.DBName
	}
	cc, err := pgx.ParseConfig(fmt.Sprintf("host=%s port=%d user=%s dbname=%s sslmode=disable", creds.Host, creds.Port, creds.Username, database))
	if err != nil {
		return nil, err
	}
	cc.Password = creds.Password.Reveal()
	conn, err := pgx.ConnectConfig(ctx, cc)
	return conn, rec.Err(err)
}

// canLogin reports whether creds open a session on database and run a query there.
func canLogin(t *testing.T, creds provisioner.Credentials, database string) bool {
	t.Helper()
	ctx := context.Background()
	conn, err := loginAs(ctx, creds, database)
	if err != nil {
		return false
	}
	defer conn.Close(ctx)
	var one int
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		t.Fatalf("logged in but cannot query: %v", rec.Err(err))
	}
	return true
}

var errCrash = errors.New("simulated crash")
