package agent

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/clonebot/clonebot/provisioner"
)

// SecretStore resolves the job's target credential reference (provisioner.SecretStore's method).
type SecretStore interface {
	Resolve(ctx context.Context, ref string) (provisioner.Credentials, error)
}

// sessionSetup is what pg_restore sets on each of its connections, plus what makes a bulk load
// cheaper: commits that do not wait for the WAL flush (a restarted job starts over anyway).
// Config.SortMemory adds maintenance_work_mem.
var sessionSetup = []string{
	"SET statement_timeout = 0",
	"SET lock_timeout = 0",
	"SET idle_in_transaction_session_timeout = 0",
	"SET client_min_messages = warning",
	"SET row_security = off",
	"SET check_function_bodies = false",
	"SET xmloption = content",
	"SET synchronous_commit = off",
	// The agent runs its statements side by side itself, one backend per session, so N workers
	// use N cores; parallel plans (foreign key checks, the gate) and parallel index builds would
	// only crowd them: two index builds at once took 3.4-3.9 s serial against 4.0-4.2 s with
	// PostgreSQL's 2 workers each, on 2 cores. A server with more cores wants a higher job
	// parallelism instead.
	"SET max_parallel_workers_per_gather = 0",
	"SET max_parallel_maintenance_workers = 0",
	"SELECT pg_catalog.set_config('search_path', '', false)",
}

// target opens connections to the job's database.
type target struct {
	cfg   *pgx.ConnConfig
	extra []string // session statements: maintenance_work_mem, then the archive's (encoding, standard_conforming_strings)
}

func newTarget(c provisioner.Credentials, sslmode, sortMemory string) (*target, error) {
	if sslmode == "" {
		sslmode = "prefer"
	}
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(c.Username, c.Password.Reveal()),
		Host:     net.JoinHostPort(c.Host, strconv.Itoa(c.Port)),
		Path:     "/" + c.DBName,
		RawQuery: url.Values{"sslmode": {sslmode}}.Encode(),
	}
	cfg, err := pgx.ParseConfig(u.String())
	if err != nil {
		// The parse error may quote the URL; say only which part is wrong.
		return nil, fmt.Errorf("target %s:%d/%s: connection settings are not valid", c.Host, c.Port, c.DBName)
	}
	t := &target{cfg: cfg}
	if sortMemory != "" { // Config.Validate checked its form
		t.extra = append(t.extra, "SET maintenance_work_mem = '"+sortMemory+"'")
	}
	return t, nil
}

// connect opens one session with the restore settings.
func (t *target) connect(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, t.cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to target: %w", err)
	}
	// One round trip for all of them.
	var setup strings.Builder
	for _, s := range append(sessionSetup[:len(sessionSetup):len(sessionSetup)], t.extra...) {
		setup.WriteString(strings.TrimRight(strings.TrimSpace(s), ";") + ";\n")
	}
	if err := execSQL(ctx, conn, setup.String()); err != nil {
		conn.Close(ctx)
		return nil, fmt.Errorf("session setup: %w", err)
	}
	return conn, nil
}

// execSQL runs sql (one or more statements) with the simple query protocol.
func execSQL(ctx context.Context, conn *pgx.Conn, sql string) error {
	_, err := conn.PgConn().Exec(ctx, sql).ReadAll()
	return err
}

// cleanTarget empties the target, so that every attempt restores into an empty database and
// never on top of half a restore, and a failed attempt leaves nothing behind. Every user
// schema is dropped, and so are large objects. The public schema stays as the target had it
// (its owner, comment and privileges, as pg_restore leaves them): it is only dropped and made
// again, with those, when something is in it.
const cleanTarget = `DO $clean$
DECLARE
  s name;
  owner text;
  acl aclitem[];
  note text;
  g record;
BEGIN
  FOR s IN SELECT nspname FROM pg_catalog.pg_namespace
           WHERE nspname NOT IN ('information_schema', 'public') AND nspname NOT LIKE 'pg\_%'
  LOOP
    EXECUTE format('DROP SCHEMA %I CASCADE', s);
  END LOOP;
  PERFORM pg_catalog.lo_unlink(oid) FROM pg_catalog.pg_largeobject_metadata;
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_namespace WHERE nspname = 'public') THEN
    CREATE SCHEMA public;
  ELSIF EXISTS (SELECT FROM pg_catalog.pg_depend
                WHERE refclassid = 'pg_catalog.pg_namespace'::regclass AND refobjid = 'public'::regnamespace) THEN
    SELECT n.nspowner::regrole::text, n.nspacl, pg_catalog.obj_description(n.oid, 'pg_namespace')
      INTO owner, acl, note FROM pg_catalog.pg_namespace n WHERE n.nspname = 'public';
    DROP SCHEMA public CASCADE;
    CREATE SCHEMA public;
    EXECUTE format('ALTER SCHEMA public OWNER TO %s', owner);
    EXECUTE format('COMMENT ON SCHEMA public IS %L', note);
    IF acl IS NOT NULL THEN
      EXECUTE format('REVOKE ALL ON SCHEMA public FROM %s', owner);
      FOR g IN SELECT a.privilege_type, a.is_grantable,
                      CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END AS grantee
               FROM pg_catalog.aclexplode(acl) a
      LOOP
        EXECUTE format('GRANT %s ON SCHEMA public TO %s%s', g.privilege_type, g.grantee,
                       CASE WHEN g.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
      END LOOP;
    END IF;
  END IF;
END
$clean$`

// Every provisioner secret store can resolve the agent's targets.
var _ SecretStore = provisioner.SecretStore(nil)
