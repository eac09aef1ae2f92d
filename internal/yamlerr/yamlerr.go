package yamlerr

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v4"
)

// Error is one problem in a YAML file.
type Error struct {
	Path string // dotted keys and list indexes, "tiers.debug.slots.0.approvers"; "" for the file
	Line int    // 1-based; 0 when unknown
	Msg  string // what is wrong and what is allowed
}

func (e *Error) Error() string {
	switch {
	case e.Path != "" && e.Line > 0:
		return fmt.Sprintf("%s (line %d): %s", e.Path, e.Line, e.Msg)
	case e.Line > 0:
		return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
	case e.Path != "":
		return e.Path + ": " + e.Msg
	}
	return e.Msg
}

// InFile writes e as a problem of the file named file, of the kind what ("policy",
// "masking rules"): "policy policy.yaml: tiers.dev.masknig (line 31): unknown key ...";
// without a name, "policy: ...".
func (e *Error) InFile(what, file string) string {
	if file != "" {
		what += " " + file
	}
	return what + ": " + e.Error()
}

// ErrEmpty is the error of a file with no document, or only comments, or only null.
var ErrEmpty = &Error{Msg: "the file is empty (or holds only comments)"}

// At returns an error about node n at path.
func At(n *yaml.Node, path, format string, args ...any) *Error {
	line := 0
	if n != nil {
		line = n.Line
	}
	return &Error{Path: path, Line: line, Msg: fmt.Sprintf(format, args...)}
}

// Parse reads one YAML document and returns its root node (a mapping, a sequence or a
// scalar; never the document node). It returns ErrEmpty for a file without content, and an
// *Error naming the line of a syntax error or of a second document.
func Parse(data []byte) (*yaml.Node, error) {
	l, err := yaml.NewLoader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("yaml loader: %w", err)
	}
	var doc yaml.Node
	switch err := l.Load(&doc); {
	case errors.Is(err, io.EOF):
		return nil, ErrEmpty
	case err != nil:
		return nil, syntaxError(err)
	}
	var next yaml.Node
	switch err := l.Load(&next); {
	case err == nil:
		return nil, &Error{Line: next.Line, Msg: "a second document (after ---): a file holds one"}
	case !errors.Is(err, io.EOF):
		return nil, syntaxError(err)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
		return nil, ErrEmpty
	}
	return root, nil
}

// syntaxError turns the parser's error into an *Error at the line of the problem.
func syntaxError(err error) error {
	var le *yaml.LoadError
	if !errors.As(err, &le) {
		var les *yaml.LoadErrors
		if !errors.As(err, &les) || len(les.Errors) == 0 {
			return &Error{Msg: "not valid YAML: " + err.Error()}
		}
		le = les.Errors[0]
	}
	msg := "not valid YAML: " + le.Message
	// Where the construct being read began helps with an unclosed quote or a misindented key,
	// not with a tab (the scanner's context is then the value before it).
	if le.ContextMsg != "" && le.ContextMark.Line > 0 && le.ContextMark.Line != le.Mark.Line && !strings.Contains(le.Message, "tab") {
		msg += fmt.Sprintf(" (%s that starts at line %d)", strings.TrimPrefix(le.ContextMsg, "while "), le.ContextMark.Line)
	}
	return &Error{Line: le.Mark.Line, Msg: msg}
}

// Load parses data and decodes it into v (a pointer to a struct), as Parse and Decode do. It
// returns the root node, for Lines.
func Load(data []byte, v any) (*yaml.Node, error) {
	root, err := Parse(data)
	if err != nil {
		return nil, err
	}
	if err := Decode(root, v); err != nil {
		return nil, err
	}
	return root, nil
}

// Decode checks root against the type v points to, then decodes it. The first problem in
// file order is returned as an *Error: an unknown key (with the allowed ones, and the nearest
// when it looks like a typo), a key given twice, a value of the wrong shape or kind (a list
// where one value goes, "soon" where a duration goes), or what a type's own UnmarshalYAML
// refused.
func Decode(root *yaml.Node, v any) error { return DecodeAt(root, "", v) }

