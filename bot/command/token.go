package command

import (
	"errors"
	"strings"
	"unicode"
)

// token is one word of a command: a positional argument, or key=value.
type token struct {
	raw    string // as typed
	key    string // "" for a positional argument
	text   string // the argument, or the option's value with quotes removed
	quoted bool
}

// Quote marks Slack clients produce: straight quotes, and the curly ones macOS and iOS
// substitute as people type. Any mark of a family closes a value opened by that family.
func isDoubleQuote(r rune) bool { return r == '"' || r == '“' || r == '”' || r == '„' }
func isSingleQuote(r rune) bool { return r == '\'' || r == '‘' || r == '’' }

// tokenize splits text into tokens. A value may be quoted right after key= (or at the start
// of a word); inside quotes, whitespace is kept and a backslash makes the next character literal.
func tokenize(text string) ([]token, error) {
	rs := []rune(text)
	var out []token
	for i := skipSpace(rs, 0); i < len(rs); i = skipSpace(rs, i) {
		t, next, err := readToken(rs, i)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
		i = next
	}
	return out, nil
}

func skipSpace(rs []rune, i int) int {
	for i < len(rs) && unicode.IsSpace(rs[i]) {
		i++
	}
	return i
}

// readToken reads the word starting at rs[start] and returns it with the index after it.
func readToken(rs []rune, start int) (token, int, error) {
	var t token
	var b strings.Builder
	i := start
	valueStart := true // a quote may open here
	for i < len(rs) && !unicode.IsSpace(rs[i]) {
		r := rs[i]
		if valueStart && (isDoubleQuote(r) || isSingleQuote(r)) {
			end, closed := readQuoted(rs, i, &b)
			if !closed {
				return token{}, 0, errors.New("a quote is not closed: " + string(rs[start:]))
			}
			t.quoted, i = true, end
			if i < len(rs) && !unicode.IsSpace(rs[i]) {
				return token{}, 0, errors.New("unexpected text after a closing quote: " + string(rs[start:i+1]))
			}
			break
		}
		valueStart = false
		if r == '=' && t.key == "" {
			t.key = b.String()
			b.Reset()
			if t.key == "" {
				return token{}, 0, errors.New("an option needs a name before =: " + string(rs[start:i+1]))
			}
			valueStart = true
			i++
			continue
		}
		b.WriteRune(r)
		i++
	}
	t.text = b.String()
	t.raw = string(rs[start:i])
	return t, i, nil
}

// readQuoted writes to b the value quoted by the mark at rs[open], and returns the index after
// the closing mark; closed is false when the text ends first.
func readQuoted(rs []rune, open int, b *strings.Builder) (end int, closed bool) {
	closes := isDoubleQuote
	if isSingleQuote(rs[open]) {
		closes = isSingleQuote
	}
	i := open + 1
	for i < len(rs) {
		c := rs[i]
		if c == '\\' && i+1 < len(rs) {
			b.WriteRune(rs[i+1])
			i += 2
			continue
		}
		i++
		if closes(c) {
			return i, true
		}
		b.WriteRune(c)
	}
	return i, false
}
