package pgdump

import (
	"bytes"
	"errors"
	"fmt"
	"unicode/utf8"
)

// ErrCorrupt is wrapped by every error about damaged or truncated input. The message says
// what was being read and at which offset (custom archives) or line (SQL scripts).
var ErrCorrupt = errors.New("pgdump: corrupt or truncated backup")

// ErrUnsupported is wrapped by errors about input this package cannot read: an unknown
// format, an archive version or compression method it does not implement, large objects.
var ErrUnsupported = errors.New("pgdump: unsupported backup")

// ErrNoData is returned by Archive.Data for an entry that has no data block.
var ErrNoData = errors.New("pgdump: entry has no data")

// Format is the kind of backup file, as told by its first bytes.
type Format int

// The formats Detect recognises.
const (
	FormatUnknown   Format = iota
	FormatCustom           // pg_dump -Fc archive
	FormatPlain            // SQL script (pg_dump -Fp)
	FormatPlainGzip        // gzip-compressed data, presumably a SQL script
	FormatTar              // a tar file, as pg_dump -Ft writes
	FormatDirectory        // the toc.dat of a pg_dump -Fd directory archive (or of a tar archive)
	FormatEmpty            // no bytes at all
)

func (f Format) String() string {
	switch f {
	case FormatCustom:
		return "custom"
	case FormatPlain:
		return "plain"
	case FormatPlainGzip:
		return "plain+gzip"
	case FormatTar:
		return "tar"
	case FormatDirectory:
		return "directory"
	case FormatEmpty:
		return "empty"
	default:
		return "unknown"
	}
}

var customMagic = []byte("PGDMP")

// tarMagic is at offset 257 of every POSIX tar header, pg_dump's included.
var tarMagic = []byte("ustar")

const tarMagicOffset = 257

// formatCodeOffset is where an archive header says its format (after PGDMP, three version
// bytes and the integer and offset sizes).
const formatCodeOffset = 10

// maxStatement bounds one string of an archive's table of contents and one statement,
// meta-command or comment of a script: beyond it the input is taken to be damaged (an
// absurd length, an unterminated quote) rather than held in memory whole.
const maxStatement = 64 << 20

// Detect tells the format of a backup from its first bytes (512 are plenty; give all of a
// shorter file). Text counts as a SQL script when it has no NUL or other binary control bytes
// and starts, after white space, with a comment, a psql meta-command or a word.
func Detect(head []byte) Format {
	switch {
	case len(head) == 0:
		return FormatEmpty
	case bytes.HasPrefix(head, customMagic) && len(head) > formatCodeOffset &&
		(head[formatCodeOffset] == archDirectory || head[formatCodeOffset] == archTar):
		return FormatDirectory // pg_dump -Fd writes its toc.dat with the tar format code
	case bytes.HasPrefix(head, customMagic):
		return FormatCustom
	case len(head) >= tarMagicOffset+len(tarMagic) && bytes.Equal(head[tarMagicOffset:tarMagicOffset+len(tarMagic)], tarMagic):
		return FormatTar
	case len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b:
		return FormatPlainGzip
	case looksLikeSQL(head):
		return FormatPlain
	}
	return FormatUnknown
}

func looksLikeSQL(head []byte) bool {
	head = bytes.TrimPrefix(head, []byte("\xef\xbb\xbf"))
	for _, c := range head {
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f' {
			return false
		}
	}
	// Scripts are UTF-8 or a single-byte encoding such as LATIN1, where high bytes are
	// rare; the last bytes of head may be a cut multi-byte character.
	if body := head[:max(0, len(head)-utf8.UTFMax)]; !utf8.Valid(body) && !fewHighBytes(body) {
		return false
	}
	t := bytes.TrimLeft(head, " \t\r\n\f")
	if len(t) == 0 {
		return false
	}
	switch {
	case bytes.HasPrefix(t, []byte("--")), bytes.HasPrefix(t, []byte("/*")), t[0] == '\\':
		return true
	}
	return t[0] < utf8.RuneSelf && isIdentStart(t[0])
}

func fewHighBytes(b []byte) bool {
	high := 0
	for _, c := range b {
		if c >= 0x80 {
			high++
		}
	}
	return high*4 < len(b)
}

// Section is the part of a restore an item belongs to, as pg_restore orders them.
type Section int

// Sections in restore order.
const (
	SectionNone Section = iota
	SectionPreData
	SectionData
	SectionPostData
)

func (s Section) String() string {
	switch s {
	case SectionPreData:
		return "pre-data"
	case SectionData:
		return "data"
	case SectionPostData:
		return "post-data"
	default:
		return "none"
	}
}

func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}

func unsupportedf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUnsupported, fmt.Sprintf(format, args...))
}
