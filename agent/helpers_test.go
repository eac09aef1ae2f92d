package agent

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap/zaptest"

	"github.com/clonebot/clonebot/agent/mask"
	"github.com/clonebot/clonebot/internal/testenv"
	"github.com/clonebot/clonebot/jobs"
	"github.com/clonebot/clonebot/provisioner"
	"github.com/clonebot/clonebot/redisstore"
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		os.Exit(helperAgent())
	}
	testenv.Main(m)
}

// testKey is the HMAC key of the tests' masking (not a secret).
var testKey = provisioner.NewPassword("0123456789abcdef-test-key")

// fullRules masks every PII column of the source schema; payments.email joins users.email;
// every other column is declared safe.
const fullRules = `levels:
  full:
    keep: ["*.*.id", "*.*.*_id", "*.*.created_at", "public.payments.amount", "billing.notes.*", "public.slow.payload"]
    public.users:
      email: {strategy: fake-email, unique: true}
      ssn:   {strategy: fake-ssn}
      phone: {strategy: fake-phone}
      name:  {strategy: fake-name}
    public.payments:
      email:       {strategy: fake-email}
      card_number: {strategy: fake-card}
`

// masked lists the masked columns of fullRules per table.
var masked = map[string][]string{
	"users":    {"email", "ssn", "phone", "name"},
	"payments": {"email", "card_number"},
}

// sourceSchema is the generated "production" database: keys, a unique masked column that a
// foreign key references, expression and plain indexes, a check constraint, a view, a
// sequence, an unmasked table whose text needs every COPY escape, NULLs, a deferrable unique
// constraint, a clustered index and a table that sets autovacuum_enabled itself.
const sourceSchema = `
CREATE SCHEMA billing;
CREATE TABLE users (
  id serial PRIMARY KEY,
  email text NOT NULL UNIQUE,
  ssn text, phone text, name text,
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT users_name_len CHECK (length(name) < 200)
);
CREATE INDEX users_created_idx ON users (created_at);
CREATE INDEX users_lower_email_idx ON users (lower(email));
CREATE TABLE payments (
  id bigserial PRIMARY KEY,
  user_id int NOT NULL REFERENCES users(id),
  email text REFERENCES users(email),
  card_number text,
  amount numeric(12,2),
  created_at timestamptz
);
CREATE INDEX payments_user_idx ON payments (user_id);
CREATE TABLE billing.notes (id int PRIMARY KEY, body text, tags text[], doc jsonb,
  CONSTRAINT notes_body_key UNIQUE (body) DEFERRABLE INITIALLY DEFERRED) WITH (autovacuum_enabled = false);
CREATE INDEX notes_doc_idx ON billing.notes (id, body);
ALTER TABLE billing.notes CLUSTER ON notes_doc_idx;
CREATE SEQUENCE billing.invoice_seq START 100;
SELECT setval('billing.invoice_seq', 4242);
CREATE VIEW big_payments AS SELECT id, amount FROM payments WHERE amount > 500;
INSERT INTO users (email, ssn, phone, name, created_at)
  SELECT 'user' || g || '@corp.example',
         CASE WHEN g % 10 = 0 THEN NULL ELSE lpad((g * 7919 % 899999999 + 100000000)::text, 9, '0') END,
         '+1 415-555-' || lpad(g::text, 4, '0'),
         'Person ' || g || E'\tTab\\Back',
         timestamptz '2024-01-01' + g * interval '1 minute'
  FROM generate_series(1, :rows) g;
INSERT INTO payments (user_id, email, card_number, amount, created_at)
  SELECT u.id, CASE WHEN u.id % 7 = 0 THEN NULL ELSE u.email END,
         '4111 1111 ' || lpad((u.id * 31 % 10000)::text, 4, '0') || ' 1111',
         (u.id % 1000) + 0.25, u.created_at
  FROM users u, generate_series(1, 2);
INSERT INTO billing.notes VALUES
  (1, E'line one\nline two\ttab \\ backslash \r cr', '{a,"b c",NULL}', '{"k": "v\\n"}'),
  (2, NULL, NULL, NULL),
  (3, 'ünïcødé ✓ \N literal', '{}', '[]'),
  (4, '', '{""}', 'null');
`

