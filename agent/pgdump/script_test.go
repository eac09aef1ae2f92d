package pgdump

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/clonebot/clonebot/internal/testenv"
)

// readItem is a ScriptItem with its COPY rows read.
type readItem struct {
	Section Section
	Desc    string
	SQL     string
	Meta    string
	Table   string
	Columns []string
	Rows    string
	Line    int
}

func readScript(data []byte) ([]readItem, error) {
	s, err := OpenScript(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	return drainScript(s)
}

func drainScript(s *ScriptReader) ([]readItem, error) {
	var items []readItem
	for {
		it, err := s.Next()
		if errors.Is(err, io.EOF) {
			return items, nil
		}
		if err != nil {
			return items, err
		}
		ri := readItem{Section: it.Section, Desc: it.Desc, SQL: it.SQL, Meta: it.Meta, Line: it.Line}
		if it.Copy != nil {
			b, err := io.ReadAll(it.Copy.Rows)
			if err != nil {
				return items, err
			}
			ri.Table, ri.Columns, ri.Rows = it.Copy.Table, it.Copy.Columns, string(b)
		}
		items = append(items, ri)
	}
}

func scriptSeed(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "small.sql"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestScriptReaderSplits(t *testing.T) {
	pre, data, post := SectionPreData, SectionData, SectionPostData
	tests := []struct {
		name string
		give string
		want []readItem
	}{
		{"comments and strings", "-- lead ; comment\nSELECT 'a;b', \"c;d\", $$e;f$$, $x$g;$$;h$x$; /* i; /* nested; */ j; */ SELECT 2;",
			[]readItem{
				{Section: pre, SQL: `SELECT 'a;b', "c;d", $$e;f$$, $x$g;$$;h$x$;`, Line: 2},
				{Section: pre, SQL: "SELECT 2;", Line: 2},
			}},
		{"escape strings", `SELECT E'it\'s;', 'it''s;', e'\\';` + "\nSELECT U&'d\\0061t;', N'x;';",
			[]readItem{
				{Section: pre, SQL: `SELECT E'it\'s;', 'it''s;', e'\\';`, Line: 1},
				{Section: pre, SQL: `SELECT U&'d\0061t;', N'x;';`, Line: 2},
			}},
		{"backslash in plain string", `SELECT 'C:\';` + "\nSELECT 1;",
			[]readItem{{Section: pre, SQL: `SELECT 'C:\';`, Line: 1}, {Section: pre, SQL: "SELECT 1;", Line: 2}}},
		{"standard_conforming_strings off", "SET standard_conforming_strings = off;\nSELECT 'a\\';b';\nSET standard_conforming_strings TO on;\nSELECT 'c\\';",
			[]readItem{
				{Section: pre, Desc: "SET", SQL: "SET standard_conforming_strings = off;", Line: 1},
				{Section: pre, SQL: `SELECT 'a\';b';`, Line: 2},
				{Section: pre, Desc: "SET", SQL: "SET standard_conforming_strings TO on;", Line: 3},
				{Section: pre, SQL: `SELECT 'c\';`, Line: 4},
			}},
		{"dollar signs that are not quotes", "SELECT $1, a$b$c, $$x$$ FROM t$;\nPREPARE p AS SELECT $2;",
			[]readItem{
				{Section: pre, SQL: "SELECT $1, a$b$c, $$x$$ FROM t$;", Line: 1},
				{Section: pre, SQL: "PREPARE p AS SELECT $2;", Line: 2},
			}},
		{"parentheses and begin atomic", "CREATE RULE r AS ON INSERT TO t DO ALSO (SELECT 1; SELECT 2);\nCREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql\nBEGIN ATOMIC SELECT 1; SELECT CASE WHEN true THEN 2 END; END;\nBEGIN;\nEND;",
			[]readItem{
				{Section: post, Desc: "RULE", SQL: "CREATE RULE r AS ON INSERT TO t DO ALSO (SELECT 1; SELECT 2);", Line: 1},
				{Section: post, SQL: "CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql\nBEGIN ATOMIC SELECT 1; SELECT CASE WHEN true THEN 2 END; END;", Line: 2},
				{Section: post, SQL: "BEGIN;", Line: 4},
				{Section: post, SQL: "END;", Line: 5},
			}},
		{"copy blocks", "COPY public.t (a, \"B b\") FROM stdin;\n1\tx\n\\N\t\\\\.\n\\.\nCOPY \"S\".\"E\" FROM stdin;\n\\.\nCOPY t2 (a) FROM stdin;\n\\.x\n\\.\r\nSELECT pg_catalog.setval('public.s', 3, true);\nCOPY t (a) TO stdout;\n",
			[]readItem{
				{Section: data, Desc: "TABLE DATA", SQL: "COPY public.t (a, \"B b\") FROM stdin;", Table: "public.t", Columns: []string{"a", "B b"}, Rows: "1\tx\n\\N\t\\\\.\n", Line: 1},
				{Section: data, Desc: "TABLE DATA", SQL: "COPY \"S\".\"E\" FROM stdin;", Table: "S.E", Line: 5},
				{Section: data, Desc: "TABLE DATA", SQL: "COPY t2 (a) FROM stdin;", Table: "t2", Columns: []string{"a"}, Rows: "\\.x\n", Line: 7},
				{Section: data, Desc: "SEQUENCE SET", SQL: "SELECT pg_catalog.setval('public.s', 3, true);", Line: 10},
				{Section: data, SQL: "COPY t (a) TO stdout;", Line: 11},
			}},
		{"sections in pg_dump order", "CREATE TABLE t (id int);\nINSERT INTO t VALUES (1);\nCREATE UNIQUE INDEX i ON t (id);\nALTER TABLE ONLY t\n    ADD CONSTRAINT t_pkey PRIMARY KEY (id);\nALTER TABLE ONLY t\n    ADD CONSTRAINT t_fk FOREIGN KEY (id) REFERENCES t(id);\nCREATE TRIGGER tr AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION f();\nCREATE POLICY p ON t;\nALTER TABLE t ENABLE ROW LEVEL SECURITY;\nCOMMENT ON INDEX i IS 'x';\nGRANT ALL ON t TO u;",
			[]readItem{
				{Section: pre, SQL: "CREATE TABLE t (id int);", Line: 1},
				{Section: data, Desc: "TABLE DATA", SQL: "INSERT INTO t VALUES (1);", Line: 2},
				{Section: post, Desc: "INDEX", SQL: "CREATE UNIQUE INDEX i ON t (id);", Line: 3},
				{Section: post, Desc: "CONSTRAINT", SQL: "ALTER TABLE ONLY t\n    ADD CONSTRAINT t_pkey PRIMARY KEY (id);", Line: 4},
				{Section: post, Desc: "FK CONSTRAINT", SQL: "ALTER TABLE ONLY t\n    ADD CONSTRAINT t_fk FOREIGN KEY (id) REFERENCES t(id);", Line: 6},
				{Section: post, Desc: "TRIGGER", SQL: "CREATE TRIGGER tr AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION f();", Line: 8},
				{Section: post, Desc: "POLICY", SQL: "CREATE POLICY p ON t;", Line: 9},
				{Section: post, Desc: "ROW SECURITY", SQL: "ALTER TABLE t ENABLE ROW LEVEL SECURITY;", Line: 10},
				{Section: post, SQL: "COMMENT ON INDEX i IS 'x';", Line: 11},
				{Section: post, SQL: "GRANT ALL ON t TO u;", Line: 12},
			}},
		{"large objects", "SELECT pg_catalog.lo_create('24477');\nBEGIN;\nSELECT pg_catalog.lo_open('24477', 131072);\nSELECT pg_catalog.lowrite(0, '\\x6869');\nSELECT pg_catalog.lo_close(0);\nCOMMIT;",
			[]readItem{
				{Section: pre, Desc: "BLOB", SQL: "SELECT pg_catalog.lo_create('24477');", Line: 1},
				{Section: pre, SQL: "BEGIN;", Line: 2},
				{Section: data, Desc: "BLOBS", SQL: "SELECT pg_catalog.lo_open('24477', 131072);", Line: 3},
				{Section: data, Desc: "BLOBS", SQL: "SELECT pg_catalog.lowrite(0, '\\x6869');", Line: 4},
				{Section: data, Desc: "BLOBS", SQL: "SELECT pg_catalog.lo_close(0);", Line: 5},
				{Section: data, SQL: "COMMIT;", Line: 6},
			}},
		{"meta commands", "\\connect -reuse-previous=on \"dbname='x'\"\r\nSELECT 1;\n  \\unrestrict k",
			[]readItem{
				{Section: pre, Meta: "\\connect -reuse-previous=on \"dbname='x'\"", Line: 1},
				{Section: pre, SQL: "SELECT 1;", Line: 2},
				{Section: pre, Meta: "\\unrestrict k", Line: 3},
			}},
		{"only comments", "-- nothing\n/* at all */\n", nil},
		{"pg_dump header and trailer", "--\n-- PostgreSQL database dump\n--\nSELECT 1;\n--\n-- PostgreSQL database dump complete\n--\n",
			[]readItem{{Section: pre, SQL: "SELECT 1;", Line: 4}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := drainScript(NewScriptReader(strings.NewReader(tt.give)))
			if err != nil {
				t.Fatalf("error after %d items: %v", len(got), err)
			}
			if !slices.EqualFunc(got, tt.want, itemEqual) {
				t.Errorf("items:\n got: %+v\nwant: %+v", got, tt.want)
			}
		})
	}
}

func itemEqual(a, b readItem) bool {
	return a.Section == b.Section && a.Desc == b.Desc && a.SQL == b.SQL && a.Meta == b.Meta && a.Table == b.Table &&
		slices.Equal(a.Columns, b.Columns) && a.Rows == b.Rows && a.Line == b.Line
}

func TestScriptReaderErrors(t *testing.T) {
	tests := []struct {
		name, give, msg string
	}{
		{"quote", "SELECT 1;\nSELECT 'abc;\n", "quoted string that started line 2"},
		{"identifier", "SELECT \"abc;", "\"-quoted"},
		{"dollar", "DO $body$ BEGIN NULL; END $bod$;", "$body$-quoted"},
		{"comment", "SELECT 1 /* /* */;", "comment"},
		{"statement", "SELECT 1;\nCREATE TABLE t (", "no terminating ';'"},
		{"copy", "COPY t (a) FROM stdin;\n1\n2\n", "COPY data"},
		{"copy cut in marker", "COPY t (a) FROM stdin;\n1\n\\", "COPY data"},
		{"pg_dump without trailer", "--\n-- PostgreSQL database dump\n--\n\nSELECT 1;\n", "truncated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := drainScript(NewScriptReader(strings.NewReader(tt.give)))
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error = %v, want ErrCorrupt mentioning %q", err, tt.msg)
			}
		})
	}
}

