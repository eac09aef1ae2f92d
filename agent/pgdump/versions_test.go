package pgdump

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// TestOtherArchiveVersions re-encodes a pg_dump 15 archive (1.14) in the layouts of the
// other readable versions, which only a different pg_dump would write here: 1.12 and 1.13
// have no table access method, 1.15 stores the compression algorithm as a byte, 1.16 adds
// a relkind. The entries and data must read back the same.
func TestOtherArchiveVersions(t *testing.T) {
	orig := customSeeds(t)["small_pipe.dump"]
	a, err := OpenCustom(bytes.NewReader(orig), int64(len(orig)))
	if err != nil {
		t.Fatal(err)
	}
	for _, minor := range []int{12, 13, 15, 16} {
		t.Run(fmt.Sprintf("1.%d", minor), func(t *testing.T) {
			data := encodeArchive(a, minor, orig[a.dataStart:])
			b, err := OpenCustom(bytes.NewReader(data), int64(len(data)))
			if err != nil {
				t.Fatal(err)
			}
			if b.Version != [3]int{1, minor, 0} || b.Compression != a.Compression || b.DBName != a.DBName {
				t.Errorf("header: %v %s %s", b.Version, b.Compression, b.DBName)
			}
			for i, e := range b.Entries {
				want := a.Entries[i]
				if minor < 14 {
					want.TableAM = ""
				}
				if minor >= 16 {
					want.RelKind = 'r'
				}
				if !reflect.DeepEqual(e, want) {
					t.Errorf("entry %d:\n got %+v\nwant %+v", i, e, want)
				}
				if e.Desc == "TABLE DATA" {
					if got, want := readEntry(t, b, e), readEntry(t, a, a.Entries[i]); !bytes.Equal(got, want) {
						t.Errorf("%s: data %q, want %q", e.QualifiedName(), got, want)
					}
				}
			}
		})
	}
}

func TestLZ4AndZstdAreUnsupported(t *testing.T) {
	orig := customSeeds(t)["small_pipe.dump"]
	a, err := OpenCustom(bytes.NewReader(orig), int64(len(orig)))
	if err != nil {
		t.Fatal(err)
	}
	data := encodeArchive(a, 15, orig[a.dataStart:])
	for alg, name := range map[byte]string{2: "lz4", 3: "zstd"} {
		data[11] = alg // the compression algorithm byte follows the 11 fixed bytes
		_, err := OpenCustom(bytes.NewReader(data), int64(len(data)))
		if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), name) {
			t.Errorf("algorithm %d: %v, want ErrUnsupported naming %s", alg, err, name)
		}
	}
	data[11] = 9
	if _, err := OpenCustom(bytes.NewReader(data), int64(len(data))); !errors.Is(err, ErrCorrupt) {
		t.Errorf("algorithm 9: %v, want ErrCorrupt", err)
	}
}

func readEntry(t *testing.T, a *Archive, e Entry) []byte {
	t.Helper()
	r, err := a.Data(e)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// encodeArchive writes a's header and TOC in archive version 1.minor with 4-byte integers,
// without data offsets, followed by the data blocks as they are.
func encodeArchive(a *Archive, minor int, blocks []byte) []byte {
	return encodeArchiveAt(a, minor, blocks, nil)
}

// encodeArchiveAt is encodeArchive with the data offsets of the entries in at (dump id →
// offset of its block within blocks) recorded, as pg_dump does when it writes to a file.
func encodeArchiveAt(a *Archive, minor int, blocks []byte, at map[int]int64) []byte {
	toc := encodeTOC(a, minor, at, 0)
	if len(at) > 0 {
		toc = encodeTOC(a, minor, at, int64(len(toc))) // the same length: offsets have a fixed width
	}
	return append(toc, blocks...)
}

// encodeTOC writes the header and TOC; an entry in at gets the offset base+at[id].
func encodeTOC(a *Archive, minor int, at map[int]int64, base int64) []byte {
	var w bytes.Buffer
	putInt := func(v int) { putArchInt(&w, v) }
	putStr := func(s string) {
		putInt(len(s))
		w.WriteString(s)
	}
	w.WriteString("PGDMP")
	w.Write([]byte{1, byte(minor), 0, 4, 8, archCustom})
	switch {
	case minor >= 15 && a.Compression == "gzip":
		w.WriteByte(1)
	case minor >= 15:
		w.WriteByte(0)
	case a.Compression == "gzip":
		putInt(-1)
	default:
		putInt(0)
	}
	c := a.Created
	for _, v := range []int{c.Second(), c.Minute(), c.Hour(), c.Day(), int(c.Month()) - 1, c.Year() - 1900, 0} {
		putInt(v)
	}
	putStr(a.DBName)
	putStr(a.ServerVersion)
	putStr(a.DumpVersion)
	putInt(len(a.Entries))
	for _, e := range a.Entries {
		putInt(e.DumpID)
		putInt(map[bool]int{false: 0, true: 1}[e.HadDumper])
		putStr(strconv.FormatUint(uint64(e.TableOID), 10))
		putStr(strconv.FormatUint(uint64(e.OID), 10))
		putStr(e.Tag)
		putStr(e.Desc)
		putInt(int(e.ArchiveSection) + 1)
		for _, s := range []string{e.Defn, e.DropStmt, e.CopyStmt, e.Namespace, e.Tablespace} {
			putStr(s)
		}
		if minor >= 14 {
			putStr(e.TableAM)
		}
		if minor >= 16 {
			putInt('r')
		}
		putStr(e.Owner)
		putStr("false")
		for _, d := range e.Dependencies {
			putStr(strconv.Itoa(d))
		}
		putInt(-1)
		flag, off := byte(offsetNoData), uint64(0)
		if e.HasData {
			flag = offsetNotSet
		}
		if pos, ok := at[e.DumpID]; ok {
			flag, off = offsetSet, uint64(base+pos)
		}
		w.WriteByte(flag)
		binary.Write(&w, binary.LittleEndian, off)
	}
	return w.Bytes()
}