// newSource creates a source database with rows users (and 2×rows payments).
func newSource(t *testing.T, rows int) string {
	t.Helper()
	u := testenv.Postgres(t)
	execURL(t, u, strings.ReplaceAll(sourceSchema, ":rows", strconv.Itoa(rows)))
	return u
}

func execURL(t *testing.T, u, sql string) {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.PgConn().Exec(ctx, sql).ReadAll(); err != nil {
		t.Fatalf("exec: %v", err)
	}
}

// dump runs pg_dump with args (e.g. -Fc) and returns the file.
func dump(t *testing.T, u string, name string, args ...string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), name)
	cmd := exec.Command("pg_dump", append([]string{"-d", u, "-f", out}, args...)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pg_dump: %v: %s", err, b)
	}
	return out
}

// pgRestore restores file into a fresh database with pg_restore and returns its URL.
func pgRestore(t *testing.T, file string) string {
	t.Helper()
	u := testenv.Postgres(t)
	cmd := exec.Command("pg_restore", "--no-owner", "--no-acl", "--exit-on-error", "-d", u, file)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pg_restore: %v: %s", err, b)
	}
	return u
}

// urlSecrets resolves a reference that is a PostgreSQL URL (tests only).
type urlSecrets struct{}

func (urlSecrets) Resolve(_ context.Context, ref string) (provisioner.Credentials, error) {
	return credsFromURL(ref)
}

func credsFromURL(ref string) (provisioner.Credentials, error) {
	p, err := url.Parse(ref)
	if err != nil {
		return provisioner.Credentials{}, err
	}
	port, _ := strconv.Atoi(p.Port())
	pw, _ := p.User.Password()
	return provisioner.Credentials{Engine: "postgres", Host: p.Hostname(), Port: port,
		Username: p.User.Username(), Password: provisioner.NewPassword(pw), DBName: strings.TrimPrefix(p.Path, "/")}, nil
}

// secretsFunc is a SecretStore with a function field.
type secretsFunc func(ctx context.Context, ref string) (provisioner.Credentials, error)

func (f secretsFunc) Resolve(ctx context.Context, ref string) (provisioner.Credentials, error) {
	return f(ctx, ref)
}

type agentOpts struct {
	rules       string
	secrets     SecretStore
	maxAttempts int
}

// testQueue is the real job queue, with the Redis client the tests read its streams with.
type testQueue struct {
	*redisstore.Queue
	rdb *redis.Client
}

func newQueue(rdb *redis.Client, prefix string) *testQueue {
	return &testQueue{Queue: redisstore.NewQueue(rdb, prefix, ""), rdb: rdb}
}