func TestScriptReaderBoundsStatements(t *testing.T) {
	long := strings.Repeat("x", 5000)
	tests := []struct {
		name, give string
		wantErr    bool
	}{
		{"unterminated quote", "SELECT '" + long, true},
		{"long statement", "SELECT " + long + ";", true},
		{"long line comment in statement", "SELECT 1 -- " + long + "\n;", true},
		{"long block comment in statement", "SELECT /* " + long + " */ 1;", true},
		{"long meta-command", "\\echo " + long, true},
		{"long comment between statements", "-- " + long + "\n/* " + long + " */\nSELECT 1;", false},
		{"long copy row", "COPY t (a) FROM stdin;\n" + long + "\n\\.\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewScriptReader(strings.NewReader(tt.give))
			s.limit = 1000
			_, err := drainScript(s)
			if tt.wantErr != (err != nil) || err != nil && !errors.Is(err, ErrCorrupt) {
				t.Errorf("error = %v, want an ErrCorrupt error: %v", err, tt.wantErr)
			}
		})
	}
}

func TestOpenScriptFormats(t *testing.T) {
	plain := scriptSeed(t)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(plain)
	zw.Close()
	var gzCustom bytes.Buffer
	zw = gzip.NewWriter(&gzCustom)
	zw.Write(customSeeds(t)["small.dump"])
	zw.Close()
	badSum := bytes.Clone(gz.Bytes())
	badSum[len(badSum)-6] ^= 0xff // inside the CRC-32 trailer

	want, err := readScript(plain)
	if err != nil {
		t.Fatal(err)
	}
	got, err := readScript(gz.Bytes())
	if err != nil || !slices.EqualFunc(got, want, itemEqual) {
		t.Errorf("gzip script: %d items, %v; want the %d items of the plain script", len(got), err, len(want))
	}
	for _, tt := range []struct {
		name string
		give []byte
		want error
	}{
		{"custom archive", customSeeds(t)["small.dump"], ErrUnsupported},
		{"gzipped custom archive", gzCustom.Bytes(), ErrUnsupported},
		{"binary", []byte{0, 1, 2, 3}, ErrUnsupported},
		{"gzip checksum", badSum, ErrCorrupt},
		{"gzip cut", gz.Bytes()[:gz.Len()/2], ErrCorrupt},
	} {
		if _, err := readScript(tt.give); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestTruncatedScriptIsCorrupt(t *testing.T) {
	data := scriptSeed(t)
	complete := bytes.Index(data, []byte("-- PostgreSQL database dump complete"))
	if complete < 0 {
		t.Fatal("seed has no completion comment")
	}
	for n := 0; n < len(data); n++ {
		_, err := readScript(data[:n])
		switch {
		case n < complete+len("-- PostgreSQL database dump complete") && n > 30:
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("cut at %d: %v, want ErrCorrupt", n, err)
			}
		case err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupported):
			t.Fatalf("cut at %d: %v", n, err)
		}
	}
}