// DecodeAt is Decode for a node found at path by a loader that walks nodes itself: its
// errors name paths under path ("levels.full.public.users.email.unique").
func DecodeAt(n *yaml.Node, path string, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("yamlerr: decode into %T: want a non-nil pointer", v)
	}
	if err := check(n, rv.Type().Elem(), path); err != nil {
		return err
	}
	if err := n.Load(v, yaml.WithKnownFields()); err != nil {
		// check accepts only what decodes; this is a case it does not know.
		var les *yaml.LoadErrors
		if errors.As(err, &les) && len(les.Errors) > 0 {
			return &Error{Line: les.Errors[0].Mark.Line, Msg: les.Errors[0].Message}
		}
		return &Error{Msg: err.Error()}
	}
	return nil
}

var (
	unmarshalerType     = reflect.TypeFor[yaml.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	durationType        = reflect.TypeFor[time.Duration]()
)

// check walks n as a value of type t at path.
func check(n *yaml.Node, t reflect.Type, path string) error {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		return check(n.Alias, t, path)
	}
	if isNull(n) {
		return nil // the zero value
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			return At(n, path, "%s", ownMessage(err))
		}
		return nil
	}
	if t == durationType {
		return checkDuration(n, path)
	}
	switch t.Kind() {
	case reflect.Pointer:
		return check(n, t.Elem(), path)
	case reflect.Interface:
		return nil
	case reflect.Struct:
		return checkStruct(n, t, path)
	case reflect.Map:
		return checkMap(n, t, path)
	case reflect.Slice, reflect.Array:
		if n.Kind != yaml.SequenceNode {
			return At(n, path, "must be a list, like [a, b], not %s", Shape(n))
		}
		for i, item := range n.Content {
			if err := check(item, t.Elem(), join(path, strconv.Itoa(i))); err != nil {
				return err
			}
		}
		return nil
	}
	if n.Kind != yaml.ScalarNode {
		return At(n, path, "must be %s, not %s", kindWords(t), Shape(n))
	}
	if reflect.PointerTo(t).Implements(textUnmarshalerType) {
		return nil // its decoding says
	}
	switch t.Kind() {
	case reflect.String:
		return nil
	case reflect.Bool:
		if n.ShortTag() != "!!bool" {
			return At(n, path, "%q is not true or false", n.Value)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if n.ShortTag() != "!!int" {
			return At(n, path, "%q is not a whole number", n.Value)
		}
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			return At(n, path, "%s is out of range", n.Value)
		}
	case reflect.Float32, reflect.Float64:
		if tag := n.ShortTag(); tag != "!!float" && tag != "!!int" {
			return At(n, path, "%q is not a number", n.Value)
		}
	}
	return nil
}

func checkDuration(n *yaml.Node, path string) error {
	if _, err := Duration(n); err != nil {
		return At(n, path, "%s", err)
	}
	return nil
}

// Duration reads a duration written as Go writes one ("30s", "5m", "1h30m"), for a type's
// own UnmarshalYAML; its error says what is wrong in words, without a path or line.
func Duration(n *yaml.Node) (time.Duration, error) {
	if n.Kind != yaml.ScalarNode {
		return 0, fmt.Errorf("must be a duration like 30s, 5m or 8h, not %s", Shape(n))
	}
	d, err := time.ParseDuration(n.Value)
	if err != nil {
		if n.ShortTag() == "!!int" {
			return 0, fmt.Errorf("%s is not a duration: give a unit, like %ss or %sm", n.Value, n.Value, n.Value)
		}
		return 0, fmt.Errorf("%q is not a duration like 30s, 5m or 8h", n.Value)
	}
	return d, nil
}

func checkStruct(n *yaml.Node, t reflect.Type, path string) error {
	fields := structFields(t)
	if n.Kind != yaml.MappingNode {
		return At(n, path, "must be a mapping of keys (%s), not %s", strings.Join(keysOf(fields), ", "), Shape(n))
	}
	return eachKey(n, path, func(k, v *yaml.Node, kpath string) error {
		f, ok := fields[k.Value]
		if !ok {
			return UnknownKey(k, kpath, keysOf(fields))
		}
		return check(v, f.typ, kpath)
	})
}

func checkMap(n *yaml.Node, t reflect.Type, path string) error {
	if n.Kind != yaml.MappingNode {
		return At(n, path, "must be a mapping of names to values, not %s", Shape(n))
	}
	return eachKey(n, path, func(k, v *yaml.Node, kpath string) error {
		if k.Kind != yaml.ScalarNode {
			return At(k, path, "a key must be a single name, not %s", Shape(k))
		}
		return check(v, t.Elem(), kpath)
	})
}

