package agent

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/clonebot/clonebot/internal/testenv"
	"github.com/clonebot/clonebot/jobs"
	"github.com/clonebot/clonebot/provisioner"
)

// compareWithReference checks that clone equals ref (a pg_restore of the same dump) in schema,
// indexes, constraints, sequences and the unmasked data, and that every masked value differs
// from the source's.
func compareWithReference(t *testing.T, ref, clone string) {
	t.Helper()
	for name, q := range catalogQueries {
		want, got := query(t, ref, q), query(t, clone, q)
		if !slices.Equal(want, got) {
			t.Errorf("%s differ:\npg_restore: %q\nagent:      %q", name, want, got)
		}
	}
	for _, tbl := range []struct{ schema, name string }{{"public", "users"}, {"public", "payments"}, {"billing", "notes"}} {
		var plain []string
		for _, c := range tableColumns(t, ref, tbl.schema, tbl.name) {
			if !slices.Contains(masked[tbl.name], c) || tbl.schema != "public" {
				plain = append(plain, c)
			}
		}
		full := tbl.schema + "." + tbl.name
		if w, g := digest(t, ref, full, plain), digest(t, clone, full, plain); w != g {
			t.Errorf("%s unmasked columns %v differ", full, plain)
		}
	}
}

func TestRestoreCustomMatchesPgRestore(t *testing.T) {
	src := newSource(t, 3000)
	file := dump(t, src, "prod.dump", "-Fc")
	ref := pgRestore(t, file)
	rdb, prefix := testenv.Redis(t)
	a, q := newTestAgent(t, rdb, prefix, "a1", agentOpts{})

	clone1, clone2 := testenv.Postgres(t), testenv.Postgres(t)
	// A restarted job must start clean: leave junk in clone1 as a half restore would.
	execURL(t, clone1, "CREATE TABLE public.users (id int); INSERT INTO public.users VALUES (1); CREATE SCHEMA billing")
	for i, clone := range []string{clone1, clone2} {
		e := runToEnd(t, a, q, restoreJob("req-"+string(rune('a'+i)), file, clone))
		if e.State != jobs.StateReady {
			t.Fatalf("clone %d: %+v", i, e)
		}
		compareWithReference(t, ref, clone)
	}

	// Masked values differ from every source value, row by row.
	for table, cols := range masked {
		for _, c := range cols {
			same := query(t, src, "SELECT count(*) FROM public."+table+" WHERE "+c+" IS NOT NULL")[0]
			if same == "0" {
				t.Fatalf("source %s.%s has no values", table, c)
			}
			var srcVals []string
			for _, v := range query(t, src, "SELECT "+c+" FROM public."+table+" WHERE "+c+" IS NOT NULL ORDER BY id LIMIT 50") {
				srcVals = append(srcVals, "'"+strings.ReplaceAll(v, "'", "''")+"'")
			}
			hits := query(t, clone1, "SELECT count(*) FROM public."+table+" WHERE "+c+" IN ("+strings.Join(srcVals, ",")+")")[0]
			if hits != "0" {
				t.Errorf("%s.%s: %s original values survived", table, c, hits)
			}
			nulls := "SELECT count(*) FROM public." + table + " WHERE " + c + " IS NULL"
			if w, g := query(t, src, nulls)[0], query(t, clone1, nulls)[0]; w != g {
				t.Errorf("%s.%s: %s NULLs, source has %s", table, c, g, w)
			}
		}
		// Deterministic: two runs with one key give the same masked values.
		if d1, d2 := digest(t, clone1, "public."+table, cols), digest(t, clone2, "public."+table, cols); d1 != d2 {
			t.Errorf("%s masked differently across runs", table)
		}
	}
	// Joins on the masked email still match (and the foreign key on it was created).
	join := "SELECT count(*) FROM public.payments p JOIN public.users u ON u.email = p.email AND u.id = p.user_id"
	if w, g := query(t, src, join)[0], query(t, clone1, join)[0]; w != g {
		t.Errorf("join on masked email: %s rows, source %s", g, w)
	}
	phases := map[jobs.Phase]bool{}
	for _, e := range events(t, q, "req-a") {
		phases[e.Phase] = true
	}
	for _, p := range []jobs.Phase{jobs.PhaseDownload, jobs.PhasePreData, jobs.PhaseData, jobs.PhasePostData, jobs.PhaseVerify} {
		if !phases[p] {
			t.Errorf("no %s progress event", p)
		}
	}
}