// TestScriptRestoresLikePsql runs every item of pg_dump -Fp output (plain and gzip) against
// a fresh database and checks that pg_dump then prints the same script, and that each COPY
// block equals the table's data in a custom archive.
func TestScriptRestoresLikePsql(t *testing.T) {
	f := newFixture(t, fixtureSQL)
	script, err := os.ReadFile(f.dump(t, "dump.sql", false, "-Fp"))
	if err != nil {
		t.Fatal(err)
	}
	archive := openFile(t, f.dump(t, "dump.custom", false, "-Fc"))
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(script)
	zw.Close()
	for name, input := range map[string][]byte{"plain": script, "gzip": gz.Bytes()} {
		t.Run(name, func(t *testing.T) {
			target := testenv.Postgres(t)
			items := restoreScript(t, input, target, archive)
			again := run(t, "pg_dump", "-Fp", "-d", target)
			if a, b := normalizeDump(script), normalizeDump(again); a != b {
				t.Errorf("restored database dumps differently (%d vs %d bytes):\n%s", len(a), len(b), firstDiff(a, b))
			}
			checkScriptSections(t, items)
		})
	}
}

func restoreScript(t *testing.T, input []byte, target string, archive *Archive) []ScriptItem {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	s, err := OpenScript(bytes.NewReader(input))
	if err != nil {
		t.Fatal(err)
	}
	var items []ScriptItem
	for {
		it, err := s.Next()
		if errors.Is(err, io.EOF) {
			return items
		}
		if err != nil {
			t.Fatalf("item %d: %v", len(items)+1, err)
		}
		items = append(items, it)
		switch {
		case it.Meta != "":
			continue // \restrict and \unrestrict guard psql sessions only
		case it.Copy != nil:
			rows, err := io.ReadAll(it.Copy.Rows)
			if err != nil {
				t.Fatal(err)
			}
			want := readEntry(t, archive, findEntry(t, archive, "TABLE DATA", it.Copy.Table))
			if !bytes.Equal(rows, want) {
				t.Errorf("COPY rows of %s differ from the custom archive's data (%d vs %d bytes)", it.Copy.Table, len(rows), len(want))
			}
			if _, err := conn.PgConn().CopyFrom(ctx, bytes.NewReader(rows), it.Copy.Stmt); err != nil {
				t.Fatalf("line %d: %s: %v", it.Line, it.Copy.Stmt, err)
			}
		default:
			if _, err := conn.PgConn().Exec(ctx, it.SQL).ReadAll(); err != nil {
				t.Fatalf("line %d: %q: %v", it.Line, it.SQL, err)
			}
		}
	}
}