// UnknownKey is the error of key k at path, which is none of allowed: it names the allowed
// keys, and the nearest when k looks like a typo of it.
func UnknownKey(k *yaml.Node, path string, allowed []string) *Error {
	return At(k, path, "unknown key %q%s; allowed keys: %s", k.Value, DidYouMean(k.Value, allowed), strings.Join(allowed, ", "))
}

// eachKey is EachKey for a mapping the decoder reads, which merges what a merge key (<<)
// names itself: its mapping's keys are checked where they are written.
func eachKey(n *yaml.Node, path string, fn func(k, v *yaml.Node, kpath string) error) error {
	return EachKey(n, path, func(k, v *yaml.Node, kpath string) error {
		if k.Value == "<<" && k.Kind == yaml.ScalarNode {
			return nil
		}
		return fn(k, v, kpath)
	})
}

// EachKey calls fn for every key of the mapping n, in file order, with the key's path,
// refusing a key given twice.
func EachKey(n *yaml.Node, path string, fn func(k, v *yaml.Node, kpath string) error) error {
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		kpath := join(path, k.Value)
		if first, dup := seen[k.Value]; dup {
			return At(k, kpath, "given twice (first at line %d)", first)
		}
		seen[k.Value] = k.Line
		if err := fn(k, v, kpath); err != nil {
			return err
		}
	}
	return nil
}

type field struct {
	name  string
	typ   reflect.Type
	order int
}

// structFields are the keys a struct takes, as the YAML decoder names them: the yaml tag's
// name, or the lowercased field name; inline structs' keys are the struct's own.
func structFields(t reflect.Type) map[string]field {
	out := map[string]field{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			tag := f.Tag.Get("yaml")
			name, opts, _ := strings.Cut(tag, ",")
			if name == "-" {
				continue
			}
			if slices.Contains(strings.Split(opts, ","), "inline") {
				ft := f.Type
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				walk(ft)
				continue
			}
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			out[name] = field{name: name, typ: f.Type, order: len(out)}
		}
	}
	walk(t)
	return out
}

// keysOf lists the keys in declaration order.
func keysOf(fields map[string]field) []string {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return fields[a].order - fields[b].order })
	return keys
}

// DidYouMean names the word of allowed nearest to word, " (did you mean masking?)", when word
// looks like a typo of it (at most two edits away); else it is "".
func DidYouMean(word string, allowed []string) string {
	if best := Nearest(word, allowed); best != "" {
		return " (did you mean " + best + "?)"
	}
	return ""
}

// Nearest returns the word of allowed nearest to word when it is at most two edits away (a
// letter added, dropped, changed, or two swapped), else "".
func Nearest(word string, allowed []string) string {
	best, bestDist := "", 3
	for _, a := range allowed {
		if d := distance(strings.ToLower(word), a); d < bestDist {
			best, bestDist = a, d
		}
	}
	return best
}

// distance is the optimal string alignment distance: insertions, deletions, substitutions
// and transpositions of neighbours (masknig → masking is 1).
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

// Shape says what a node is, in words: "a mapping", "a list", or its value quoted.
func Shape(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return strconv.Quote(n.Value)
}

// kindWords says what a scalar of type t is, in words.
func kindWords(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return "a single value"
}

// ownMessage is what a type's UnmarshalYAML said, without the decoder's wrapping.
func ownMessage(err error) string {
	var les *yaml.LoadErrors
	if errors.As(err, &les) && len(les.Errors) > 0 {
		if inner := errors.Unwrap(les.Errors[0]); inner != nil {
			return inner.Error()
		}
		return les.Errors[0].Message
	}
	return err.Error()
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}

// Lines maps the dotted path of every mapping key and list item under root to its line
// ("tiers.dev.max_ttl", "tiers.debug.slots.0").
func Lines(root *yaml.Node) map[string]int {
	out := map[string]int{}
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := join(path, n.Content[i].Value)
				out[k] = n.Content[i].Line
				walk(n.Content[i+1], k)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				k := join(path, strconv.Itoa(i))
				out[k] = c.Line
				walk(c, k)
			}
		}
	}
	if root != nil {
		walk(root, "")
	}
	return out
}
