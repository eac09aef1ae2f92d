package command

import (
	"errors"
	"go/ast"
	goparser "go/parser"
	gotoken "go/token"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// declaredKinds reads the Kind constants from the package's source, so a Kind added without a
// spec fails TestSpecs.
func declaredKinds(t *testing.T) []Kind {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var kinds []Kind
	fset := gotoken.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := goparser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			if g, ok := d.(*ast.GenDecl); ok && g.Tok == gotoken.CONST {
				for _, sp := range g.Specs {
					vs := sp.(*ast.ValueSpec)
					if id, ok := vs.Type.(*ast.Ident); ok && id.Name == "Kind" {
						for _, v := range vs.Values {
							kinds = append(kinds, Kind(strings.Trim(v.(*ast.BasicLit).Value, `"`)))
						}
					}
				}
			}
		}
	}
	if len(kinds) < 10 {
		t.Fatalf("found %d Kind constants; the source scan is broken", len(kinds))
	}
	return kinds
}

// TestSpecs checks the command table: every kind has one spec, its usage line is in help at
// its place and names its keyword and arguments, its example parses to it and types back the
// same, and an error in it carries its own usage.
func TestSpecs(t *testing.T) {
	declared := declaredKinds(t)
	for _, k := range declared {
		if n := len(slices.DeleteFunc(Kinds(), func(x Kind) bool { return x != k })); n != 1 {
			t.Errorf("kind %s has %d specs, want 1", k, n)
		}
	}
	if len(Kinds()) != len(declared) {
		t.Errorf("%d specs for %d kinds", len(Kinds()), len(declared))
	}
	help := Help()
	if len(help) != len(specs) {
		t.Fatalf("help has %d lines for %d commands", len(help), len(specs))
	}
	keywords := 0
	for i, s := range specs {
		t.Run(string(s.kind), func(t *testing.T) { checkSpec(t, s, help[i]) })
		if s.keyword {
			keywords++
		}
	}
	if keywords+2 != len(specs) {
		t.Errorf("%d keywords for %d commands: every command but the request and the form has one", keywords, len(specs))
	}
}

// checkSpec checks one command of the table; helpLine is help's line at its place.
func checkSpec(t *testing.T, s spec, helpLine string) {
	if helpLine != s.usage || s.usage == "" {
		t.Errorf("help line is %q, want the usage %q", helpLine, s.usage)
	}
	if head := usageHead(s); !strings.HasPrefix(s.usage, head) {
		t.Errorf("usage %q does not start with %q", s.usage, head)
	}
	for _, key := range s.options {
		if _, ok := optionSpecs[key]; !ok || !strings.Contains(s.usage, key+"=") {
			t.Errorf("option %s= is not known or not in the usage (known %t)", key, ok)
		}
	}
	c, err := Parse(s.example, now)
	if err != nil || c.Kind != s.kind {
		t.Fatalf("example %q parses to %q, %v", s.example, c.Kind, err)
	}
	if again, err := Parse(c.String(), now); err != nil || !reflect.DeepEqual(again, c) {
		t.Errorf("example %q types back as %q: %+v, %v", s.example, c.String(), again, err)
	}
	if s.kind == KindModal {
		return
	}
	_, err = Parse(s.example+" bogus=1", now)
	var pe *Error
	if !errors.As(err, &pe) || !reflect.DeepEqual(pe.Usage, []string{s.usage}) {
		t.Errorf("an unknown option in %q: %v, want the usage %q", s.example, err, s.usage)
	}
}

// usageHead is how s's usage line must start: /clone, the keyword and the argument names.
func usageHead(s spec) string {
	head := "/clone"
	if s.keyword {
		head += " " + string(s.kind)
	}
	for _, a := range s.args {
		head += " " + a.name
	}
	return head
}
