package demo

import (
	"context"
	"fmt"
	"net/url"
	"os/exec"

	"github.com/alicebob/miniredis/v2"
	"github.com/jackc/pgx/v5"

	"github.com/clonebot/clonebot/internal/testenv"
	"github.com/clonebot/clonebot/redisstore"
)

// cleanups runs what the demo started, newest first.
type cleanups []func()

func (c *cleanups) add(f func()) { *c = append(*c, f) }

func (c cleanups) run() {
	for i := len(c) - 1; i >= 0; i-- {
		c[i]()
	}
}

// redisEnv is the Redis the demo uses and where its keys live.
type redisEnv struct {
	db     *redisstore.DB
	prefix string
	mini   *miniredis.Miniredis // nil for an external Redis
	about  string               // one line for the output
}

// startRedis connects to the Redis at u, or starts an embedded one when u is empty. On an
// external Redis the demo's keys get a prefix of their own and are deleted at the end.
func startRedis(ctx context.Context, u string, cl *cleanups) (*redisEnv, error) {
	if u == "" {
		m, err := miniredis.Run()
		if err != nil {
			return nil, fmt.Errorf("embedded redis: %w", err)
		}
		cl.add(m.Close)
		db, err := redisstore.Open(ctx, "redis://"+m.Addr(), "clonebot:", false)
		if err != nil {
			return nil, fmt.Errorf("embedded redis: %w", err)
		}
		cl.add(func() { db.Close() })
		return &redisEnv{db: db, prefix: "clonebot:", mini: m, about: "embedded Redis (miniredis) on " + m.Addr()}, nil
	}
	prefix := testenv.UniqueName("clonebot-demo-") + ":"
	db, err := redisstore.Open(ctx, u, prefix, false)
	if err != nil {
		return nil, fmt.Errorf("CLONEBOT_REDIS_URL: %w", err)
	}
	cl.add(func() {
		_ = db.Purge(context.WithoutCancel(ctx)) // best effort: the demo's keys are its own
		db.Close()
	})
	return &redisEnv{db: db, prefix: prefix, about: "your Redis (CLONEBOT_REDIS_URL)"}, nil
}

// pgEnv is the PostgreSQL server the demo uses.
type pgEnv struct {
	superURL string // creates the sample database and inspects the server
	adminURL string // the provisioner's role: CREATEDB CREATEROLE, not a superuser
	host     string // what clones are told to connect to
	port     int
	about    string
}

// demoAdmin is the provisioner's role on a throwaway server.
const demoAdmin = "clonebot_admin"

// startPostgres uses the server at u (its role must have CREATEDB and CREATEROLE), or starts
// a throwaway server that checks passwords over TCP, with a non-superuser admin role that
// connects over the (trusted) Unix socket, so the demo needs no admin password at all.
func startPostgres(ctx context.Context, u string, cl *cleanups) (*pgEnv, error) {
	if u != "" {
		cc, err := pgx.ParseConfig(u)
		if err != nil {
			// The URL may hold a password: it is not quoted.
			return nil, fmt.Errorf("CLONEBOT_DEMO_POSTGRES_URL: not a postgres:// URL")
		}
		return &pgEnv{superURL: u, adminURL: u, host: cc.Host, port: int(cc.Port),
			about: fmt.Sprintf("PostgreSQL at %s:%d as %s", cc.Host, cc.Port, cc.User)}, nil
	}
	srv, err := testenv.StartServerWith(ctx, testenv.ServerOptions{PasswordAuth: true})
	if err != nil {
		return nil, fmt.Errorf("throwaway postgres: %w", err)
	}
	cl.add(srv.Stop)
	conn, err := pgx.Connect(ctx, srv.URL)
	if err != nil {
		return nil, fmt.Errorf("throwaway postgres: %w", err)
	}
	defer conn.Close(ctx)
	// The server is hardened as provisioner/local asks: no database lets every role connect.
	for _, stmt := range []string{
		"CREATE ROLE " + demoAdmin + " LOGIN CREATEDB CREATEROLE IN ROLE pg_signal_backend",
		"REVOKE CONNECT ON DATABASE postgres, template1 FROM PUBLIC",
		"GRANT CONNECT ON DATABASE postgres TO " + demoAdmin,
	} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			return nil, fmt.Errorf("prepare throwaway postgres: %w", err)
		}
	}
	admin, err := url.Parse(srv.URL)
	if err != nil {
		return nil, err
	}
	admin.User = url.User(demoAdmin)
	return &pgEnv{superURL: srv.URL, adminURL: admin.String(), host: "127.0.0.1", port: srv.Port,
		about: fmt.Sprintf("throwaway PostgreSQL on 127.0.0.1:%d (password authentication over TCP)", srv.Port)}, nil
}

// pgCommand returns cmd run against the database of u: the password, if the URL has one, goes
// through PGPASSWORD rather than the command line.
func pgCommand(ctx context.Context, bin string, u string, args ...string) (*exec.Cmd, error) {
	path, err := exec.LookPath(bin)
	if err != nil {
		return nil, fmt.Errorf("%s is needed for the sample backup: %w", bin, err)
	}
	p, err := url.Parse(u)
	if err != nil {
		return nil, fmt.Errorf("postgres URL does not parse")
	}
	var env []string
	if p.User != nil {
		if pw, ok := p.User.Password(); ok {
			env = append(env, "PGPASSWORD="+pw)
			p.User = url.User(p.User.Username())
		}
	}
	cmd := exec.CommandContext(ctx, path, append(args, "--dbname="+p.String())...)
	cmd.Env = append(cmd.Environ(), env...)
	return cmd, nil
}

// createDatabase creates a database named from prefix, dropped at cleanup.
func (pg *pgEnv) createDatabase(ctx context.Context, prefix string, cl *cleanups) (string, error) {
	name := testenv.UniqueName(prefix)
	super, err := pgx.Connect(ctx, pg.superURL)
	if err != nil {
		return "", fmt.Errorf("connect to postgres: %w", err)
	}
	defer super.Close(ctx)
	if _, err := super.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE template0"); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	cl.add(func() {
		ctx := context.WithoutCancel(ctx)
		if c, err := pgx.Connect(ctx, pg.superURL); err == nil {
			_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			c.Close(ctx)
		}
	})
	return name, nil
}