var restrictLine = regexp.MustCompile(`(?m)^\\(un)?restrict .*$`)

func normalizeDump(b []byte) string { return restrictLine.ReplaceAllString(string(b), `\restrict KEY`) }

func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range min(len(al), len(bl)) {
		if al[i] != bl[i] {
			return fmt.Sprintf("line %d:\n- %s\n+ %s", i+1, al[i], bl[i])
		}
	}
	return "one is a prefix of the other"
}

func checkScriptSections(t *testing.T, items []ScriptItem) {
	t.Helper()
	count := map[string]int{}
	for _, it := range items {
		key := it.Section.String() + "/" + it.Desc
		count[key]++
		if it.Copy != nil && it.Section != SectionData {
			t.Errorf("COPY of %s in section %s", it.Copy.Table, it.Section)
		}
	}
	for key, want := range map[string]int{
		"data/TABLE DATA":         5,
		"data/SEQUENCE SET":       3,
		"post-data/CONSTRAINT":    4, // three primary keys and a unique
		"post-data/FK CONSTRAINT": 1,
		"post-data/INDEX":         1,
		"post-data/TRIGGER":       1,
	} {
		if count[key] != want {
			t.Errorf("%d items %s, want %d (all: %v)", count[key], key, want, count)
		}
	}
}
