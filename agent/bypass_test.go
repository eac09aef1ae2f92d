package agent

// The tests of this file are the six findings of issue 11, one test each: two masking
// bypasses (rules on parent tables, large objects in scripts), unclassified columns, the
// public schema, --load-via-partition-root scripts, and inputs that must fail once, clearly,
// leaving the target empty.

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/clonebot/clonebot/internal/testenv"
	"github.com/clonebot/clonebot/jobs"
)

// parentsSchema has a hash-partitioned table whose partition key is the masked column, and an
// inheritance parent with a child; every column is ruled by parentsRules, on the parents only.
const parentsSchema = `
CREATE TABLE cards (card_number text NOT NULL) PARTITION BY HASH (card_number);
CREATE TABLE cards_0 PARTITION OF cards FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE cards_1 PARTITION OF cards FOR VALUES WITH (MODULUS 2, REMAINDER 1);
CREATE TABLE people (email text);
CREATE TABLE staff () INHERITS (people);
INSERT INTO cards SELECT '4' || lpad((g::bigint * 2654435761 % 1000000000000000)::text, 15, '0') FROM generate_series(1, 3000) g;
INSERT INTO people SELECT 'person' || g || '@corp.example' FROM generate_series(1, 500) g;
INSERT INTO staff SELECT 'staff' || g || '@corp.example' FROM generate_series(1, 500) g;
`

const parentsRules = `levels:
  full:
    public.cards:
      card_number: {strategy: fake-card}
    public.people:
      email: {strategy: fake-email}
`

// leaked returns the values of column col of table on src that are also in it on clone.
func leaked(t *testing.T, src, clone, table, col string) []string {
	t.Helper()
	sql := "SELECT " + col + " FROM " + table + " WHERE " + col + " IS NOT NULL ORDER BY 1"
	want, got := query(t, src, sql), query(t, clone, sql)
	var out []string
	for _, v := range got {
		if _, found := slices.BinarySearch(want, v); found {
			out = append(out, v)
		}
	}
	return out
}

// TestRulesOnParentsCoverChildren (issue 11, item 1): a rule on a partitioned parent or an
// inheritance parent masks the rows of its partitions and children, in a custom archive and in
// a plain script; the masked partition key still routes each row to a partition.
func TestRulesOnParentsCoverChildren(t *testing.T) {
	src := testenv.Postgres(t)
	execURL(t, src, parentsSchema)
	rdb, prefix := testenv.Redis(t)
	a, q := newTestAgent(t, rdb, prefix, "a1", agentOpts{rules: parentsRules})
	for i, format := range []string{"-Fc", "-Fp"} {
		t.Run(format, func(t *testing.T) {
			file := dump(t, src, "prod"+format, format)
			clone := testenv.Postgres(t)
			if e := runToEnd(t, a, q, restoreJob("p"+string(rune('a'+i)), file, clone)); e.State != jobs.StateReady {
				t.Fatalf("final = %+v", e)
			}
			for _, c := range []struct{ table, col string }{{"cards", "card_number"}, {"cards_0", "card_number"},
				{"cards_1", "card_number"}, {"people", "email"}, {"staff", "email"}} {
				if raw := leaked(t, src, clone, c.table, c.col); len(raw) > 0 {
					t.Errorf("%s.%s: %d of the source's values reached the clone, e.g. %q", c.table, c.col, len(raw), raw[0])
				}
			}
			// Every row is there; a masked card number is in the partition its hash picks.
			for _, table := range []string{"cards", "ONLY people", "staff"} {
				count := "SELECT count(*) FROM " + table
				if w, g := query(t, src, count)[0], query(t, clone, count)[0]; w != g {
					t.Errorf("%s: %s rows on the clone, %s on the source", table, g, w)
				}
			}
			if n := query(t, clone, "SELECT count(*) FROM ONLY cards_0")[0]; n == "0" || n == "3000" {
				t.Errorf("cards_0 holds %s of 3000 rows", n)
			}
		})
	}
}

// loSchema is a table with a large object beside it.
const loSchema = `
CREATE TABLE docs (card_number text);
INSERT INTO docs VALUES ('4111111111111111');
SELECT lo_from_bytea(0, 'a large object holding 4111 1111 1111 1111');
`

const docsRules = `levels:
  full:
    public.docs:
      card_number: {strategy: fake-card}
`

// largeObjects counts the target's large objects.
func largeObjects(t *testing.T, u string) string {
	return query(t, u, "SELECT count(*) FROM pg_catalog.pg_largeobject_metadata")[0]
}

