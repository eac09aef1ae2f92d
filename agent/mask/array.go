package mask

import (
	"bytes"
	"errors"
)

// ErrNotArray is returned for a value of an array column that is not an array literal. Its
// message never carries the value.
var ErrNotArray = errors.New("value is not an array literal")

// maskArray appends the array literal lit (as COPY text gives it, decoded: {a,"b c",NULL},
// nested for more dimensions, optionally after [1:2]=) to dst with fn applied to each
// element that is not NULL (its result is copied at once). Every element that is not NULL
// is written quoted.
func maskArray(dst, lit []byte, fn func(elem []byte) ([]byte, bool, error)) ([]byte, error) {
	if i := bytes.IndexByte(lit, '='); i >= 0 && bytes.HasPrefix(lit, []byte("[")) {
		dst = append(dst, lit[:i+1]...) // dimension decoration
		lit = lit[i+1:]
	}
	a := arrayParser{in: lit, fn: fn, elem: make([]byte, 0, 64)}
	a.skipSpace()
	out, err := a.array(dst)
	if err != nil {
		return dst, err
	}
	a.skipSpace()
	if a.i != len(a.in) {
		return dst, ErrNotArray
	}
	return out, nil
}

type arrayParser struct {
	in   []byte
	i    int
	fn   func(elem []byte) ([]byte, bool, error)
	elem []byte
}

func (a *arrayParser) skipSpace() {
	for a.i < len(a.in) && (a.in[a.i] == ' ' || a.in[a.i] == '\t' || a.in[a.i] == '\n' || a.in[a.i] == '\r') {
		a.i++
	}
}

// array reads one {...} level.
func (a *arrayParser) array(dst []byte) ([]byte, error) {
	if a.i >= len(a.in) || a.in[a.i] != '{' {
		return dst, ErrNotArray
	}
	a.i++
	dst = append(dst, '{')
	a.skipSpace()
	if a.i < len(a.in) && a.in[a.i] == '}' {
		a.i++
		return append(dst, '}'), nil
	}
	for {
		a.skipSpace()
		if a.i >= len(a.in) {
			return dst, ErrNotArray
		}
		var err error
		if a.in[a.i] == '{' {
			dst, err = a.array(dst)
		} else {
			dst, err = a.element(dst)
		}
		if err != nil {
			return dst, err
		}
		a.skipSpace()
		if a.i >= len(a.in) {
			return dst, ErrNotArray
		}
		switch a.in[a.i] {
		case ',':
			a.i++
			dst = append(dst, ',')
		case '}':
			a.i++
			return append(dst, '}'), nil
		default:
			return dst, ErrNotArray
		}
	}
}

// element reads one element, quoted or not, and writes its masked form.
func (a *arrayParser) element(dst []byte) ([]byte, error) {
	a.elem = a.elem[:0]
	quoted := false
	if a.in[a.i] == '"' {
		quoted = true
		a.i++
		for {
			if a.i >= len(a.in) {
				return dst, ErrNotArray
			}
			c := a.in[a.i]
			a.i++
			if c == '"' {
				break
			}
			if c == '\\' {
				if a.i >= len(a.in) {
					return dst, ErrNotArray
				}
				c = a.in[a.i]
				a.i++
			}
			a.elem = append(a.elem, c)
		}
	} else {
		for a.i < len(a.in) && a.in[a.i] != ',' && a.in[a.i] != '}' {
			c := a.in[a.i]
			a.i++
			if c == '\\' && a.i < len(a.in) {
				c = a.in[a.i]
				a.i++
			}
			a.elem = append(a.elem, c)
		}
		a.elem = bytes.TrimRight(a.elem, " \t\n\r")
		if len(a.elem) == 0 {
			return dst, ErrNotArray
		}
	}
	if !quoted && bytes.EqualFold(a.elem, []byte("NULL")) {
		return append(dst, "NULL"...), nil
	}
	out, null, err := a.fn(a.elem)
	if err != nil {
		return dst, err
	}
	if null {
		return append(dst, "NULL"...), nil
	}
	dst = append(dst, '"')
	for _, c := range out {
		if c == '"' || c == '\\' {
			dst = append(dst, '\\')
		}
		dst = append(dst, c)
	}
	return append(dst, '"'), nil
}
