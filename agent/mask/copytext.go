package mask

import (
	"bytes"
	"errors"
)

// NullField is the raw COPY text representation of SQL NULL.
const NullField = `\N`

// ErrBadEscape is returned by DecodeField when a field ends in a lone backslash.
var ErrBadEscape = errors.New("copy field ends in a lone backslash")

// IsNull reports whether a raw COPY text field is the NULL marker. PostgreSQL compares the
// marker before unescaping, so `\\N` (an escaped backslash followed by N) is the text `\N`.
func IsNull(raw []byte) bool {
	return len(raw) == 2 && raw[0] == '\\' && raw[1] == 'N'
}

// SplitFields appends the raw fields of one COPY text row (no trailing newline) to dst and
// returns it. A tab preceded by an escaping backslash belongs to its field. The fields alias
// line. A row always has at least one field; the empty row is one empty field.
func SplitFields(dst [][]byte, line []byte) [][]byte {
	pos := 0
	for {
		end := fieldEnd(line, pos)
		dst = append(dst, line[pos:end])
		if end == len(line) {
			return dst
		}
		pos = end + 1
	}
}

// fieldEnd returns the index of the tab that ends the field starting at pos, or len(line).
// It runs in time linear in the field length whatever the escapes.
func fieldEnd(line []byte, pos int) int {
	tab := -1 // absolute index of the first tab at or after pos, searched lazily
	for {
		if tab < pos {
			t := bytes.IndexByte(line[pos:], '\t')
			if t < 0 {
				tab = len(line)
			} else {
				tab = pos + t
			}
		}
		b := bytes.IndexByte(line[pos:tab], '\\')
		if b < 0 {
			return tab
		}
		pos += b + 2 // skip the backslash and the byte it escapes
		if pos >= len(line) {
			return len(line)
		}
	}
}

// DecodeField appends the value of one raw, non-NULL COPY text field to dst, resolving the
// escapes PostgreSQL's COPY FROM accepts: \\ \b \f \n \r \t \v, octal \o \oo \ooo, hex \xh \xhh;
// a backslash before any other byte stands for that byte. Bytes outside escapes, including
// multi-byte UTF-8 sequences, are copied unchanged. Check IsNull before calling it.
func DecodeField(dst, raw []byte) ([]byte, error) {
	for {
		b := bytes.IndexByte(raw, '\\')
		if b < 0 {
			return append(dst, raw...), nil
		}
		dst = append(dst, raw[:b]...)
		raw = raw[b+1:]
		if len(raw) == 0 {
			return dst, ErrBadEscape
		}
		c := raw[0]
		raw = raw[1:]
		switch c {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'v':
			dst = append(dst, '\v')
		case '0', '1', '2', '3', '4', '5', '6', '7':
			v := c - '0'
			for i := 0; i < 2 && len(raw) > 0 && raw[0] >= '0' && raw[0] <= '7'; i++ {
				v = v<<3 | (raw[0] - '0') // PostgreSQL keeps the low 8 bits, so does byte arithmetic
				raw = raw[1:]
			}
			dst = append(dst, v)
		case 'x':
			if len(raw) == 0 || hexValue(raw[0]) < 0 {
				dst = append(dst, 'x')
				continue
			}
			v := byte(hexValue(raw[0]))
			raw = raw[1:]
			if len(raw) > 0 && hexValue(raw[0]) >= 0 {
				v = v<<4 | byte(hexValue(raw[0]))
				raw = raw[1:]
			}
			dst = append(dst, v)
		default:
			dst = append(dst, c)
		}
	}
}

func hexValue(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// AppendField appends v encoded as a COPY text field to dst, escaping exactly as PostgreSQL's
// COPY TO does with the default tab delimiter: backslash, \b \f \n \r \t \v become two-byte
// escapes; every other byte, including other control bytes and UTF-8, is copied as is.
func AppendField(dst, v []byte) []byte {
	start := 0
	for i, c := range v {
		var esc byte
		switch c {
		case '\\':
			esc = '\\'
		case '\b':
			esc = 'b'
		case '\f':
			esc = 'f'
		case '\n':
			esc = 'n'
		case '\r':
			esc = 'r'
		case '\t':
			esc = 't'
		case '\v':
			esc = 'v'
		default:
			continue
		}
		dst = append(dst, v[start:i]...)
		dst = append(dst, '\\', esc)
		start = i + 1
	}
	return append(dst, v[start:]...)
}
