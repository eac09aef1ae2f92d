package pgdump

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
)

// archiveVariants are the ways the tests write custom archives.
var archiveVariants = []struct {
	name string
	pipe bool
	args []string
}{
	{"gzip_file", false, []string{"-Fc"}},
	{"uncompressed_file", false, []string{"-Fc", "-Z0"}},
	{"gzip_pipe", true, []string{"-Fc"}},
	{"uncompressed_pipe", true, []string{"-Fc", "-Z0"}},
	{"gzip9_file", false, []string{"-Fc", "-Z9"}},
}

func TestCustomArchiveMatchesPgRestore(t *testing.T) {
	f := newFixture(t, fixtureSQL)
	for _, v := range archiveVariants {
		t.Run(v.name, func(t *testing.T) {
			path := f.dump(t, v.name+".dump", v.pipe, v.args...)
			a := openFile(t, path)
			checkHeader(t, a, v.args)
			checkTOC(t, a, path)
			checkSections(t, a, path)
			checkData(t, a, path)
			for _, e := range a.Entries {
				if e.HasData && !v.pipe && e.DataOffset == 0 {
					t.Errorf("entry %d: no data offset in an archive written to a file", e.DumpID)
				}
				if v.pipe && e.DataOffset != 0 {
					t.Errorf("entry %d: data offset %d in an archive written to a pipe", e.DumpID, e.DataOffset)
				}
			}
		})
	}
}

func checkHeader(t *testing.T, a *Archive, args []string) {
	t.Helper()
	want := "gzip"
	if slices.Contains(args, "-Z0") {
		want = "none"
	}
	if a.Compression != want {
		t.Errorf("Compression = %q, want %q", a.Compression, want)
	}
	if a.Version != [3]int{1, 14, 0} || a.IntSize != 4 || a.OffSize != 8 {
		t.Errorf("header: version %v int %d off %d, want 1.14.0, 4, 8 (pg_dump 15)", a.Version, a.IntSize, a.OffSize)
	}
	if !strings.HasPrefix(a.DumpVersion, "15.") || !strings.HasPrefix(a.ServerVersion, "15.") || !strings.HasPrefix(a.DBName, "cbtest_") {
		t.Errorf("header: dump %q server %q db %q", a.DumpVersion, a.ServerVersion, a.DBName)
	}
	if a.Created.IsZero() {
		t.Error("header: no creation time")
	}
}

// checkTOC compares the entries with pg_restore -l, line by line.
func checkTOC(t *testing.T, a *Archive, path string) {
	t.Helper()
	listed := tocLines(run(t, "pg_restore", "-l", path))
	var mine []string
	for _, e := range a.Entries {
		switch e.Desc {
		case "ENCODING", "STDSTRINGS", "SEARCHPATH", "DATABASE":
			continue // pg_restore -l does not list these
		}
		mine = append(mine, listLine(e))
	}
	if !slices.Equal(mine, listed) {
		t.Errorf("TOC differs from pg_restore -l:\n got: %s\nwant: %s", strings.Join(mine, "\n      "), strings.Join(listed, "\n      "))
	}
	if len(listed) < 25 {
		t.Errorf("pg_restore -l lists only %d entries; the fixture should have more", len(listed))
	}
}

func listLine(e Entry) string {
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	return fmt.Sprintf("%d; %d %d %s %s %s %s", e.DumpID, e.TableOID, e.OID, e.Desc, dash(e.Namespace), e.Tag, e.Owner)
}

func tocLines(out []byte) []string {
	var lines []string
	for _, l := range strings.Split(string(out), "\n") {
		if l != "" && !strings.HasPrefix(l, ";") {
			lines = append(lines, l)
		}
	}
	return lines
}

