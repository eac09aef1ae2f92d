package testenv

import (
	"context"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestHaltResume: a halted server refuses connections and comes back with its data.
func TestHaltResume(t *testing.T) {
	ctx := context.Background()
	s, err := StartServer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	exec := func(sql string) error {
		c, err := pgx.Connect(ctx, s.URL)
		if err != nil {
			return err
		}
		defer c.Close(ctx)
		_, err = c.Exec(ctx, sql)
		return err
	}
	if err := exec("CREATE TABLE kept (id int); INSERT INTO kept VALUES (7)"); err != nil {
		t.Fatal(err)
	}
	if err := s.Halt(); err != nil {
		t.Fatal(err)
	}
	if err := exec("SELECT 1"); err == nil {
		t.Fatal("a halted server answered")
	}
	if err := s.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	if err := exec("DO $$ BEGIN IF (SELECT id FROM kept) <> 7 THEN RAISE 'lost'; END IF; END $$"); err != nil {
		t.Fatalf("after resume: %v", err)
	}
}

func TestPostmasterArgs(t *testing.T) {
	got := postmasterArgs(`/usr/lib/postgresql/15/bin/postgres "-D" "/tmp/a b/data" "-p" "5999" "-c" "fsync=off"` + "\n")
	want := []string{"/usr/lib/postgresql/15/bin/postgres", "-D", "/tmp/a b/data", "-p", "5999", "-c", "fsync=off"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}
