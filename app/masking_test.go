package app

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/clonebot/clonebot/agent/mask"
	"github.com/clonebot/clonebot/approvals"
	"github.com/clonebot/clonebot/handlers"
	"github.com/clonebot/clonebot/internal/testenv"
	"github.com/clonebot/clonebot/provisioner"
)

// TestCoverageOfARealArchive counts, as /clone explain does on the local backend, what the
// rules do to the columns of a pg_dump archive of a real database: masked, kept,
// unclassified; rules naming what the backup lacks; a changed file read again; a backup on S3
// left to the agents (issue 11).
func TestCoverageOfARealArchive(t *testing.T) {
	src := testenv.Postgres(t)
	psql(t, src, `CREATE TABLE users (id int PRIMARY KEY, email text, ssn text, nick text, created_at timestamptz);
		CREATE TABLE notes (id int, user_id int, body text);
		INSERT INTO users VALUES (1, 'a@example.com', '123-45-6789', 'a', now());`)
	dir := t.TempDir()
	file := filepath.Join(dir, "prod.dump")
	pgDump(t, src, file)
	rules, err := mask.ParseRulesFile("masking.yaml", []byte(`levels:
  full:
    keep: ["*.*.id", "*.*.*_id"]
    public.users:
      email: {strategy: fake-email}
      ssn: {strategy: fake-ssn}
      nick: keep
  partial:
    unclassified: mask-by-type
    public.users:
      phone: {strategy: fake-phone}
`))
	if err != nil {
		t.Fatal(err)
	}
	c := newCoverage(rules)
	ctx := context.Background()
	backup := provisioner.Backup{Source: "prod", Kind: provisioner.BackupFile, Location: file}

	got, err := c.Coverage(ctx, backup, approvals.MaskFull)
	want := handlers.MaskCoverage{Tables: 2, Columns: 8, Masked: 2, Kept: 4, Unclassified: 2, Policy: mask.PolicyRefuse}
	if err != nil || !equalCoverage(got, want) {
		t.Errorf("full: %+v, %v; want %+v (users.created_at and notes.body unclassified)", got, err, want)
	}
	got, err = c.Coverage(ctx, backup, approvals.MaskPartial)
	if err != nil || !slices.Equal(got.Mismatches, []string{"masking rule names an unknown column: public.users.phone (level partial, masking.yaml line 11)"}) {
		t.Errorf("partial, naming a column the backup lacks: %+v, %v", got, err)
	}

	// The database changes and is dumped again: the new file is read, not the one kept.
	psql(t, src, `ALTER TABLE notes DROP COLUMN body; ALTER TABLE users DROP COLUMN created_at;`)
	pgDump(t, src, file)
	got, err = c.Coverage(ctx, backup, approvals.MaskFull)
	want = handlers.MaskCoverage{Tables: 2, Columns: 6, Masked: 2, Kept: 4, Policy: mask.PolicyRefuse}
	if err != nil || !equalCoverage(got, want) {
		t.Errorf("full, after the change: %+v, %v; want %+v", got, err, want)
	}

	for _, b := range []provisioner.Backup{
		{Source: "prod", Kind: provisioner.BackupFile, Location: "s3://backups/prod/2026-11-01/prod.dump"},
		{Source: "prod", Kind: provisioner.BackupPointInTime},
	} {
		if _, err := c.Coverage(ctx, b, approvals.MaskFull); !errors.Is(err, handlers.ErrNotReadableHere) {
			t.Errorf("%+v: %v, want ErrNotReadableHere", b, err)
		}
	}
}

func equalCoverage(a, b handlers.MaskCoverage) bool {
	return a.Tables == b.Tables && a.Columns == b.Columns && a.Masked == b.Masked && a.Kept == b.Kept &&
		a.Unclassified == b.Unclassified && a.Policy == b.Policy && slices.Equal(a.Mismatches, b.Mismatches)
}

func psql(t *testing.T, url, sql string) {
	t.Helper()
	if out, err := exec.Command("psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql).CombinedOutput(); err != nil {
		t.Fatalf("psql: %v: %s", err, out)
	}
}

func pgDump(t *testing.T, url, file string) {
	t.Helper()
	if out, err := exec.Command("pg_dump", "-Fc", "-d", url, "-f", file).CombinedOutput(); err != nil {
		t.Fatalf("pg_dump: %v: %s", err, out)
	}
}
