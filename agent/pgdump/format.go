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
)

func (f Format) String() string {
	switch f {
	case FormatCustom:
		return "custom"
	case FormatPlain:
		return "plain"
	case FormatPlainGzip:
		return "plain+gzip"
	default:
		return "unknown"
	}
}

var customMagic = []byte("PGDMP")

// Detect tells the format of a backup from its first bytes (a few hundred are plenty).
// Text counts as a SQL script when it has no NUL or other binary control bytes and starts,
// after white space, with a comment, a psql meta-command or a word.
func Detect(head []byte) Format {
	switch {
	case bytes.HasPrefix(head, customMagic):
		return FormatCustom
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
	// A multi-byte character may be cut at the end of head; everything before must be UTF-8
	// or at least not binary. Only the prefix up to the last 3 bytes is checked strictly.
	if cut := len(head) - utf8.UTFMax; cut > 0 && !utf8.Valid(head[:cut]) && !mostlyText(head) {
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
	return isIdentStart(t[0]) && t[0] < utf8.RuneSelf
}

// mostlyText accepts single-byte encodings (LATIN1 and the like) whose high bytes are not UTF-8.
func mostlyText(b []byte) bool {
	high := 0
	for _, c := range b {
		if c >= 0x80 {
			high++
		}
	}
	return high*10 < len(b)
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
