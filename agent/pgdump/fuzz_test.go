package pgdump

import (
	"errors"
	"strings"
	"testing"
)

// FuzzOpenCustom feeds damaged archives to OpenCustom and Data: they must return an
// error wrapping ErrCorrupt or ErrUnsupported, or a clean result, and never panic or hang.
func FuzzOpenCustom(f *testing.F) {
	for _, b := range customSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		err := readAll(data)
		if err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupported) {
			t.Fatalf("%v is neither ErrCorrupt nor ErrUnsupported", err)
		}
	})
}

// FuzzScriptReader feeds arbitrary scripts to the splitter: it must end with io.EOF or
// ErrCorrupt, every statement must end with its semicolon, and it must never panic or hang.
func FuzzScriptReader(f *testing.F) {
	f.Add(scriptSeed(f))
	for _, s := range []string{
		"SELECT 'a;b', $x$;$x$, E'\\';' /* ; */; COPY t (a) FROM stdin;\n1\n\\.\n",
		"CREATE FUNCTION f() RETURNS int BEGIN ATOMIC SELECT 1; END;\n\\connect x\n",
		"COPY t FROM stdin;\n\\.",
		"CREATE TABLE \"a\"\"b\".c (x public.d[], y int GENERATED ALWAYS AS (1) STORED) INHERITS (c);\nCREATE DOMAIN public.d AS public.d;",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		items, err := drainScript(NewScriptReader(strings.NewReader(string(data))))
		if err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%v does not wrap ErrCorrupt", err)
		}
		for _, it := range items {
			if it.Meta == "" && !strings.HasSuffix(it.SQL, ";") {
				t.Fatalf("statement without its semicolon: %q", it.SQL)
			}
			if it.Meta != "" && it.SQL != "" {
				t.Fatalf("item is both a meta-command and SQL: %+v", it)
			}
		}
		// The schema reader sees the same statements: it must not panic or loop on them.
		s := newSchema()
		for _, it := range items {
			s.statement(it.SQL)
		}
		s.finish()
	})
}
