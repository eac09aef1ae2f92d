package mask

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json/jsontext"
)

// ErrNotJSON is returned when a value under json paths or masked by type as json is not a
// JSON document. Its message never carries the value.
var ErrNotJSON = errors.New("value is not a JSON document")

// jsonPath is a path into a JSON document, written profile.email or contacts[*].phone: member
// names, * for any member, [n] for an array element, [*] for any element. A path names a
// subtree: every scalar under it is masked.
type jsonPath []pathStep

type stepKind int

const (
	stepName stepKind = iota
	stepAnyName
	stepIndex
	stepAnyIndex
)

type pathStep struct {
	kind  stepKind
	name  string
	index int
}

// parseJSONPath reads a path such as profile.email, contacts[*].phone or items[0].
func parseJSONPath(s string) (jsonPath, error) {
	var p jsonPath
	rest := s
	for first := true; rest != ""; first = false {
		switch {
		case rest[0] == '[':
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return nil, fmt.Errorf("path %q: [ without ]", s)
			}
			in := rest[1:end]
			if in == "*" {
				p = append(p, pathStep{kind: stepAnyIndex})
			} else {
				n, err := strconv.Atoi(in)
				if err != nil || n < 0 {
					return nil, fmt.Errorf("path %q: want [*] or [n], got [%s]", s, in)
				}
				p = append(p, pathStep{kind: stepIndex, index: n})
			}
			rest = rest[end+1:]
		case rest[0] == '.' && !first || first:
			if !first {
				rest = rest[1:]
			}
			end := strings.IndexAny(rest, ".[]")
			if end < 0 {
				end = len(rest)
			}
			name := rest[:end]
			if name == "" {
				return nil, fmt.Errorf("path %q: empty member name", s)
			}
			if name == "*" {
				p = append(p, pathStep{kind: stepAnyName})
			} else {
				p = append(p, pathStep{kind: stepName, name: name})
			}
			rest = rest[end:]
		default:
			return nil, fmt.Errorf("path %q: want . or [ after %q", s, s[:len(s)-len(rest)])
		}
	}
	if len(p) == 0 {
		return nil, fmt.Errorf("empty path")
	}
	return p, nil
}

// frame is one open container of a document being walked: its kind and where the walk is.
type frame struct {
	array    bool
	index    int    // array: the position of the next element
	name     string // object: the member being read
	wantName bool   // object: the next string is a member name
}

// covers reports whether p names the scalar at the position frames describe, or a
// container around it.
func (p jsonPath) covers(frames []frame) bool {
	if len(p) > len(frames) {
		return false
	}
	for i, st := range p {
		f := frames[i]
		switch st.kind {
		case stepName:
			if f.array || f.name != st.name {
				return false
			}
		case stepAnyName:
			if f.array {
				return false
			}
		case stepIndex:
			if !f.array || f.index != st.index {
				return false
			}
		case stepAnyIndex:
			if !f.array {
				return false
			}
		}
	}
	return true
}

// jsonOptions accept what PostgreSQL's json type stores: duplicate member names, and text
// that is not valid UTF-8 in a database whose encoding is not UTF-8.
var jsonOptions = []jsontext.Options{jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true)}