func TestBadBackupsFailClearly(t *testing.T) {
	src := newSource(t, 200)
	file := dump(t, src, "prod.dump", "-Fc")
	good, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := dir + "/" + name
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	flipped := slices.Clone(good)
	for i := len(flipped) * 3 / 4; i < len(flipped)*3/4+64; i++ {
		flipped[i] ^= 0x5a
	}
	tests := []struct {
		name   string
		backup jobs.BackupRef
		want   string
	}{
		{"truncated", jobs.BackupRef{Location: write("half.dump", good[:len(good)/2])}, "corrupt or truncated"},
		{"corrupt data", jobs.BackupRef{Location: write("flipped.dump", flipped)}, "corrupt or truncated"},
		{"unknown format", jobs.BackupRef{Location: write("x.bin", []byte("\x00\x01\x02 not a dump \xff\xfe"))}, "neither a pg_dump custom archive"},
		{"missing", jobs.BackupRef{Location: dir + "/nope.dump"}, "does not exist"},
		{"size mismatch", jobs.BackupRef{Location: file, Size: int64(len(good)) + 1}, "truncated or damaged"},
		{"checksum mismatch", jobs.BackupRef{Location: file, SHA256: strings.Repeat("ab", 32)}, "SHA-256 does not match"},
	}
	rdb, prefix := testenv.Redis(t)
	a, q := newTestAgent(t, rdb, prefix, "a1", agentOpts{})
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := testenv.Postgres(t)
			job := restoreJob("bad-"+string(rune('a'+i)), "", target)
			job.Backup = tt.backup
			e := runToEnd(t, a, q, job)
			if e.State != jobs.StateFailed || !strings.Contains(e.Reason, tt.want) {
				t.Fatalf("final = %s %q, want failed with %q", e.State, e.Reason, tt.want)
			}
			pending, err := rdb.XPending(context.Background(), q.JobsKey(), q.Group()).Result()
			if err != nil || pending.Count != 0 {
				t.Fatalf("pending after failure: %+v %v", pending, err)
			}
		})
	}
}

func TestRuleOnMissingColumnFailsBeforeData(t *testing.T) {
	src := newSource(t, 50)
	file := dump(t, src, "prod.dump", "-Fc")
	rdb, prefix := testenv.Redis(t)
	rules := fullRules + "      iban: {strategy: null}\n"
	a, q := newTestAgent(t, rdb, prefix, "a1", agentOpts{rules: rules})
	target := testenv.Postgres(t)
	e := runToEnd(t, a, q, restoreJob("r1", file, target))
	if e.State != jobs.StateFailed || !strings.Contains(e.Reason, "masking rules do not match") {
		t.Fatalf("final = %+v", e)
	}
	for _, ev := range events(t, q, "r1") {
		if ev.Phase == jobs.PhasePreData || ev.Phase == jobs.PhaseData {
			t.Fatalf("phase %s started despite a bad rule", ev.Phase)
		}
	}
	if n := userTables(t, target); n != "0" {
		t.Fatalf("%s tables created on the target", n)
	}
}