// checkSections compares each entry's section with pg_restore -l --section.
func checkSections(t *testing.T, a *Archive, path string) {
	t.Helper()
	want := map[int]Section{}
	for _, s := range []Section{SectionPreData, SectionData, SectionPostData} {
		for _, l := range tocLines(run(t, "pg_restore", "-l", "--section="+s.String(), path)) {
			var id int
			if _, err := fmt.Sscanf(l, "%d;", &id); err != nil {
				t.Fatalf("pg_restore line %q: %v", l, err)
			}
			want[id] = s
		}
	}
	seen := map[Section]int{}
	for _, e := range a.Entries {
		if w, ok := want[e.DumpID]; ok && w != e.Section {
			t.Errorf("entry %d %s %s: section %s, pg_restore says %s", e.DumpID, e.Desc, e.Tag, e.Section, w)
		}
		seen[e.Section]++
	}
	for _, s := range []Section{SectionPreData, SectionData, SectionPostData} {
		if seen[s] == 0 {
			t.Errorf("no entry in section %s", s)
		}
	}
}

// checkData compares Data of every TABLE DATA entry with the COPY text pg_restore prints,
// reading all tables at once.
func checkData(t *testing.T, a *Archive, path string) {
	t.Helper()
	var tables []Entry
	for _, e := range a.Entries {
		if e.Desc == "TABLE DATA" {
			tables = append(tables, e)
		}
	}
	if len(tables) != 5 {
		t.Fatalf("%d TABLE DATA entries, want 5", len(tables))
	}
	got := make([][]byte, len(tables))
	errs := make([]error, len(tables))
	var wg sync.WaitGroup
	for i, e := range tables {
		wg.Go(func() {
			r, err := a.Data(e)
			if err != nil {
				errs[i] = err
				return
			}
			defer r.Close()
			got[i], errs[i] = io.ReadAll(r)
		})
	}
	wg.Wait()
	for i, e := range tables {
		if errs[i] != nil {
			t.Errorf("Data(%s): %v", e.QualifiedName(), errs[i])
			continue
		}
		out := run(t, "pg_restore", "-f", "-", "--data-only", "-n", e.Namespace, "-t", e.Tag, path)
		want := copySection(t, out, e.CopyStmt)
		if !bytes.Equal(got[i], want) {
			t.Errorf("Data(%s): %d bytes differ from pg_restore's %d bytes\n got: %.200q\nwant: %.200q", e.QualifiedName(), len(got[i]), len(want), got[i], want)
		}
	}
}

// copySection returns the rows pg_restore printed after stmt, up to the "\." line.
func copySection(t *testing.T, out []byte, stmt string) []byte {
	t.Helper()
	i := bytes.Index(out, []byte(stmt))
	if i < 0 {
		t.Fatalf("pg_restore output has no %q", stmt)
	}
	rows := out[i+len(stmt):]
	if bytes.HasPrefix(rows, []byte("\\.\n")) {
		return []byte{}
	}
	end := bytes.Index(rows, []byte("\n\\.\n"))
	if end < 0 {
		t.Fatalf("pg_restore output has no end of COPY data after %q", stmt)
	}
	return rows[:end+1]
}

func TestDataDetails(t *testing.T) {
	f := newFixture(t, fixtureSQL)
	a := openFile(t, f.dump(t, "a.dump", true, "-Fc"))
	tests := []struct {
		table    string
		wantCols []string
		wantRows []string // a few rows the stream must contain
		wantLen  int      // number of rows
	}{
		{"public.users", []string{"id", "email", "note", "Mixed Case", "born", "tag"},
			[]string{"1\ta@example.com\ttab\\there\\nnewline\\\\back\\r\\ncrlf\tünïcødé ✓ 😀\t1990-01-02\tsemi;colon\\\\ and 'quote'",
				"2\tb@example.com\t\\N\t\\N\t\\N\tsemi;colon\\\\ and 'quote'",
				"3\tc@example.com\t\\\\.\t\t\\N\tsemi;colon\\\\ and 'quote'"}, 4},
		{"Sales.Order Items", []string{"id", "user_id", "amount", "Qty\"x", "at"}, []string{"2\t2\t\\N\t\\N\t\\N"}, 3},
		{"public.empty_table", []string{"id"}, nil, 0},
		{"public.nocols", nil, []string{""}, 2},
		{"public.big", []string{"id", "payload"}, []string{"1\tc4ca4238a0b923820dcc509a6f75849b 1"}, 20001},
	}
	for _, tt := range tests {
		t.Run(tt.table, func(t *testing.T) {
			e := findEntry(t, a, "TABLE DATA", tt.table)
			if got := e.Columns(); !slices.Equal(got, tt.wantCols) {
				t.Errorf("Columns() = %q, want %q", got, tt.wantCols)
			}
			r, err := a.Data(e)
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
			rows := strings.Split(string(b), "\n")
			if rows[len(rows)-1] != "" {
				t.Fatalf("stream does not end with a newline: %.100q", b)
			}
			rows = rows[:len(rows)-1]
			if len(rows) != tt.wantLen {
				t.Errorf("%d rows, want %d", len(rows), tt.wantLen)
			}
			for _, w := range tt.wantRows {
				if !slices.Contains(rows, w) {
					t.Errorf("no row %q in %.300q", w, b)
				}
			}
		})
	}
}

