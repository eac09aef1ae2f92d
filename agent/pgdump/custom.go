package pgdump

import (
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"
)

// Entry is one item of a custom archive's table of contents.
type Entry struct {
	DumpID int
	// Section is where pg_restore runs the entry. Entries the archive files under no
	// section (comments, ACLs) take the section of the entry before them, as pg_restore
	// does; ArchiveSection keeps the value written in the archive.
	Section        Section
	ArchiveSection Section
	Desc           string // "TABLE", "TABLE DATA", "INDEX", "CONSTRAINT", "FK CONSTRAINT", "SEQUENCE SET", "BLOBS", ...
	Namespace      string
	Tag            string
	Owner          string
	Tablespace     string
	TableAM        string
	RelKind        int // archive version 1.16+, else 0
	Defn           string
	DropStmt       string
	CopyStmt       string
	Dependencies   []int
	TableOID, OID  uint32
	HadDumper      bool
	HasData        bool
	// DataOffset is where the entry's data block starts, or 0 when the archive does not
	// record it (it was written to a pipe); Data finds such blocks by scanning.
	DataOffset int64
}

// Archive is an opened custom-format archive: its header and table of contents. Its Data
// method may be called from several goroutines at once.
type Archive struct {
	Version          [3]int
	IntSize, OffSize int
	Compression      string // "none" or "gzip" (the only ones OpenCustom accepts)
	CompressionLevel int    // archive versions before 1.15 record the zlib level (-1: default)
	// Created is the time recorded in the header: the dumping machine's local wall clock,
	// whose zone the archive does not say, so it is returned as UTC.
	Created       time.Time
	DBName        string
	ServerVersion string // of the server that was dumped
	DumpVersion   string // of pg_dump
	Entries       []Entry

	ra        io.ReaderAt
	size      int64
	dataStart int64       // first byte after the table of contents
	byID      map[int]int // dump id → index in Entries

	mu       sync.Mutex
	scanned  map[int]int64 // data blocks found by scanning: dump id → offset
	scanPos  int64         // where the next scan step starts
	scanDone bool
}

// Archive format constants (pg_backup_archiver.h).
const (
	archCustom      = 1
	archTar         = 3
	archDirectory   = 5
	offsetNotSet    = 1
	offsetSet       = 2
	offsetNoData    = 3
	blockData       = 1
	blockBlobs      = 3
	minMinorVersion = 12
	maxMinorVersion = 16
)

// OpenCustom parses the header and table of contents of a custom-format (-Fc) archive of
// size bytes. r must be safe for concurrent ReadAt calls (an *os.File is), since Data
// streams read it independently.
//
// Errors wrap ErrCorrupt for damaged or truncated input and ErrUnsupported for other
// formats, archive versions outside 1.12–1.16, and compression other than gzip or none.
func OpenCustom(r io.ReaderAt, size int64) (*Archive, error) {
	p := newPosReader(r, size, 0, 64<<10)
	a := &Archive{ra: r, size: size, scanned: map[int]int64{}}
	// step 1: fixed header bytes, version, integer sizes and format.
	if err := a.readHead(p); err != nil {
		return nil, err
	}
	// step 2: compression, creation time, names and versions.
	if err := a.readHeadFields(p); err != nil {
		return nil, err
	}
	// step 3: the table of contents.
	if err := a.readTOC(p); err != nil {
		return nil, err
	}
	a.dataStart = p.pos
	a.scanPos = p.pos
	return a, nil
}

func (a *Archive) readHead(p *posReader) error {
	var fixed [11]byte
	n, err := io.ReadFull(p.br, fixed[:])
	p.pos += int64(n)
	if n < len(customMagic) || string(fixed[:len(customMagic)]) != string(customMagic) {
		return unsupportedf("not a pg_dump custom-format archive (no PGDMP signature)")
	}
	if err != nil {
		return p.eofErr(err, "archive header")
	}
	a.Version = [3]int{int(fixed[5]), int(fixed[6]), int(fixed[7])}
	if a.Version[0] != 1 || a.Version[1] < minMinorVersion || a.Version[1] > maxMinorVersion {
		return unsupportedf("archive version %d.%d.%d (readable: 1.%d to 1.%d, written by pg_dump 9.0 to 17)",
			a.Version[0], a.Version[1], a.Version[2], minMinorVersion, maxMinorVersion)
	}
	a.IntSize, a.OffSize = int(fixed[8]), int(fixed[9])
	if a.IntSize < 1 || a.IntSize > 8 {
		return corruptf("offset 8: integer size %d (want 1 to 8)", a.IntSize)
	}
	if a.OffSize < 1 || a.OffSize > 8 {
		return corruptf("offset 9: offset size %d (want 1 to 8)", a.OffSize)
	}
	switch fixed[10] {
	case archCustom:
		return nil
	case archDirectory, archTar:
		return unsupportedf("this is the toc.dat of a directory-format or tar archive; dump with -Fc instead")
	default:
		return unsupportedf("archive format code %d is not custom (1)", fixed[10])
	}
}

