package pgdump

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// FuzzOpenCustom feeds damaged archives to OpenCustom and Data: they must return an
// error wrapping ErrCorrupt or ErrUnsupported, or a clean result, and never panic or hang.
//
// Its seeds are archives of one table and its rows (tinyArchives), and it reads only inputs
// of up to maxFuzzArchive bytes: go test -fuzz minimizes every input that reaches new code,
// for up to -fuzzminimizetime (60 s) each, in a number of runs that grows with the square of
// the input's length, so a bounded run seeded with the 5 KB testdata archives spent its time
// minimizing and ran almost nothing (issue 13). The whole testdata archives, damaged at
// random and cut at every byte, are read by TestDamagedArchiveNeverPanics and
// TestTruncatedArchiveIsCorrupt.
func FuzzOpenCustom(f *testing.F) {
	for _, b := range tinyArchives(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzArchive {
			return
		}
		err := readAll(data)
		if err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupported) {
			t.Fatalf("%v is neither ErrCorrupt nor ErrUnsupported", err)
		}
	})
}

// maxFuzzArchive bounds the inputs FuzzOpenCustom reads: its largest seed and room to grow.
const maxFuzzArchive = 768

// tinyRows are the rows of tinyArchives, in COPY text.
const tinyRows = "1\ta@x\ttab\\there\n2\tb@x\t\\N\n"

// tinyArchives are archives of the users table of testdata/small.dump holding two rows, with
// short header strings: uncompressed and gzip, with data offsets (written to a file) and
// without (to a pipe), about 500 bytes each.
func tinyArchives(t testing.TB) [][]byte {
	t.Helper()
	src := customSeeds(t)["small_z0.dump"]
	a, err := OpenCustom(bytes.NewReader(src), int64(len(src)))
	if err != nil {
		t.Fatal(err)
	}
	table, data := findEntry(t, a, "TABLE", "public.users"), findEntry(t, a, "TABLE DATA", "public.users")
	table.Defn, table.DropStmt = "CREATE TABLE public.users (id integer, email text, note text);\n", ""
	table.Dependencies, data.Dependencies = nil, []int{table.DumpID}
	rows := []byte(tinyRows)
	var out [][]byte
	for _, compression := range []string{"none", "gzip"} {
		chunk := rows
		if compression == "gzip" {
			var z bytes.Buffer
			zw := zlib.NewWriter(&z)
			zw.Write(rows)
			zw.Close()
			chunk = z.Bytes()
		}
		var block bytes.Buffer
		block.WriteByte(blockData)
		putArchInt(&block, data.DumpID)
		putArchInt(&block, len(chunk))
		block.Write(chunk)
		putArchInt(&block, 0)
		tiny := &Archive{Compression: compression, Created: a.Created, DBName: "d", ServerVersion: "15", DumpVersion: "15",
			Entries: []Entry{table, data}}
		out = append(out, encodeArchive(tiny, 14, block.Bytes()),
			encodeArchiveAt(tiny, 14, block.Bytes(), map[int]int64{data.DumpID: 0}))
	}
	return out
}

// putArchInt writes v as the archive's 4-byte integers: a sign byte, then little-endian.
func putArchInt(w *bytes.Buffer, v int) {
	sign := byte(0)
	if v < 0 {
		sign, v = 1, -v
	}
	w.WriteByte(sign)
	binary.Write(w, binary.LittleEndian, uint32(v))
}

// FuzzScriptReader feeds arbitrary scripts to the splitter: it must end with io.EOF or
// ErrCorrupt, every statement must end with its semicolon, and it must never panic or hang.
func FuzzScriptReader(f *testing.F) {
	f.Add(scriptSeed(f))
	for _, s := range []string{
		"SELECT 'a;b', $x$;$x$, E'\\';' /* ; */; COPY t (a) FROM stdin;\n1\n\\.\n",
		"CREATE FUNCTION f() RETURNS int BEGIN ATOMIC SELECT 1; END;\n\\connect x\n",
		"COPY t FROM stdin;\n\\.",
		"CREATE TABLE \"a\"\"b\".c (x public.d[], y int GENERATED ALWAYS AS (1) STORED) INHERITS (c);\nCREATE DOMAIN public.d AS public.d;",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		items, err := drainScript(NewScriptReader(strings.NewReader(string(data))))
		if err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%v does not wrap ErrCorrupt", err)
		}
		for _, it := range items {
			if it.Meta == "" && !strings.HasSuffix(it.SQL, ";") {
				t.Fatalf("statement without its semicolon: %q", it.SQL)
			}
			if it.Meta != "" && it.SQL != "" {
				t.Fatalf("item is both a meta-command and SQL: %+v", it)
			}
		}
		// The schema reader sees the same statements: it must not panic or loop on them.
		s := newSchema()
		for _, it := range items {
			s.statement(it.SQL)
		}
		s.finish()
	})
}

// TestTinyArchives checks that FuzzOpenCustom's seeds are intact archives, each a way to find
// the data (offset or scan) and each compression, small enough to be read.
func TestTinyArchives(t *testing.T) {
	kinds := map[string]bool{}
	for i, b := range tinyArchives(t) {
		if len(b) > maxFuzzArchive {
			t.Errorf("seed %d: %d bytes, more than the %d FuzzOpenCustom reads", i, len(b), maxFuzzArchive)
		}
		a, err := OpenCustom(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatalf("seed %d: %v", i, err)
		}
		e := findEntry(t, a, "TABLE DATA", "public.users")
		if got := string(readEntry(t, a, e)); got != tinyRows {
			t.Errorf("seed %d: data %q, want %q", i, got, tinyRows)
		}
		kinds[fmt.Sprintf("%s, offset recorded %t", a.Compression, e.DataOffset > 0)] = true
	}
	if len(kinds) != 4 {
		t.Errorf("seeds: %v, want none and gzip, with and without offsets", kinds)
	}
}