func newTestAgent(t *testing.T, rdb *redis.Client, prefix, consumer string, o agentOpts) (*Agent, *testQueue) {
	t.Helper()
	if o.rules == "" {
		o.rules = fullRules
	}
	if o.secrets == nil {
		o.secrets = urlSecrets{}
	}
	rules, err := mask.ParseRules([]byte(o.rules))
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig(consumer)
	cfg.MinIdle, cfg.Block = time.Minute, 10*time.Millisecond
	cfg.WorkDir = t.TempDir()
	if o.maxAttempts > 0 {
		cfg.MaxAttempts = o.maxAttempts
	}
	q := newQueue(rdb, prefix)
	a, err := New(cfg, Deps{Queue: q, Secrets: o.secrets, Rules: rules, MaskKey: testKey, Log: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.EnsureGroup(context.Background()); err != nil {
		t.Fatal(err)
	}
	return a, q
}

func restoreJob(id, backup, target string) jobs.Job {
	return jobs.Job{RequestID: id, Backup: jobs.BackupRef{Location: backup}, Strategy: provisioner.StrategyRestore,
		TargetRef: target, MaskLevel: "full", Parallelism: 2}
}

// runToEnd enqueues job, runs one agent iteration and returns the job's final event.
func runToEnd(t *testing.T, a *Agent, q *testQueue, job jobs.Job) jobs.Event {
	t.Helper()
	ctx := context.Background()
	if _, err := q.Enqueue(ctx, job); err != nil {
		t.Fatal(err)
	}
	got, err := a.RunOnce(ctx)
	if err != nil || !got {
		t.Fatalf("RunOnce = %v, %v", got, err)
	}
	return finalEvent(t, q, job.RequestID)
}

// events returns the progress events of one request, oldest first.
func events(t *testing.T, q *testQueue, requestID string) []jobs.Event {
	t.Helper()
	msgs, err := q.rdb.XRange(context.Background(), q.EventsKey(), "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	var out []jobs.Event
	for _, m := range msgs {
		e, err := redisstore.ParseEvent(m.Values)
		if err != nil {
			t.Fatal(err)
		}
		if e.RequestID == requestID {
			out = append(out, e)
		}
	}
	return out
}

func finalEvent(t *testing.T, q *testQueue, requestID string) jobs.Event {
	t.Helper()
	ev := events(t, q, requestID)
	if len(ev) == 0 || ev[len(ev)-1].State == jobs.StateRunning {
		t.Fatalf("no final event for %s: %+v", requestID, ev)
	}
	return ev[len(ev)-1]
}

// query returns the rows of sql as tab-joined strings.
func query(t *testing.T, u, sql string) []string {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	rows, err := c.Query(ctx, sql, pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		s := make([]string, len(vals))
		for i, v := range vals {
			s[i] = fmt.Sprint(v)
		}
		out = append(out, strings.Join(s, "\t"))
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return out
}

// catalogQueries describe what must be equal between the agent's restore and pg_restore's.
var catalogQueries = map[string]string{
	"columns": `SELECT table_schema, table_name, column_name, data_type, is_nullable, coalesce(column_default, '')
		FROM information_schema.columns WHERE table_schema IN ('public', 'billing') ORDER BY 1, 2, ordinal_position`,
	"indexes": `SELECT schemaname, tablename, indexname, indexdef FROM pg_indexes
		WHERE schemaname IN ('public', 'billing') ORDER BY 1, 2, 3`,
	"constraints": `SELECT conrelid::regclass::text, conname, contype, pg_get_constraintdef(oid), convalidated,
		conindid::regclass::text, condeferrable, condeferred
		FROM pg_constraint WHERE connamespace::regnamespace::text IN ('public', 'billing') ORDER BY 1, 2`,
	"index flags": `SELECT i.indexrelid::regclass::text, indisunique, indisprimary, indimmediate, indisclustered,
		indisvalid, indisready, indislive, indisreplident,
		(SELECT string_agg(d.refclassid::regclass::text || ':' || d.deptype::text, ',' ORDER BY d.refclassid::regclass::text || ':' || d.deptype::text) FROM pg_depend d
		 WHERE d.classid = 'pg_class'::regclass AND d.objid = i.indexrelid)
		FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
		WHERE c.relnamespace::regnamespace::text IN ('public', 'billing') ORDER BY 1`,
	"sequences": `SELECT schemaname, sequencename, last_value, start_value, increment_by FROM pg_sequences
		WHERE schemaname IN ('public', 'billing') ORDER BY 1, 2`,
	"storage options": `SELECT c.oid::regclass::text, coalesce(array_to_string(c.reloptions, ','), '') FROM pg_class c
		WHERE c.relnamespace::regnamespace::text IN ('public', 'billing') AND c.relkind IN ('r', 'i') ORDER BY 1`,
	"views": `SELECT schemaname, viewname, definition FROM pg_views WHERE schemaname IN ('public', 'billing') ORDER BY 1, 2`,
	"analyzed": `SELECT relname, reltuples > 0 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname IN ('public', 'billing') AND relkind = 'r' ORDER BY 1`,
}

// digest returns md5 of the table's rows ordered by id, restricted to cols.
func digest(t *testing.T, u, table string, cols []string) string {
	t.Helper()
	sql := fmt.Sprintf("SELECT md5(string_agg(row(%s)::text, E'\\n' ORDER BY id)) FROM %s", strings.Join(cols, ", "), table)
	return query(t, u, sql)[0]
}

// tableColumns lists the columns of a table on u.
func tableColumns(t *testing.T, u, schema, table string) []string {
	return query(t, u, fmt.Sprintf(`SELECT column_name FROM information_schema.columns
		WHERE table_schema = '%s' AND table_name = '%s' ORDER BY ordinal_position`, schema, table))
}

// userTables counts the ordinary tables of user schemas on u.
func userTables(t *testing.T, u string) string {
	return query(t, u, `SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'`)[0]
}
