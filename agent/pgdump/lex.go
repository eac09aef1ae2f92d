package pgdump

import "strings"

// lexKind is the kind of a SQL token.
type lexKind int

const (
	lexWord   lexKind = iota // a bare identifier or keyword, folded to lower case
	lexQuoted                // a "quoted identifier", unquoted
	lexString                // a string constant ('...', E'...', $$...$$), raw
	lexNumber
	lexPunct // one character: ( ) , . ; [ ] and operators
)

// lexToken is one token of a statement; pos and end are its byte offsets.
type lexToken struct {
	kind     lexKind
	text     string
	pos, end int
}

// is reports whether the token is the bare keyword w (lower case).
func (t lexToken) is(w string) bool { return t.kind == lexWord && t.text == w }

// isPunct reports whether the token is the punctuation character c.
func (t lexToken) isPunct(c string) bool { return t.kind == lexPunct && t.text == c }

// ident reports whether the token can be a name, and the name.
func (t lexToken) ident() (string, bool) {
	return t.text, t.kind == lexWord || t.kind == lexQuoted
}

// lexSQL splits one statement into tokens, skipping white space and comments. It knows the
// lexical rules pg_dump's output needs: quoted identifiers and string constants with their
// doubled-quote escapes, E-strings with backslash escapes (and, with stdStrings false, plain
// strings too), dollar quoting and nested block comments. An unterminated quote ends the
// token list at the end of the input.
func lexSQL(s string, stdStrings bool) []lexToken {
	var out []lexToken
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
			i++
		case c == '-' && i+1 < len(s) && s[i+1] == '-':
			nl := strings.IndexByte(s[i:], '\n')
			if nl < 0 {
				return out
			}
			i += nl + 1
		case c == '/' && i+1 < len(s) && s[i+1] == '*':
			i = skipBlockComment(s, i)
		case c == '"':
			end, text := quotedIdent(s, i)
			out = append(out, lexToken{kind: lexQuoted, text: text, pos: i, end: end})
			i = end
		case c == '\'':
			end := stringEnd(s, i+1, !stdStrings)
			out = append(out, lexToken{kind: lexString, text: s[i:end], pos: i, end: end})
			i = end
		case (c == 'e' || c == 'E') && i+1 < len(s) && s[i+1] == '\'':
			end := stringEnd(s, i+2, true)
			out = append(out, lexToken{kind: lexString, text: s[i:end], pos: i, end: end})
			i = end
		case c == '$' && dollarTag(s[i:]) != "":
			tag := dollarTag(s[i:])
			end := strings.Index(s[i+len(tag):], tag)
			if end < 0 {
				end = len(s)
			} else {
				end = i + len(tag) + end + len(tag)
			}
			out = append(out, lexToken{kind: lexString, text: s[i:end], pos: i, end: end})
			i = end
		case isIdentStart(c):
			j := i + 1
			for j < len(s) && isIdentCont(s[j]) {
				j++
			}
			out = append(out, lexToken{kind: lexWord, text: asciiLower(s[i:j]), pos: i, end: j})
			i = j
		case c >= '0' && c <= '9':
			j := i + 1
			for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] == '.' || s[j] == 'e' || s[j] == 'E') {
				j++
			}
			out = append(out, lexToken{kind: lexNumber, text: s[i:j], pos: i, end: j})
			i = j
		default:
			out = append(out, lexToken{kind: lexPunct, text: s[i : i+1], pos: i, end: i + 1})
			i++
		}
	}
	return out
}

func skipBlockComment(s string, i int) int {
	depth := 0
	for i < len(s) {
		switch {
		case strings.HasPrefix(s[i:], "/*"):
			depth++
			i += 2
		case strings.HasPrefix(s[i:], "*/"):
			depth--
			i += 2
			if depth == 0 {
				return i
			}
		default:
			i++
		}
	}
	return i
}

// quotedIdent reads the "identifier" starting at s[i] and returns the offset after it and
// its unquoted text.
func quotedIdent(s string, i int) (int, string) {
	var b strings.Builder
	j := i + 1
	for j < len(s) {
		if s[j] == '"' {
			if j+1 < len(s) && s[j+1] == '"' {
				b.WriteByte('"')
				j += 2
				continue
			}
			return j + 1, b.String()
		}
		b.WriteByte(s[j])
		j++
	}
	return j, b.String()
}

// stringEnd returns the offset after the string constant whose body starts at s[i].
func stringEnd(s string, i int, backslash bool) int {
	for i < len(s) {
		switch {
		case backslash && s[i] == '\\':
			i += 2
		case s[i] == '\'':
			if i+1 < len(s) && s[i+1] == '\'' {
				i += 2
				continue
			}
			return i + 1
		default:
			i++
		}
	}
	return len(s)
}

// dollarTag returns the $tag$ that s starts with, or "".
func dollarTag(s string) string {
	for j := 1; j < len(s) && j < 256; j++ {
		c := s[j]
		if c == '$' {
			return s[:j+1]
		}
		if !isIdentStart(c) && (j == 1 || c < '0' || c > '9') {
			return ""
		}
	}
	return ""
}