// TestLargeObjectsAreRefusedUnlessRuled (issue 11, item 2): large objects are refused in
// every format with a message that says so, leaving the target empty, unless the level says
// to drop or keep them.
func TestLargeObjectsAreRefusedUnlessRuled(t *testing.T) {
	src := testenv.Postgres(t)
	execURL(t, src, loSchema)
	files := map[string]string{
		"custom": dump(t, src, "prod.dump", "-Fc"),
		"plain":  dump(t, src, "prod.sql", "-Fp"),
		"gzip":   dump(t, src, "prod.sql.gz", "-Fp", "-Z", "6"),
	}
	rdb, prefix := testenv.Redis(t)
	tests := []struct {
		name, rules string
		wantLOs     string // "" when the restore must fail
	}{
		{"refused", docsRules, ""},
		{"dropped", docsRules + "    large_objects: drop\n", "0"},
		{"kept", docsRules + "    large_objects: keep\n", "1"},
	}
	n := 0
	for _, tt := range tests {
		a, q := newTestAgent(t, rdb, prefix, "a-"+tt.name, agentOpts{rules: tt.rules})
		for _, format := range []string{"custom", "plain", "gzip"} {
			t.Run(tt.name+"/"+format, func(t *testing.T) {
				n++
				target := testenv.Postgres(t)
				e := runToEnd(t, a, q, restoreJob("lo"+string(rune('a'+n)), files[format], target))
				if tt.wantLOs == "" {
					if e.State != jobs.StateFailed || !strings.Contains(e.Reason, "large objects") {
						t.Fatalf("final = %s %q, want failed, naming large objects", e.State, e.Reason)
					}
					if n := userTables(t, target); n != "0" || largeObjects(t, target) != "0" {
						t.Fatalf("the refused restore left %s tables and %s large objects", n, largeObjects(t, target))
					}
					return
				}
				if e.State != jobs.StateReady {
					t.Fatalf("final = %+v", e)
				}
				if got := largeObjects(t, target); got != tt.wantLOs {
					t.Fatalf("%s large objects on the clone, want %s", got, tt.wantLOs)
				}
				if tt.wantLOs == "1" {
					body := "SELECT convert_from(lo_get(oid), 'UTF8') FROM pg_catalog.pg_largeobject_metadata"
					if w, g := query(t, src, body), query(t, target, body); !slices.Equal(w, g) {
						t.Fatalf("large object %q, want %q", g, w)
					}
				}
			})
		}
	}
}

// taxSchema is a table with a column the rules do not mention.
const taxSchema = `
CREATE TABLE users (email text, tax_id text);
INSERT INTO users SELECT 'user' || g || '@corp.example', lpad((100 + g % 600)::text, 3, '0') || '-' || lpad((10 + g % 89)::text, 2, '0') || '-' || lpad((1000 + g)::text, 4, '0')
  FROM generate_series(1, 400) g;
`

const emailRules = `levels:
  full:
    public.users:
      email: {strategy: fake-email}
`

// TestUnclassifiedColumns (issue 11, item 3): a column neither ruled nor kept fails the
// restore before data moves, by default; under unclassified: keep, the gate's detectors block
// the clone because the column holds national ids; under mask-by-type it is masked.
func TestUnclassifiedColumns(t *testing.T) {
	src := testenv.Postgres(t)
	execURL(t, src, taxSchema)
	file := dump(t, src, "prod.dump", "-Fc")
	rdb, prefix := testenv.Redis(t)
	tests := []struct {
		name, policy string
		want         string // a failure reason's part; "" for ready
	}{
		{"refused by default", "", "unclassified columns: public.users.tax_id"},
		{"kept, then caught by the gate", "    unclassified: keep\n", "public.users.tax_id holds national ids"},
		{"masked by type", "    unclassified: mask-by-type\n", ""},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, q := newTestAgent(t, rdb, prefix, "a"+string(rune('a'+i)), agentOpts{rules: emailRules + tt.policy})
			target := testenv.Postgres(t)
			id := "tax" + string(rune('a'+i))
			e := runToEnd(t, a, q, restoreJob(id, file, target))
			if tt.want != "" {
				if e.State != jobs.StateFailed || !strings.Contains(e.Reason, tt.want) {
					t.Fatalf("final = %s %q, want failed with %q", e.State, e.Reason, tt.want)
				}
				if strings.Contains(e.Reason, "-1001") {
					t.Fatalf("the reason quotes a value: %q", e.Reason)
				}
				if n := userTables(t, target); n != "0" {
					t.Fatalf("%s tables left on the target", n)
				}
				return
			}
			if e.State != jobs.StateReady {
				t.Fatalf("final = %+v", e)
			}
			if raw := leaked(t, src, target, "users", "tax_id"); len(raw) > 0 {
				t.Fatalf("%d raw tax ids on the clone", len(raw))
			}
		})
	}
}

// publicSchema describes the public schema: owner, privileges and comment.
const publicSchema = `SELECT nspowner::regrole::text, coalesce(nspacl::text, ''), coalesce(obj_description(oid, 'pg_namespace'), '')
	FROM pg_catalog.pg_namespace WHERE nspname = 'public'`

