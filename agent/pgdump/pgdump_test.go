package pgdump

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/clonebot/clonebot/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// fixtureSQL builds a small database with what a restore has to get right: quoted and
// mixed-case names, awkward text, NULLs, a sequence, indexes, keys, a view, comments,
// functions whose bodies hold semicolons, a trigger, an empty table, a table without
// columns and a table large enough to span many data chunks.
const fixtureSQL = `
CREATE SCHEMA "Sales";
CREATE TABLE public.users (id serial PRIMARY KEY, email text UNIQUE NOT NULL, note text,
    "Mixed Case" text, born date, tag text DEFAULT E'semi;colon\\ and ''quote''');
CREATE TABLE "Sales"."Order Items" (id bigserial PRIMARY KEY, user_id int REFERENCES public.users(id),
    amount numeric(10,2), "Qty""x" int, at timestamptz);
CREATE TABLE public.empty_table (id int);
CREATE TABLE public.nocols ();
CREATE TABLE public.big (id int PRIMARY KEY, payload text);
CREATE INDEX order_items_at ON "Sales"."Order Items" (at);
CREATE VIEW public.user_emails AS SELECT id, email FROM public.users;
COMMENT ON TABLE public.users IS 'people; it''s $$ fine';
COMMENT ON INDEX "Sales".order_items_at IS 'by time';
CREATE SEQUENCE public.invoice_seq;
SELECT setval('public.invoice_seq', 42);
CREATE FUNCTION public.add(a int, b int) RETURNS int LANGUAGE plpgsql AS $fn$
BEGIN
  RETURN a + b; -- a ; in a comment, and 'quotes'
END; $fn$;
CREATE FUNCTION public.twice(x int) RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT x * 2; SELECT CASE WHEN x > 0 THEN x END; END;
CREATE FUNCTION public.touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
CREATE TRIGGER users_touch BEFORE UPDATE ON public.users FOR EACH ROW EXECUTE FUNCTION public.touch();
INSERT INTO public.users (email, note, "Mixed Case", born) VALUES
  ('a@example.com', E'tab\there\nnewline\\back\r\ncrlf', 'ünïcødé ✓ 😀', '1990-01-02'),
  ('b@example.com', NULL, NULL, NULL),
  ('c@example.com', E'\\.', '', NULL),
  ('d@example.com', E'line\n\\.\nafter', 'x', NULL);
INSERT INTO "Sales"."Order Items" (user_id, amount, "Qty""x", at) VALUES
  (1, 12.50, 3, '2024-01-01 10:00:00+00'), (2, NULL, NULL, NULL), (1, 0.01, -1, '2024-02-29 23:59:59+00');
INSERT INTO public.nocols DEFAULT VALUES;
INSERT INTO public.nocols DEFAULT VALUES;
INSERT INTO public.big SELECT i, md5(i::text) || repeat(' ' || (i % 97)::text, i % 13) FROM generate_series(1, 20000) i;
INSERT INTO public.big VALUES (0, repeat('long row ', 40000));
`

// fixture is a database made from fixtureSQL and its dumps.
type fixture struct {
	url string
	dir string
}

func newFixture(t testing.TB, sql string) fixture {
	t.Helper()
	f := fixture{url: testenv.Postgres(t), dir: t.TempDir()}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, f.url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.PgConn().Exec(ctx, sql).ReadAll(); err != nil {
		t.Fatalf("build fixture: %v", err)
	}
	return f
}

// dump runs pg_dump with args and returns the path of its output. With pipe, pg_dump
// writes to a pipe, so a custom archive records no data offsets.
func (f fixture) dump(t testing.TB, name string, pipe bool, args ...string) string {
	t.Helper()
	path := filepath.Join(f.dir, name)
	if pipe {
		var out bytes.Buffer
		cmd := exec.Command("pg_dump", append(args, "-d", f.url)...)
		cmd.Stdout = &out // not an *os.File: exec connects a pipe
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("pg_dump %v: %v", args, err)
		}
		if err := os.WriteFile(path, out.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	run(t, "pg_dump", append(args, "-d", f.url, "-f", path)...)
	return path
}

func run(t testing.TB, name string, args ...string) []byte {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, stderr.String())
	}
	return out
}

func openFile(t testing.TB, path string) *Archive {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fh.Close() })
	st, err := fh.Stat()
	if err != nil {
		t.Fatal(err)
	}
	a, err := OpenCustom(fh, st.Size())
	if err != nil {
		t.Fatalf("OpenCustom(%s): %v", filepath.Base(path), err)
	}
	return a
}
