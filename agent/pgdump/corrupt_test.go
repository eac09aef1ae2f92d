package pgdump

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

var regenerate = flag.Bool("regenerate", false, "rewrite testdata/small.* from a fresh database with pg_dump")

// smallSQL is the database behind testdata/small.*, the fuzz seeds.
const smallSQL = `
CREATE SCHEMA "Sales";
CREATE TABLE public.users (id serial PRIMARY KEY, email text UNIQUE, note text);
CREATE TABLE "Sales"."Orders" (id int PRIMARY KEY, user_id int REFERENCES public.users(id), total numeric);
CREATE INDEX orders_user ON "Sales"."Orders" (user_id);
COMMENT ON TABLE public.users IS 'people; it''s';
CREATE FUNCTION public.f() RETURNS int LANGUAGE sql AS $$ SELECT 1; $$;
INSERT INTO public.users (email, note) VALUES ('a@x', E'tab\there\nnl\\bs'), ('b@x', NULL), ('c@x', 'ü');
INSERT INTO "Sales"."Orders" VALUES (1, 1, 9.99), (2, 3, NULL);
`

// TestTestdata checks that the fuzz seeds are intact archives and scripts of smallSQL;
// with -regenerate it first rewrites them from a fresh database with pg_dump.
func TestTestdata(t *testing.T) {
	files := map[string][]string{
		"small.dump":      {"-Fc"},
		"small_z0.dump":   {"-Fc", "-Z0"},
		"small_pipe.dump": {"-Fc"},
		"small.sql":       {"-Fp"},
	}
	if *regenerate {
		f := newFixture(t, smallSQL)
		for name, args := range files {
			b, err := os.ReadFile(f.dump(t, name, name == "small_pipe.dump", args...))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join("testdata", name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name, data := range customSeeds(t) {
		if err := readAll(data); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	items, err := readScript(scriptSeed(t))
	if err != nil || len(items) < 20 {
		t.Errorf("small.sql: %d items, %v", len(items), err)
	}
}

// readAll opens data as a custom archive and reads every entry's data. It returns the
// first error.
func readAll(data []byte) error {
	a, err := OpenCustom(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return err
	}
	_, _ = a.Schema()
	for _, e := range a.Entries {
		_ = e.Columns()
		r, err := a.Data(e)
		if errors.Is(err, ErrNoData) {
			continue
		}
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, r)
		r.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

func customSeeds(t testing.TB) map[string][]byte {
	t.Helper()
	seeds := map[string][]byte{}
	for _, name := range []string{"small.dump", "small_z0.dump", "small_pipe.dump"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		seeds[name] = b
	}
	return seeds
}

func TestTruncatedArchiveIsCorrupt(t *testing.T) {
	for name, data := range customSeeds(t) {
		if err := readAll(data); err != nil {
			t.Fatalf("%s: intact archive: %v", name, err)
		}
		for n := 0; n < len(data); n++ {
			err := readAll(data[:n])
			if n < len(customMagic) {
				if !errors.Is(err, ErrUnsupported) {
					t.Errorf("%s cut at %d: %v, want ErrUnsupported", name, n, err)
				}
				continue
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("%s cut at %d of %d: %v, want ErrCorrupt", name, n, len(data), err)
			}
		}
	}
}

func TestDamagedArchiveNeverPanics(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for name, data := range customSeeds(t) {
		for i := 0; i < 3000; i++ {
			c := bytes.Clone(data)
			for range 1 + rng.IntN(3) {
				c[rng.IntN(len(c))] ^= byte(1 + rng.IntN(255))
			}
			err := readAll(c)
			if err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("%s flip %d: %v is neither ErrCorrupt nor ErrUnsupported", name, i, err)
			}
		}
	}
}

func TestAbsurdLengthsAreCorrupt(t *testing.T) {
	data := customSeeds(t)["small.dump"]
	// The database name's length is the first string of the header: after 11 fixed bytes,
	// the compression int and 7 time ints (5 bytes each with 4-byte ints).
	off := 11 + 8*5
	tests := []struct {
		name string
		give []byte
	}{
		{"huge string", []byte{0, 0xff, 0xff, 0xff, 0x7f}},
		{"length beyond file", []byte{0, 0x00, 0x00, 0x01, 0x00}},
	}
	for _, tt := range tests {
		c := bytes.Clone(data)
		copy(c[off:], tt.give)
		err := readAll(c)
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", tt.name, err)
		}
	}
}