func TestGateBlocksRelease(t *testing.T) {
	src := newSource(t, 300)
	// A column no rule names, full of emails: declared keep, it is released as is; kept only
	// by the level's policy, the gate's detectors block the clone.
	execURL(t, src, "ALTER TABLE public.payments ADD COLUMN receipt_to text; UPDATE public.payments SET receipt_to = 'billing' || id || '@corp.example'")
	file := dump(t, src, "prod.dump", "-Fc")
	rdb, prefix := testenv.Redis(t)
	for i, tt := range []struct{ rules, want string }{
		{strings.Replace(fullRules, "  full:\n", "  full:\n    unclassified: keep\n", 1), "public.payments.receipt_to holds emails"},
		{strings.Replace(fullRules, `"public.slow.payload"]`, `"public.slow.payload", "public.payments.receipt_to"]`, 1), ""},
	} {
		rules := tt.rules
		a, q := newTestAgent(t, rdb, prefix, "a"+string(rune('a'+i)), agentOpts{rules: rules})
		target := testenv.Postgres(t)
		e := runToEnd(t, a, q, restoreJob("g"+string(rune('a'+i)), file, target))
		if tt.want == "" {
			if e.State != jobs.StateReady {
				t.Fatalf("declared keep: final = %+v", e)
			}
			continue
		}
		if e.State != jobs.StateFailed || !strings.Contains(e.Reason, tt.want) {
			t.Fatalf("final = %+v, want failed with %q", e, tt.want)
		}
		if strings.Contains(e.Reason, "@corp.example") {
			t.Fatalf("reason leaks a value: %q", e.Reason)
		}
		if n := userTables(t, target); n != "0" {
			t.Fatalf("the refused clone left %s tables", n)
		}
	}
}

func TestMaskInPlaceEqualsMaskedRestore(t *testing.T) {
	src := newSource(t, 500)
	file := dump(t, src, "prod.dump", "-Fc")
	rdb, prefix := testenv.Redis(t)
	a, q := newTestAgent(t, rdb, prefix, "a1", agentOpts{})
	restored := testenv.Postgres(t)
	if e := runToEnd(t, a, q, restoreJob("r1", file, restored)); e.State != jobs.StateReady {
		t.Fatalf("restore: %+v", e)
	}
	// A fast clone is a full copy of the source, masked in place.
	inPlace := pgRestore(t, file)
	job := jobs.Job{RequestID: "f1", Strategy: provisioner.StrategyFastClone, TargetRef: inPlace, MaskLevel: "full"}
	if e := runToEnd(t, a, q, job); e.State != jobs.StateReady {
		t.Fatalf("in place: %+v", e)
	}
	for table := range masked {
		cols := tableColumns(t, src, "public", table)
		if w, g := digest(t, restored, "public."+table, cols), digest(t, inPlace, "public."+table, cols); w != g {
			t.Errorf("%s: masked in place differs from masked restore", table)
		}
	}
}

func TestMaskInPlaceGateRollsBack(t *testing.T) {
	src := newSource(t, 100)
	execURL(t, src, "ALTER TABLE public.payments ADD COLUMN receipt_to text; UPDATE public.payments SET receipt_to = 'billing' || id || '@corp.example'")
	rdb, prefix := testenv.Redis(t)
	rules := strings.Replace(fullRules, "  full:\n", "  full:\n    unclassified: keep\n", 1)
	a, q := newTestAgent(t, rdb, prefix, "a1", agentOpts{rules: rules})
	before := digest(t, src, "public.users", []string{"email", "phone"})
	job := jobs.Job{RequestID: "s1", Strategy: provisioner.StrategySnapshot, TargetRef: src, MaskLevel: "full"}
	if e := runToEnd(t, a, q, job); e.State != jobs.StateFailed || !strings.Contains(e.Reason, "public.payments.receipt_to holds emails") {
		t.Fatalf("final = %+v", e)
	}
	if after := digest(t, src, "public.users", []string{"email", "phone"}); after != before {
		t.Fatal("a failed in-place masking left changes behind")
	}
}

func TestRestoreScriptMatchesPgRestore(t *testing.T) {
	src := newSource(t, 500)
	ref := pgRestore(t, dump(t, src, "prod.dump", "-Fc"))
	rdb, prefix := testenv.Redis(t)
	a, q := newTestAgent(t, rdb, prefix, "a1", agentOpts{})
	tests := []struct{ name, file string }{
		{"plain", dump(t, src, "prod.sql", "-Fp")},
		{"gzip", dump(t, src, "prod.sql.gz", "-Fp", "-Z", "6")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clone := testenv.Postgres(t)
			if e := runToEnd(t, a, q, restoreJob("s-"+tt.name, tt.file, clone)); e.State != jobs.StateReady {
				t.Fatalf("final = %+v", e)
			}
			compareWithReference(t, ref, clone)
		})
	}
}
