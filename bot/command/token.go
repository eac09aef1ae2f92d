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
	i := 0
	for {
		for i < len(rs) && unicode.IsSpace(rs[i]) {
			i++
		}
		if i >= len(rs) {
			return out, nil
		}
		start := i
		var t token
		var b strings.Builder
		valueStart := true // a quote may open here
		for i < len(rs) && !unicode.IsSpace(rs[i]) {
			r := rs[i]
			if valueStart && (isDoubleQuote(r) || isSingleQuote(r)) {
				closes := isDoubleQuote
				if isSingleQuote(r) {
					closes = isSingleQuote
				}
				i++
				closed := false
				for i < len(rs) {
					c := rs[i]
					if c == '\\' && i+1 < len(rs) {
						b.WriteRune(rs[i+1])
						i += 2
						continue
					}
					i++
					if closes(c) {
						closed = true
						break
					}
					b.WriteRune(c)
				}
				if !closed {
					return nil, errors.New("a quote is not closed: " + string(rs[start:]))
				}
				t.quoted = true
				if i < len(rs) && !unicode.IsSpace(rs[i]) {
					return nil, errors.New("unexpected text after a closing quote: " + string(rs[start:i+1]))
				}
				break
			}
			valueStart = false
			if r == '=' && t.key == "" && !t.quoted {
				t.key = b.String()
				b.Reset()
				if t.key == "" {
					return nil, errors.New("an option needs a name before =: " + string(rs[start:i+1]))
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
		out = append(out, t)
	}
}