func (a *Archive) readHeadFields(p *posReader) error {
	if a.Version[1] >= 15 {
		off := p.pos
		alg, err := p.byte("compression algorithm")
		if err != nil {
			return err
		}
		switch alg {
		case 0:
			a.Compression = "none"
		case 1:
			a.Compression = "gzip"
		case 2, 3:
			return unsupportedf("compression %s; dump with -Z gzip or -Z 0", map[byte]string{2: "lz4", 3: "zstd"}[alg])
		default:
			return corruptf("offset %d: unknown compression algorithm %d", off, alg)
		}
	} else {
		level, err := p.archInt(a.IntSize, "compression level")
		if err != nil {
			return err
		}
		if level < -1 || level > 9 {
			return corruptf("offset %d: compression level %d (want -1 to 9)", p.pos-int64(a.IntSize)-1, level)
		}
		a.CompressionLevel = int(level)
		a.Compression = "gzip"
		if level == 0 {
			a.Compression = "none"
		}
	}
	var tm [7]int64 // sec, min, hour, mday, mon, year-1900, isdst
	for i := range tm {
		v, err := p.archInt(a.IntSize, "creation time")
		if err != nil {
			return err
		}
		tm[i] = v
	}
	if tm[5] > -1900 && tm[5] < 10000 {
		a.Created = time.Date(int(tm[5])+1900, time.Month(tm[4]+1), int(tm[3]), int(tm[2]), int(tm[1]), int(tm[0]), 0, time.UTC)
	}
	var err error
	if a.DBName, _, err = a.str(p, "database name"); err != nil {
		return err
	}
	if a.ServerVersion, _, err = a.str(p, "server version"); err != nil {
		return err
	}
	a.DumpVersion, _, err = a.str(p, "pg_dump version")
	return err
}

// str reads an archive string: an integer length (negative: NULL) then that many bytes.
func (a *Archive) str(p *posReader, what string) (s string, ok bool, err error) {
	start := p.pos
	n, err := p.archInt(a.IntSize, what+" length")
	if err != nil {
		return "", false, err
	}
	if n < 0 {
		return "", false, nil
	}
	if n > p.left() {
		return "", false, corruptf("offset %d: %s length %d exceeds the %d bytes left in the archive", start, what, n, p.left())
	}
	if n > maxStatement {
		return "", false, corruptf("offset %d: %s length %d exceeds the %d MiB limit", start, what, n, maxStatement>>20)
	}
	buf := make([]byte, n)
	if err := p.full(buf, what); err != nil {
		return "", false, err
	}
	return string(buf), true, nil
}

func (a *Archive) readTOC(p *posReader) error {
	start := p.pos
	count, err := p.archInt(a.IntSize, "TOC entry count")
	if err != nil {
		return err
	}
	// An entry takes at least a dozen integers, so a count the file cannot hold is corrupt.
	minEntry := int64(12 * (a.IntSize + 1))
	if count < 0 || count > p.left()/minEntry {
		return corruptf("offset %d: TOC entry count %d does not fit in the %d bytes left", start, count, p.left())
	}
	a.Entries = make([]Entry, 0, min(count, 4096))
	a.byID = make(map[int]int, min(count, 4096))
	current := SectionPreData
	for i := int64(0); i < count; i++ {
		e, err := a.readEntry(p)
		if err != nil {
			return fmt.Errorf("TOC entry %d of %d: %w", i+1, count, err)
		}
		if _, dup := a.byID[e.DumpID]; dup {
			return corruptf("offset %d: TOC entry %d repeats dump id %d", p.pos, i+1, e.DumpID)
		}
		if e.ArchiveSection != SectionNone {
			current = e.ArchiveSection
		}
		e.Section = current
		a.byID[e.DumpID] = len(a.Entries)
		a.Entries = append(a.Entries, e)
	}
	return nil
}

