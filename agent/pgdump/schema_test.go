package pgdump

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// schemaSQL has what a table's columns and parents can hide behind: partitions (attached and
// created as partitions, on several levels), inheritance with local and inherited columns,
// quoted mixed-case names, a schema whose name has a space, domains (over a type with a
// modifier, and arrays of one), a composite type and a typed table, generated columns, enums,
// defaults with commas and quotes, and a large object.
const schemaSQL = `
CREATE SCHEMA "My Schema";
CREATE DOMAIN public.email_d AS character varying(120) CHECK (VALUE LIKE '%@%');
CREATE DOMAIN "My Schema"."Code" AS text;
CREATE TYPE public.mood AS ENUM ('sad', 'ok, fine');
CREATE TYPE public.addr AS (street text, "Zip" character(5));
CREATE TABLE public.cards (id int, card text DEFAULT 'a,b''c', "Mixed Col" varchar(20), m public.mood,
  e public.email_d, codes "My Schema"."Code"[], total numeric GENERATED ALWAYS AS (id * 2) STORED,
  at timestamp(3) with time zone, doc jsonb, CONSTRAINT cards_check CHECK (id > 0)) PARTITION BY RANGE (id);
CREATE TABLE public.cards_1 PARTITION OF public.cards FOR VALUES FROM (1) TO (100) PARTITION BY HASH ("Mixed Col");
CREATE TABLE public.cards_1a PARTITION OF public.cards_1 FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE public.cards_1b PARTITION OF public.cards_1 FOR VALUES WITH (MODULUS 2, REMAINDER 1);
CREATE TABLE public.cards_2 (LIKE public.cards INCLUDING GENERATED INCLUDING CONSTRAINTS);
ALTER TABLE public.cards ATTACH PARTITION public.cards_2 FOR VALUES FROM (100) TO (200);
CREATE TABLE "My Schema"."Parent" (id int PRIMARY KEY, "Email" text, tags text[], n numeric(12,2));
CREATE TABLE "My Schema"."Child Table" ("Extra" text, n numeric(12,2)) INHERITS ("My Schema"."Parent");
CREATE TABLE public.other_parent (note text);
CREATE TABLE public.grandchild (z int) INHERITS ("My Schema"."Child Table", public.other_parent);
CREATE TABLE public.typed OF public.addr (street WITH OPTIONS NOT NULL);
CREATE TABLE public.nocols ();
INSERT INTO public.cards (id, card, "Mixed Col") VALUES (1, '4111', 'a'), (150, '5500', 'b');
SELECT lo_from_bytea(0, 'one'), lo_from_bytea(0, 'two');
`

// catalogTables describes the ordinary and partitioned tables of user schemas as the catalog
// has them: name, partitioned, parents, and each column with its type, domains resolved.
const catalogTables = `
SELECT n.nspname || '.' || c.relname, c.relkind = 'p',
  coalesce((SELECT string_agg(pn.nspname || '.' || pc.relname, ',' ORDER BY i.inhseqno)
            FROM pg_inherits i JOIN pg_class pc ON pc.oid = i.inhparent JOIN pg_namespace pn ON pn.oid = pc.relnamespace
            WHERE i.inhrelid = c.oid), ''),
  coalesce((SELECT string_agg(a.attname || ' ' || CASE
              WHEN t.typtype = 'd' THEN format_type(t.typbasetype, t.typtypmod)
              WHEN et.typtype = 'd' THEN format_type(et.typbasetype, et.typtypmod) || '[]'
              ELSE format_type(a.atttypid, a.atttypmod) END, ',' ORDER BY a.attnum)
            FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid LEFT JOIN pg_type et ON et.oid = t.typelem AND t.typcategory = 'A'
            WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''), '')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_toast%'
ORDER BY 1`

func describe(s *Schema) []string {
	var out []string
	for _, t := range s.Tables {
		var cols []string
		for _, c := range t.Columns {
			cols = append(cols, c.Name+" "+c.Type)
		}
		out = append(out, fmt.Sprintf("%s\t%v\t%s\t%s", t.QualifiedName(), t.Partitioned, strings.Join(t.Parents, ","), strings.Join(cols, ",")))
	}
	slices.Sort(out)
	return out
}