func findEntry(t testing.TB, a *Archive, desc, name string) Entry {
	t.Helper()
	for _, e := range a.Entries {
		if e.Desc == desc && e.QualifiedName() == name {
			return e
		}
	}
	t.Fatalf("no %s entry %s", desc, name)
	return Entry{}
}

func TestDataErrors(t *testing.T) {
	f := newFixture(t, fixtureSQL)
	a := openFile(t, f.dump(t, "a.dump", false, "-Fc"))
	if _, err := a.Data(findEntry(t, a, "TABLE", "public.users")); !errors.Is(err, ErrNoData) {
		t.Errorf("Data(TABLE entry) = %v, want ErrNoData", err)
	}
	if _, err := a.Data(Entry{DumpID: 1 << 30}); err == nil {
		t.Error("Data(unknown dump id) returned no error")
	}
}

func TestLargeObjectBlocksAreNoTableData(t *testing.T) {
	f := newFixture(t, `CREATE TABLE t (id int, doc oid); INSERT INTO t VALUES (1, lo_from_bytea(0, 'hello large object'));`)
	for _, pipe := range []bool{false, true} {
		a := openFile(t, f.dump(t, fmt.Sprintf("lo_%v.dump", pipe), pipe, "-Fc"))
		blobs := findEntry(t, a, "BLOBS", "BLOBS")
		if _, err := a.Data(blobs); !errors.Is(err, ErrUnsupported) {
			t.Errorf("pipe=%v: Data(BLOBS) = %v, want ErrUnsupported", pipe, err)
		}
		r, err := a.Data(findEntry(t, a, "TABLE DATA", "public.t"))
		if err != nil {
			t.Fatal(err)
		}
		if b, err := io.ReadAll(r); err != nil || !strings.HasPrefix(string(b), "1\t") {
			t.Errorf("pipe=%v: table data %q, %v", pipe, b, err)
		}
		// The scanner must walk over the large-object block to the end of the archive.
		if _, err := a.locate(1 << 30); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "ends before") {
			t.Errorf("pipe=%v: scanning past the BLOBS block: %v", pipe, err)
		}
		if _, ok := a.scanned[blobs.DumpID]; pipe && !ok {
			t.Errorf("scan did not record the BLOBS block")
		}
	}
}

func TestOpenCustomRejects(t *testing.T) {
	base, err := os.ReadFile("testdata/small.dump")
	if err != nil {
		t.Fatal(err)
	}
	with := func(i int, b byte) []byte {
		c := slices.Clone(base)
		c[i] = b
		return c
	}
	tests := []struct {
		name string
		give []byte
		want error
		msg  string
	}{
		{"empty", nil, ErrUnsupported, "PGDMP"},
		{"plain sql", []byte("--\n-- PostgreSQL database dump\n"), ErrUnsupported, "PGDMP"},
		{"old version", with(6, 11), ErrUnsupported, "1.11"},
		{"future version", with(6, 17), ErrUnsupported, "1.17"},
		{"directory toc", with(10, 5), ErrUnsupported, "directory"},
		{"tar format", with(10, 3), ErrUnsupported, "tar archive"},
		{"int size 0", with(8, 0), ErrCorrupt, "offset 8"},
		{"offset size 9", with(9, 9), ErrCorrupt, "offset 9"},
		{"header only", base[:11], ErrCorrupt, "offset 11"},
		{"bad sign byte", with(11, 7), ErrCorrupt, "sign byte"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := OpenCustom(bytes.NewReader(tt.give), int64(len(tt.give)))
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("OpenCustom = %v, want %v mentioning %q", err, tt.want, tt.msg)
			}
		})
	}
}

