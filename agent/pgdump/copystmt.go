package pgdump

import (
	"errors"
	"strings"
)

// copyStmt is what a "COPY name (columns) FROM stdin" statement names.
type copyStmt struct {
	schema, table string
	columns       []string
	fromStdin     bool
}

var errNotCopy = errors.New("not a COPY ... FROM stdin statement")

// parseCopyStmt reads "COPY [schema.]table [(col, ...)] FROM stdin ...;" with quoted or
// bare identifiers. Bare identifiers are folded to lower case as PostgreSQL does.
func parseCopyStmt(stmt string) (copyStmt, error) {
	var c copyStmt
	t := sqlTokens{s: stmt}
	if w, _ := t.next(); !strings.EqualFold(w.text, "copy") || w.quoted {
		return c, errNotCopy
	}
	name, err := t.ident()
	if err != nil {
		return c, err
	}
	c.table = name
	tok, _ := t.next()
	if tok.text == "." && !tok.quoted {
		c.schema = name
		if c.table, err = t.ident(); err != nil {
			return c, err
		}
		tok, _ = t.next()
	}
	if tok.text == "(" && !tok.quoted {
		for {
			col, err := t.ident()
			if err != nil {
				return c, err
			}
			c.columns = append(c.columns, col)
			sep, _ := t.next()
			if sep.text == ")" && !sep.quoted {
				break
			}
			if sep.text != "," || sep.quoted {
				return c, errNotCopy
			}
		}
		tok, _ = t.next()
	}
	if !strings.EqualFold(tok.text, "from") || tok.quoted {
		return c, errNotCopy
	}
	src, _ := t.next()
	c.fromStdin = !src.quoted && strings.EqualFold(src.text, "stdin")
	if !c.fromStdin {
		return c, errNotCopy
	}
	return c, nil
}

// sqlTokens splits the head of a statement into words, quoted identifiers and single
// punctuation characters, skipping white space and comments. It only needs to be right for
// the simple statements pg_dump writes.
type sqlTokens struct {
	s string
	i int
}

type sqlToken struct {
	text   string
	quoted bool // a "quoted identifier", text unquoted
}

func (t *sqlTokens) skipSpace() {
	for t.i < len(t.s) {
		switch {
		case strings.ContainsRune(" \t\r\n\f", rune(t.s[t.i])):
			t.i++
		case strings.HasPrefix(t.s[t.i:], "--"):
			nl := strings.IndexByte(t.s[t.i:], '\n')
			if nl < 0 {
				t.i = len(t.s)
			} else {
				t.i += nl + 1
			}
		case strings.HasPrefix(t.s[t.i:], "/*"):
			end := strings.Index(t.s[t.i+2:], "*/")
			if end < 0 {
				t.i = len(t.s)
			} else {
				t.i += end + 4
			}
		default:
			return
		}
	}
}

// next returns the next token; at the end its text is empty and ok false.
func (t *sqlTokens) next() (tok sqlToken, ok bool) {
	t.skipSpace()
	if t.i >= len(t.s) {
		return tok, false
	}
	c := t.s[t.i]
	switch {
	case c == '"':
		var b strings.Builder
		j := t.i + 1
		for j < len(t.s) {
			if t.s[j] == '"' {
				if j+1 < len(t.s) && t.s[j+1] == '"' {
					b.WriteByte('"')
					j += 2
					continue
				}
				t.i = j + 1
				return sqlToken{text: b.String(), quoted: true}, true
			}
			b.WriteByte(t.s[j])
			j++
		}
		t.i = len(t.s)
		return sqlToken{}, false
	case isIdentStart(c):
		j := t.i + 1
		for j < len(t.s) && isIdentCont(t.s[j]) {
			j++
		}
		tok = sqlToken{text: t.s[t.i:j]}
		t.i = j
		return tok, true
	}
	t.i++
	return sqlToken{text: string(c)}, true
}

// ident reads an identifier: quoted ones unquoted, bare ones folded to lower case.
func (t *sqlTokens) ident() (string, error) {
	tok, ok := t.next()
	if !ok {
		return "", errNotCopy
	}
	if tok.quoted {
		return tok.text, nil
	}
	if tok.text == "" || !isIdentStart(tok.text[0]) {
		return "", errNotCopy
	}
	return asciiLower(tok.text), nil
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func isIdentStart(c byte) bool {
	return c == '_' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || c >= 0x80
}

func isIdentCont(c byte) bool {
	return isIdentStart(c) || ('0' <= c && c <= '9') || c == '$'
}