func (a *Archive) readEntry(p *posReader) (Entry, error) {
	var e Entry
	start := p.pos
	id, err := p.archInt(a.IntSize, "dump id")
	if err != nil {
		return e, err
	}
	if id <= 0 || id > 1<<31-1 {
		return e, corruptf("offset %d: dump id %d out of range", start, id)
	}
	e.DumpID = int(id)
	had, err := p.archInt(a.IntSize, "hadDumper flag")
	if err != nil {
		return e, err
	}
	e.HadDumper = had != 0
	if e.TableOID, err = a.oid(p, "table oid"); err != nil {
		return e, err
	}
	if e.OID, err = a.oid(p, "oid"); err != nil {
		return e, err
	}
	if e.Tag, _, err = a.str(p, "tag"); err != nil {
		return e, err
	}
	if e.Desc, _, err = a.str(p, "desc"); err != nil {
		return e, err
	}
	secOff := p.pos
	sec, err := p.archInt(a.IntSize, "section")
	if err != nil {
		return e, err
	}
	if sec < 1 || sec > 4 {
		return e, corruptf("offset %d: section %d (want 1 to 4)", secOff, sec)
	}
	e.ArchiveSection = Section(sec - 1) // the archive counts SECTION_NONE as 1
	for _, f := range []struct {
		dst  *string
		what string
		ok   bool
	}{
		{&e.Defn, "definition", true},
		{&e.DropStmt, "drop statement", true},
		{&e.CopyStmt, "copy statement", true},
		{&e.Namespace, "namespace", true},
		{&e.Tablespace, "tablespace", true},
		{&e.TableAM, "table access method", a.Version[1] >= 14},
	} {
		if !f.ok {
			continue
		}
		if *f.dst, _, err = a.str(p, f.what); err != nil {
			return e, err
		}
	}
	if a.Version[1] >= 16 {
		rk, err := p.archInt(a.IntSize, "relkind")
		if err != nil {
			return e, err
		}
		e.RelKind = int(rk)
	}
	if e.Owner, _, err = a.str(p, "owner"); err != nil {
		return e, err
	}
	if _, _, err = a.str(p, "with-oids flag"); err != nil {
		return e, err
	}
	if err := a.readDeps(p, &e); err != nil {
		return e, err
	}
	return e, a.readOffset(p, &e)
}

func (a *Archive) oid(p *posReader, what string) (uint32, error) {
	start := p.pos
	s, ok, err := a.str(p, what)
	if err != nil || !ok {
		return 0, err
	}
	v, perr := strconv.ParseUint(s, 10, 32)
	if perr != nil {
		return 0, corruptf("offset %d: %s %q is not a number", start, what, s)
	}
	return uint32(v), nil
}

func (a *Archive) readDeps(p *posReader, e *Entry) error {
	for {
		start := p.pos
		s, ok, err := a.str(p, "dependency")
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		d, perr := strconv.Atoi(s)
		if perr != nil || d <= 0 {
			return corruptf("offset %d: dependency %q is not a dump id", start, s)
		}
		e.Dependencies = append(e.Dependencies, d)
	}
}

func (a *Archive) readOffset(p *posReader, e *Entry) error {
	start := p.pos
	flag, err := p.byte("data offset flag")
	if err != nil {
		return err
	}
	var buf [8]byte
	if err := p.full(buf[:a.OffSize], "data offset"); err != nil {
		return err
	}
	var off uint64
	for i := a.OffSize - 1; i >= 0; i-- {
		off = off<<8 | uint64(buf[i])
	}
	switch flag {
	case offsetNoData:
	case offsetNotSet:
		e.HasData = true
	case offsetSet:
		if off == 0 || off >= uint64(a.size) {
			return corruptf("offset %d: data offset %d of entry %d is outside the archive (%d bytes)", start, off, e.DumpID, a.size)
		}
		e.HasData = true
		e.DataOffset = int64(off)
	default:
		return corruptf("offset %d: data offset flag %d (want 1, 2 or 3)", start, flag)
	}
	return nil
}

// Entry returns the TOC entry with the given dump id.
func (a *Archive) Entry(dumpID int) (Entry, bool) {
	i, ok := a.byID[dumpID]
	if !ok {
		return Entry{}, false
	}
	return a.Entries[i], true
}

// QualifiedName returns "schema.table" (unquoted) from the entry's namespace and tag, or
// the tag alone when the entry has no namespace.
func (e Entry) QualifiedName() string {
	if e.Namespace == "" {
		return e.Tag
	}
	return e.Namespace + "." + e.Tag
}

// CopyTable returns the table the entry's COPY statement loads, unquoted: the entry's own
// table, or with pg_dump --load-via-partition-root the root of its partitions. ok is false
// for an entry without a COPY statement.
func (e Entry) CopyTable() (schema, name string, ok bool) {
	c, err := parseCopyStmt(e.CopyStmt)
	if err != nil {
		return "", "", false
	}
	if c.schema == "" {
		c.schema = e.Namespace
	}
	return c.schema, c.table, true
}

// Columns returns the column names of the entry's COPY statement, unquoted, or nil when it
// has none (a table without columns, or an entry that is not table data).
func (e Entry) Columns() []string {
	c, err := parseCopyStmt(e.CopyStmt)
	if err != nil {
		return nil
	}
	return c.columns
}