// walkJSON calls leaf for every scalar of doc with the containers around it and the scalar's
// byte range in doc. It returns ErrNotJSON for text that is not one JSON value.
func walkJSON(doc []byte, leaf func(frames []frame, start, end int) error) error {
	d := jsontext.NewDecoder(bytes.NewReader(doc), jsonOptions...)
	var frames []frame
	done := false    // the document's one value has ended
	next := func() { // a value ended: move its container on
		n := len(frames)
		switch {
		case n == 0:
			done = true
		case frames[n-1].array:
			frames[n-1].index++
		default:
			frames[n-1].wantName = true
		}
	}
	for {
		kind := d.PeekKind()
		if done && kind != 0 {
			return ErrNotJSON
		}
		switch {
		case kind == '{' || kind == '[':
			if _, err := d.ReadToken(); err != nil {
				return ErrNotJSON
			}
			frames = append(frames, frame{array: kind == '[', wantName: kind == '{'})
		case kind == '}' || kind == ']':
			if _, err := d.ReadToken(); err != nil {
				return ErrNotJSON
			}
			frames = frames[:len(frames)-1]
			next()
		case kind == '"' && len(frames) > 0 && frames[len(frames)-1].wantName:
			tok, err := d.ReadToken()
			if err != nil {
				return ErrNotJSON
			}
			frames[len(frames)-1].name, frames[len(frames)-1].wantName = tok.String(), false
		case kind != 0:
			v, err := d.ReadValue()
			if err != nil {
				return ErrNotJSON
			}
			end := int(d.InputOffset())
			if err := leaf(frames, end-len(v), end); err != nil {
				return err
			}
			next()
		default:
			if _, err := d.ReadToken(); !errors.Is(err, io.EOF) {
				return ErrNotJSON
			}
			return nil
		}
	}
}

// leafRule returns the rule for the scalar at frames whose first byte is b: the first path
// rule that covers it, or, with no paths (a document masked by type), token for strings and
// noise for numbers; nil when nothing masks it.
func leafRule(paths []pathRule, frames []frame, b byte) *rule {
	if paths == nil {
		switch b {
		case '"':
			return jsonStringRule
		case 't', 'f', 'n':
			return nil
		}
		return jsonNumberRule
	}
	for i := range paths {
		if paths[i].path.covers(frames) {
			return paths[i].rule
		}
	}
	return nil
}

// jsonLeaves calls fn with each scalar of doc (raw JSON) and the rule that masks it (nil for
// none); see leafRule.
func jsonLeaves(doc []byte, paths []pathRule, fn func(raw []byte, rl *rule) error) error {
	return walkJSON(doc, func(frames []frame, start, end int) error {
		return fn(doc[start:end], leafRule(paths, frames, doc[start]))
	})
}

// maskJSON appends doc to dst with the scalars its path rules cover masked, and every other
// byte kept; with no path rules (mask by type) every string and number is masked.
func (m *TableMasker) maskJSON(dst, doc []byte, paths []pathRule) ([]byte, error) {
	copied := 0
	err := walkJSON(doc, func(frames []frame, start, end int) error {
		rl := leafRule(paths, frames, doc[start])
		if rl == nil {
			return nil
		}
		dst = append(dst, doc[copied:start]...)
		var err error
		dst, err = m.maskScalar(dst, rl, doc[start:end])
		copied = end
		return err
	})
	if err != nil {
		return dst, err
	}
	return append(dst, doc[copied:]...), nil
}

// maskScalar appends the masked form of one JSON scalar. Strings and numbers are masked by
// the rule (a number whose masked text is not a JSON number becomes a string); true, false
// and null stay unless the rule is null or fixed.
func (m *TableMasker) maskScalar(dst []byte, rl *rule, raw []byte) ([]byte, error) {
	v := jsontext.Value(raw)
	var in []byte
	switch v.Kind() {
	case '"':
		var err error
		if in, err = jsontext.AppendUnquote(m.jin[:0], raw); err != nil {
			return dst, ErrNotJSON
		}
		m.jin = in
	case '0':
		in = raw
	default:
		switch rl.strategy {
		case null:
			return append(dst, "null"...), nil
		case fixed:
			out, _ := jsontext.AppendQuote(dst, rl.value)
			return out, nil
		}
		return append(dst, raw...), nil
	}
	out, outNull, err := m.apply(rl, colType{}, in, false)
	if err != nil {
		return dst, err
	}
	switch {
	case outNull:
		return append(dst, "null"...), nil
	case v.Kind() == '0' && jsontext.Value(out).Kind() == '0' && jsontext.Value(out).IsValid():
		return append(dst, out...), nil
	}
	dst, _ = jsontext.AppendQuote(dst, out) // invalid UTF-8 is replaced, which masks it too
	return dst, nil
}
