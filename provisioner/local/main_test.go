package local

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/clonebot/clonebot/internal/leakcheck"
	"github.com/clonebot/clonebot/internal/testenv"
	"github.com/clonebot/clonebot/provisioner"
)

// rec sees every log line and error of this package's tests, and every password they make.
var rec = leakcheck.New()

// TestMain runs the tests, then feeds the test server's own log (every statement it ran,
// log_statement=all) to the recorder and fails if any generated password appears anywhere.
func TestMain(m *testing.M) { testenv.Main(m, readServerLog, rec.Check) }

// readServerLog stops the shared server and records its log, so rec.Check sees the statements.
func readServerLog() error {
	if srv.stopFn == nil {
		return nil
	}
	srv.stopFn()
	defer os.RemoveAll(srv.dir)
	b, err := os.ReadFile(srv.logPath)
	if err != nil || len(b) == 0 {
		return fmt.Errorf("no server log to check for passwords: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		rec.Text(line)
	}
	return nil
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
	dir, err := os.MkdirTemp("", "clonebot-local-pg-log-")
	if err != nil {
		return err
	}
	s.dir = dir
	s.logPath = filepath.Join(dir, "server.log")
	logFile, err := os.Create(s.logPath)
	if err != nil {
		return err
	}
	server, err := testenv.StartServerWith(context.Background(), testenv.ServerOptions{
		PasswordAuth: true,
		Settings:     []string{"log_statement=all", "max_connections=100"},
		Log:          logFile,
	})
	if err != nil {
		logFile.Close()
		return err
	}
	s.stopFn = func() {
		server.Stop()
		logFile.Close()
	}
	s.superURL, s.port = server.URL, server.Port
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
