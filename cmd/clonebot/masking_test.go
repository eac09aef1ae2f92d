package main

import (
	"bytes"
	"context"
	"errors"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/clonebot/clonebot/internal/testenv"
)

// checkSchema is a table with personal data the rules of the test do not all name.
const checkSchema = `
CREATE TABLE public.users (id int PRIMARY KEY, email text, tax_id text, note text);
INSERT INTO public.users SELECT g, 'user' || g || '@corp.example',
  lpad((100 + g % 600)::text, 3, '0') || '-' || lpad((10 + g % 89)::text, 2, '0') || '-' || lpad((1000 + g)::text, 4, '0'), 'note ' || g
  FROM generate_series(1, 300) g;
`

// checkedBackup returns a pg_dump -Fc archive of checkSchema.
func checkedBackup(t *testing.T) string {
	t.Helper()
	src := testenv.Postgres(t)
	ctx := context.Background()
	c, err := pgx.Connect(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, checkSchema); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "prod.dump")
	if out, err := exec.Command("pg_dump", "-Fc", "-d", src, "-f", file).CombinedOutput(); err != nil {
		t.Fatalf("pg_dump: %v: %s", err, out)
	}
	return file
}

// TestMaskingCheckWorkflow: the check lists the columns and fails; its suggestions, pasted into
// a rules file, make it pass; clonebot restore then restores a masked clone with those rules,
// and refuses a level that leaves a column unclassified.
func TestMaskingCheckWorkflow(t *testing.T) {
	file := checkedBackup(t)
	ctx := context.Background()
	var out, errOut bytes.Buffer
	err := run(ctx, []string{"masking", "check", file}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "would be refused: unclassified columns: public.users.id, public.users.email, public.users.tax_id, public.users.note") {
		t.Fatalf("check without rules: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"public.users  email   text     unclassified  values look like emails (300 of 300 sampled)",
		"tax_id: {strategy: fake-ssn}",
		"email: {strategy: fake-email}",
		"note: keep",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("check output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "@corp.example") {
		t.Errorf("the check prints sampled values:\n%s", out.String())
	}
	rules := filepath.Join(t.TempDir(), "masking.yaml")
	if err := os.WriteFile(rules, []byte(out.String()[strings.Index(out.String(), "levels:"):]), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := run(ctx, []string{"masking", "check", file, "-rules", rules}, &out, &errOut); err != nil || !strings.Contains(out.String(), "a restore would go ahead") {
		t.Fatalf("check with the suggested rules: %v\n%s", err, out.String())
	}

	// clonebot restore, with a password in the target URL that must never be printed.
	t.Setenv("CLONEBOT_MASKING_KEY", "0123456789abcdef-test-key")
	target, _ := url.Parse(testenv.Postgres(t))
	target.User = url.UserPassword(target.User.Username(), "pw-that-must-not-show")
	out.Reset()
	errOut.Reset()
	if err := run(ctx, []string{"restore", file, "-target", target.String(), "-rules", rules, "-j", "1"}, &out, &errOut); err != nil {
		t.Fatalf("restore: %v\n%s", err, errOut.String())
	}
	if !strings.Contains(out.String(), "masking level full, verified") || !strings.Contains(errOut.String(), "restore: verify") {
		t.Errorf("restore output %q, %q", out.String(), errOut.String())
	}
	if strings.Contains(out.String()+errOut.String(), "pw-that-must-not-show") {
		t.Fatal("the password was printed")
	}
	c, err := pgx.Connect(ctx, target.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var raw int
	if err := c.QueryRow(ctx, "SELECT count(*) FROM public.users WHERE email LIKE '%@corp.example' OR tax_id LIKE '1%'").Scan(&raw); err != nil || raw != 0 {
		t.Fatalf("%d raw values on the clone (%v)", raw, err)
	}

	// A level that leaves a column unclassified is refused before anything moves: the target
	// keeps what it had.
	partial := filepath.Join(t.TempDir(), "partial.yaml")
	os.WriteFile(partial, []byte("levels:\n  full:\n    public.users:\n      email: {strategy: fake-email}\n"), 0o600)
	err = run(ctx, []string{"restore", "-target", target.String(), file, "-rules", partial}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "unclassified columns: public.users.id, public.users.tax_id, public.users.note") {
		t.Fatalf("restore with a partial rules file: %v", err)
	}
	var rows int
	if err := c.QueryRow(ctx, "SELECT count(*) FROM public.users WHERE email LIKE '%@example.com'").Scan(&rows); err != nil || rows != 300 {
		t.Fatalf("the refused restore changed the target: %d masked rows left (%v)", rows, err)
	}
}

func TestRestoreUsage(t *testing.T) {
	ctx := context.Background()
	var out bytes.Buffer
	for _, args := range [][]string{
		{"restore"},
		{"restore", "a.dump"},
		{"restore", "a.dump", "-target", "postgres://h/db"},
		{"masking"},
		{"masking", "check"},
		{"masking", "check", "a", "b"},
	} {
		if err := run(ctx, args, &out, &out); !errors.Is(err, errUsage) {
			t.Errorf("%q: err = %v, want usage", args, err)
		}
	}
	if err := run(ctx, []string{"restore", "a.dump", "-target", "postgres://u:secret-pw@h:notaport/db", "-level", "none"}, &out, &out); err == nil || strings.Contains(err.Error(), "secret-pw") {
		t.Errorf("a bad target URL: %v", err)
	}
}
