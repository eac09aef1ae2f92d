package testenv

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// testenvImport is this package's import path: a package whose tests import it meets real
// servers.
const testenvImport = "github.com/clonebot/clonebot/internal/testenv"

// fixedDateMark on a call's line, or the line above it, says why that calendar date is safe: no
// server ever compares it with its own clock (a pure encoding round trip, say).
const fixedDateMark = "fixed date:"

// literalDate matches a calendar date written in a string.
var literalDate = regexp.MustCompile(`\b(19|20)\d\d-[01]\d-[0-3]\d`)

// TestNoFixedDates keeps tests that meet real servers from building their times from a fixed
// calendar date: PostgreSQL's VALID UNTIL, Redis TTLs, moto's timestamps and Slack's signed
// timestamps follow the real clock, so such a test passes until the date is old and then fails
// every run. It looks at every _test.go file of every package whose tests import testenv and
// names each time.Date with a literal year, and each time.Parse of a literal date, that carries
// no "fixed date: <why>" comment.
func TestNoFixedDates(t *testing.T) {
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	found, checked, err := fixedDates(root)
	if err != nil {
		t.Fatal(err)
	}
	if checked == 0 {
		t.Fatalf("no test file under %s imports testenv: the check looked at nothing", root)
	}
	for _, f := range found {
		t.Error(f)
	}
	if len(found) > 0 {
		t.Log("Build test times from testenv.Now() (the real time) and offsets, e.g. testenv.Now().Add(8*time.Hour) or " +
			"testenv.Day(testenv.Now(), -1); a date no server ever sees may stay, with a `// fixed date: <why>` comment.")
	}
}

// TestNoFixedDatesFindsAPlant shows the check failing on a planted fixed date, and accepting it
// once it is marked.
func TestNoFixedDatesFindsAPlant(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module example.com/plant\n")
	write("a_test.go", `package plant

import (
	"testing"
	"time"

	"github.com/clonebot/clonebot/internal/testenv"
)

var t0 = time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)

func TestX(t *testing.T) { _ = testenv.Now() }
`)
	write("b_test.go", `package plant

import "time"

var day, _ = time.Parse(time.DateOnly, "2026-11-21")

// fixed date: a pure encoding round trip
var pure = time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)
`)
	found, checked, err := fixedDates(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"a_test.go:10: time.Date(2026, …)", "b_test.go:5: time.Parse of \"2026-11-21\""}
	if checked != 2 || len(found) != len(want) {
		t.Fatalf("checked %d files, found %q; want 2 files and %q", checked, found, want)
	}
	for i := range want {
		if !strings.Contains(found[i], want[i]) {
			t.Errorf("finding %d: %q, want it to contain %q", i, found[i], want[i])
		}
	}
	// A package whose tests do not import testenv meets no server: its dates are its own.
	write("a_test.go", "package plant\n\nimport \"time\"\n\nvar t0 = time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)\n")
	if found, _, _ := fixedDates(dir); len(found) != 0 {
		t.Fatalf("a package without testenv was flagged: %q", found)
	}
}

// fixedDates returns the findings under root ("path:line: what") and how many test files of
// server-meeting packages it read.
func fixedDates(root string) (found []string, checked int, err error) {
	byDir := map[string][]string{}
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "vendor") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, "_test.go") {
			byDir[filepath.Dir(path)] = append(byDir[filepath.Dir(path)], path)
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	dirs := make([]string, 0, len(byDir))
	for d := range byDir {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	fset := token.NewFileSet()
	for _, dir := range dirs {
		files := make([]*ast.File, 0, len(byDir[dir]))
		meets := false
		for _, path := range byDir[dir] {
			f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
			if err != nil {
				return nil, 0, err
			}
			files = append(files, f)
			for _, imp := range f.Imports {
				if p, _ := strconv.Unquote(imp.Path.Value); p == testenvImport {
					meets = true
				}
			}
		}
		if !meets {
			continue
		}
		for _, f := range files {
			checked++
			found = append(found, fileFixedDates(fset, root, f)...)
		}
	}
	return found, checked, nil
}

// fileFixedDates returns the unmarked fixed dates of one file.
func fileFixedDates(fset *token.FileSet, root string, f *ast.File) []string {
	marked := map[int]bool{} // lines a mark covers: its own and the next
	for _, cg := range f.Comments {
		for _, c := range cg.List {
			if strings.Contains(c.Text, fixedDateMark) {
				line := fset.Position(c.End()).Line
				marked[line], marked[line+1] = true, true
			}
		}
	}
	var out []string
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		pkg, ok := sel.X.(*ast.Ident)
		if !ok || pkg.Name != "time" || len(call.Args) == 0 {
			return true
		}
		var what string
		switch sel.Sel.Name {
		case "Date":
			if lit, ok := call.Args[0].(*ast.BasicLit); ok && lit.Kind == token.INT {
				what = fmt.Sprintf("time.Date(%s, …)", lit.Value)
			}
		case "Parse", "ParseInLocation":
			if len(call.Args) > 1 {
				if lit, ok := call.Args[1].(*ast.BasicLit); ok && lit.Kind == token.STRING && literalDate.MatchString(lit.Value) {
					what = "time.Parse of " + lit.Value
				}
			}
		}
		pos := fset.Position(call.Pos())
		if what != "" && !marked[pos.Line] {
			rel, err := filepath.Rel(root, pos.Filename)
			if err != nil {
				rel = pos.Filename
			}
			out = append(out, fmt.Sprintf("%s:%d: %s in a test that meets real servers: build it from testenv.Now()", rel, pos.Line, what))
		}
		return true
	})
	return out
}

// moduleRoot is the directory of the go.mod above the working directory.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}