// TestPublicSchemaKeptAsPgRestoreLeavesIt (issue 11, item 4): the target's public schema
// keeps its owner, comment and privileges, also when a failed attempt left objects in it.
func TestPublicSchemaKeptAsPgRestoreLeavesIt(t *testing.T) {
	src := testenv.Postgres(t)
	execURL(t, src, "CREATE TABLE docs (card_number text); INSERT INTO docs VALUES ('4111111111111111');")
	file := dump(t, src, "prod.dump", "-Fc")
	want := query(t, pgRestore(t, file), publicSchema)
	rdb, prefix := testenv.Redis(t)
	a, q := newTestAgent(t, rdb, prefix, "a1", agentOpts{rules: docsRules})
	fresh, retried := testenv.Postgres(t), testenv.Postgres(t)
	execURL(t, retried, "CREATE TABLE public.docs (x int); CREATE FUNCTION public.f() RETURNS int LANGUAGE sql AS 'SELECT 1'")
	for i, target := range []string{fresh, retried} {
		if e := runToEnd(t, a, q, restoreJob("pub"+string(rune('a'+i)), file, target)); e.State != jobs.StateReady {
			t.Fatalf("final = %+v", e)
		}
		if got := query(t, target, publicSchema); !slices.Equal(got, want) {
			t.Errorf("target %d: public is %q, pg_restore leaves %q", i, got, want)
		}
	}
	if got := query(t, retried, "SELECT count(*) FROM pg_proc WHERE proname = 'f'")[0]; got != "0" {
		t.Errorf("a function of the earlier attempt survived")
	}
}

// TestPlainLoadViaPartitionRoot (issue 11, item 5): a plain dump made with
// --load-via-partition-root restores, masked.
func TestPlainLoadViaPartitionRoot(t *testing.T) {
	src := testenv.Postgres(t)
	execURL(t, src, parentsSchema)
	file := dump(t, src, "prod.sql", "-Fp", "--load-via-partition-root")
	rdb, prefix := testenv.Redis(t)
	a, q := newTestAgent(t, rdb, prefix, "a1", agentOpts{rules: parentsRules})
	clone := testenv.Postgres(t)
	if e := runToEnd(t, a, q, restoreJob("root", file, clone)); e.State != jobs.StateReady {
		t.Fatalf("final = %+v", e)
	}
	if raw := leaked(t, src, clone, "cards", "card_number"); len(raw) > 0 {
		t.Fatalf("%d raw card numbers on the clone", len(raw))
	}
	if n := query(t, clone, "SELECT count(*) FROM cards")[0]; n != "3000" {
		t.Fatalf("%s rows on the clone, want 3000", n)
	}
}

// TestBadInputFailsOnceAndLeavesTargetEmpty (issue 11, item 6): a directory archive, a tar
// archive, an empty file and a truncated script each fail at the first attempt, with a reason
// that names the problem, and leave nothing on the target.
func TestBadInputFailsOnceAndLeavesTargetEmpty(t *testing.T) {
	src := testenv.Postgres(t)
	execURL(t, src, "CREATE TABLE docs (card_number text); INSERT INTO docs SELECT '4111111111111111' FROM generate_series(1, 5000);"+
		"CREATE TABLE later (card_number text); INSERT INTO later VALUES ('4111111111111111');")
	dir := t.TempDir()
	script, err := os.ReadFile(dump(t, src, "prod.sql", "-Fp"))
	if err != nil {
		t.Fatal(err)
	}
	cut := strings.Index(string(script), "COPY public.docs")
	truncated := filepath.Join(dir, "truncated.sql")
	empty := filepath.Join(dir, "empty.dump")
	for name, body := range map[string][]byte{truncated: script[:cut+len(script[cut:])/2], empty: nil} {
		if err := os.WriteFile(name, body, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	directory := filepath.Join(dir, "prod.dir")
	if out, err := exec.Command("pg_dump", "-d", src, "-Fd", "-f", directory).CombinedOutput(); err != nil {
		t.Fatalf("pg_dump -Fd: %v: %s", err, out)
	}
	tests := []struct{ name, file, want string }{
		{"directory", directory, "directory archives (pg_dump -Fd) are not supported: dump with -Fc"},
		{"directory's toc.dat", filepath.Join(directory, "toc.dat"), "directory archives (pg_dump -Fd) are not supported: dump with -Fc"},
		{"tar", dump(t, src, "prod.tar", "-Ft"), "tar archives are not supported: dump with -Fc"},
		{"empty", empty, "the backup file is empty"},
		{"truncated script", truncated, "corrupt or truncated"},
	}
	rdb, prefix := testenv.Redis(t)
	rules := "levels:\n  full:\n    public.docs:\n      card_number: {strategy: fake-card}\n    public.later:\n      card_number: {strategy: fake-card}\n"
	a, q := newTestAgent(t, rdb, prefix, "a1", agentOpts{rules: rules})
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := testenv.Postgres(t)
			e := runToEnd(t, a, q, restoreJob("bad"+string(rune('a'+i)), tt.file, target))
			if e.State != jobs.StateFailed || e.Attempt != 1 || !strings.Contains(e.Reason, tt.want) {
				t.Fatalf("final = %s attempt %d %q, want failed at attempt 1 with %q", e.State, e.Attempt, e.Reason, tt.want)
			}
			pending, err := rdb.XPending(context.Background(), q.JobsKey(), q.Group()).Result()
			if err != nil || pending.Count != 0 {
				t.Fatalf("the job is left to retry: %+v %v", pending, err)
			}
			if n := userTables(t, target); n != "0" {
				t.Fatalf("%s tables left on the target", n)
			}
		})
	}
}