func TestColumns(t *testing.T) {
	tests := []struct {
		give string
		want []string
	}{
		{"COPY public.users (id, email) FROM stdin;\n", []string{"id", "email"}},
		{`COPY "Sales"."Order Items" (id, "Qty""x", "Mixed Case") FROM stdin;`, []string{"id", "Qty\"x", "Mixed Case"}},
		{"COPY t (A, b) FROM STDIN WITH (FORMAT text);", []string{"a", "b"}},
		{"COPY public.nocols  FROM stdin;", nil},
		{"COPY t (a) TO stdout;", nil},
		{"COPY t (a FROM stdin;", nil},
		{"", nil},
		{"SELECT 1;", nil},
	}
	for _, tt := range tests {
		if got := (Entry{CopyStmt: tt.give}).Columns(); !slices.Equal(got, tt.want) {
			t.Errorf("Columns(%q) = %q, want %q", tt.give, got, tt.want)
		}
	}
}

func TestCopyTable(t *testing.T) {
	tests := []struct{ stmt, ns, schema, name string }{
		{"COPY public.cards (id) FROM stdin;\n", "public", "public", "cards"},
		{`COPY "My Schema"."Parent" ("Email") FROM stdin;`, "My Schema", "My Schema", "Parent"},
		{"COPY t FROM stdin;", "s", "s", "t"},
		{"", "public", "", ""},
	}
	for _, tt := range tests {
		schema, name, ok := (Entry{CopyStmt: tt.stmt, Namespace: tt.ns}).CopyTable()
		if schema != tt.schema || name != tt.name || ok != (tt.name != "") {
			t.Errorf("CopyTable(%q) = %q, %q, %v", tt.stmt, schema, name, ok)
		}
	}
}

func TestQualifiedName(t *testing.T) {
	tests := []struct {
		ns, tag, want string
	}{
		{"public", "users", "public.users"},
		{"Sales", "Order Items", "Sales.Order Items"},
		{"", "Sales", "Sales"},
	}
	for _, tt := range tests {
		if got := (Entry{Namespace: tt.ns, Tag: tt.tag}).QualifiedName(); got != tt.want {
			t.Errorf("QualifiedName(%q, %q) = %q, want %q", tt.ns, tt.tag, got, tt.want)
		}
	}
}

func TestDetect(t *testing.T) {
	tests := []struct {
		name string
		give string
		want Format
	}{
		{"custom", "PGDMP\x01\x0e\x00\x04\x08\x01", FormatCustom},
		{"gzip", "\x1f\x8b\x08\x00", FormatPlainGzip},
		{"pg_dump header", "--\n-- PostgreSQL database dump\n--\n", FormatPlain},
		{"statement", "  CREATE TABLE t (id int);", FormatPlain},
		{"bom and comment", "\xef\xbb\xbf/* hi */ SELECT 1;", FormatPlain},
		{"meta command", "\\connect db\n", FormatPlain},
		{"tar's first bytes", "toc.dat\x00\x00\x00\x00", FormatUnknown},
		{"tar", "toc.dat" + strings.Repeat("\x00", 250) + "ustar\x0000", FormatTar},
		{"directory toc.dat", "PGDMP\x01\x0e\x00\x04\x08\x03", FormatDirectory},
		{"binary", "\x00\x01\x02\x03", FormatUnknown},
		{"number first", "12345", FormatUnknown},
		{"empty", "", FormatEmpty},
		{"white space", " \n", FormatUnknown},
		{"latin1 comment", "-- caf\xe9 cr\xe8me\nSELECT 1;", FormatPlain},
		{"cut utf-8", "-- caf\xc3", FormatPlain},
	}
	for _, tt := range tests {
		if got := Detect([]byte(tt.give)); got != tt.want {
			t.Errorf("%s: Detect = %s, want %s", tt.name, got, tt.want)
		}
	}
}