func catalog(t *testing.T, u string) []string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// As pg_dump does: format_type then qualifies every user type.
	if _, err := conn.Exec(ctx, "SELECT pg_catalog.set_config('search_path', '', false)"); err != nil {
		t.Fatal(err)
	}
	rows, err := conn.Query(ctx, catalogTables)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for rows.Next() {
		var name, parents, cols string
		var partitioned bool
		if err := rows.Scan(&name, &partitioned, &parents, &cols); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s\t%v\t%s\t%s", name, partitioned, parents, cols))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// TestSchemaMatchesCatalog: the schema read from a custom archive and from plain scripts
// (with and without --load-via-partition-root, gzip or not) is the source's catalog.
func TestSchemaMatchesCatalog(t *testing.T) {
	f := newFixture(t, schemaSQL)
	want := catalog(t, f.url)
	variants := []struct {
		name string
		args []string
	}{
		{"custom", []string{"-Fc"}},
		{"plain", []string{"-Fp"}},
		{"plain via root", []string{"-Fp", "--load-via-partition-root"}},
		{"gzip", []string{"-Fp", "-Z", "5"}},
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			path := f.dump(t, strings.ReplaceAll(v.name, " ", "_"), false, v.args...)
			var s *Schema
			if v.args[0] == "-Fc" {
				var err error
				if s, err = openFile(t, path).Schema(); err != nil {
					t.Fatal(err)
				}
			} else {
				fh, err := os.Open(path)
				if err != nil {
					t.Fatal(err)
				}
				defer fh.Close()
				var copied []string
				s, err = ReadScriptSchema(fh, func(c *CopyBlock) error {
					copied = append(copied, c.Table)
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Contains(copied, "public.cards_2") && !slices.Contains(copied, "public.cards") {
					t.Errorf("COPY blocks seen: %q", copied)
				}
			}
			if got := describe(s); !slices.Equal(got, want) {
				t.Errorf("schema differs from the catalog:\ngot  %q\nwant %q", got, want)
			}
			if s.LargeObjects != 2 {
				t.Errorf("LargeObjects = %d, want 2", s.LargeObjects)
			}
			cards, _ := s.Table("public.cards")
			if !slices.Equal(cards.PartitionKey, []string{"id"}) {
				t.Errorf("partition key of cards = %q", cards.PartitionKey)
			}
			if len(s.Inserts) != 0 {
				t.Errorf("Inserts = %q", s.Inserts)
			}
		})
	}
}

func TestSchemaFindsInserts(t *testing.T) {
	f := newFixture(t, "CREATE TABLE public.t (a int, b text); INSERT INTO public.t VALUES (1, 'x');")
	for _, format := range []string{"-Fc", "-Fp"} {
		path := f.dump(t, "ins"+format, false, format, "--inserts")
		var s *Schema
		var err error
		if format == "-Fc" {
			s, err = openFile(t, path).Schema()
		} else {
			var b []byte
			if b, err = os.ReadFile(path); err == nil {
				s, err = ReadScriptSchema(bytes.NewReader(b), nil)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(s.Inserts, []string{"public.t"}) {
			t.Errorf("%s: Inserts = %q, want public.t", format, s.Inserts)
		}
	}
}

func TestLargeObjects(t *testing.T) {
	f := newFixture(t, `CREATE TABLE t (id int, doc oid);
		INSERT INTO t VALUES (1, lo_from_bytea(0, 'hello large object')), (2, lo_from_bytea(0, '')),
		  (3, lo_from_bytea(0, convert_to(repeat('big ', 100000), 'UTF8')));`)
	want := map[uint32]string{}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, f.url)
	if err != nil {
		t.Fatal(err)
	}
	rows, _ := conn.Query(ctx, "SELECT oid, lo_get(oid) FROM pg_largeobject_metadata")
	var oid uint32
	var data []byte
	if _, err := pgx.ForEachRow(rows, []any{&oid, &data}, func() error { want[oid] = string(data); return nil }); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	for _, v := range archiveVariants {
		t.Run(v.name, func(t *testing.T) {
			a := openFile(t, f.dump(t, v.name+".dump", v.pipe, v.args...))
			got := map[uint32]string{}
			err := a.LargeObjects(findEntry(t, a, "BLOBS", "BLOBS"), func(oid uint32, r io.Reader) error {
				b, err := io.ReadAll(r)
				got[oid] = string(b)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("%d large objects, want %d", len(got), len(want))
			}
			for oid, w := range want {
				if got[oid] != w {
					t.Errorf("large object %d: %d bytes, want %d", oid, len(got[oid]), len(w))
				}
			}
			// A reader that reads nothing still leaves the archive readable.
			n := 0
			if err := a.LargeObjects(findEntry(t, a, "BLOBS", "BLOBS"), func(uint32, io.Reader) error { n++; return nil }); err != nil || n != 3 {
				t.Fatalf("skipping every object: %d objects, %v", n, err)
			}
			s, err := a.Schema()
			if err != nil || s.LargeObjects != 3 {
				t.Fatalf("Schema: %d large objects, %v", s.LargeObjects, err)
			}
		})
	}
}
