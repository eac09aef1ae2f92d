// Command restore benchmarks the restore agent against pg_restore on one throwaway server:
// (a) pg_restore -j 2 unmasked, (b) the agent masking five PII columns with 2 workers, run as
// a separate process so its peak RSS can be read, (c) pg_restore -j 2 then UPDATE-masking the
// same columns in SQL. After (b) it checks that none of a sample of 1,000 raw emails is in the
// clone's data files or in the WAL written during (b).
//
//	BENCH_ROWS=200000 BENCH_REPEAT=5 go run ./bench/restore
//
// BENCH_REPEAT (default 3) alternates (a) and (b) that many times and reports their medians;
// before each timed run the server is settled (autovacuum idle, CHECKPOINT). BENCH_MASK_LEVEL
// picks the level of (b): full (default), none, or scan (full, but users.name left to the
// gate's detectors: unclassified: keep). The verification phase of (b) (the gate) is timed
// from the agent's log, and clonebot masking check is timed on the same archive.
// The last line is: bench-restore masked_vs_pg_restore=b/a update_vs_masked=c/b
// agent_peak_rss_mb=M raw_pii_hits=H gate_share=V/b masking_check_s=T
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/clonebot/clonebot/agent"
	"github.com/clonebot/clonebot/agent/mask"
	"github.com/clonebot/clonebot/bench/benchdata"
	"github.com/clonebot/clonebot/deploy"
	"github.com/clonebot/clonebot/internal/testenv"
	"github.com/clonebot/clonebot/jobs"
	"github.com/clonebot/clonebot/provisioner"
	"github.com/clonebot/clonebot/redisstore"
)

const agentModeEnv = "BENCH_RESTORE_AGENT"

// rawDomain marks every generated email, so the grep needs one pattern for all of them.
const rawDomain = benchdata.RawDomain

// updateMask masks the same columns in SQL after a plain restore (article 002's way).
const updateMask = `
UPDATE users SET email = 'user.' || md5(email) || '@example.com', ssn = '9' || substr(md5(ssn), 1, 8),
  phone = '+1 555 ' || substr(md5(phone), 1, 7), name = 'Name ' || substr(md5(name), 1, 8);
UPDATE payments SET card_number = '4' || substr(md5(card_number), 1, 15);
`

func main() {
	if os.Getenv(agentModeEnv) == "1" {
		if err := runAgent(os.Args[1], os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, "agent:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench-restore:", err)
		os.Exit(1)
	}
}

func run() error {
	// Interrupted, the bench still stops its server and removes its files.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rows := 2_000_000
	if s := os.Getenv("BENCH_ROWS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1000 {
			return fmt.Errorf("BENCH_ROWS=%q: want an integer >= 1000", s)
		}
		rows = n
	}
	// step 1: a throwaway server whose data directory we can grep.
	srv, err := testenv.StartServer(ctx, "shared_buffers=256MB", "max_wal_size=8GB", "checkpoint_timeout=30min")
	if err != nil {
		return err
	}
	defer srv.Stop()
	work, err := os.MkdirTemp("", "bench-restore-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	// step 2: the source database and its pg_dump -Fc archive.
	start := time.Now()
	src, err := createDB(ctx, srv.URL, "source")
	if err != nil {
		return err
	}
	if err := execSQL(ctx, src, benchdata.Schema(rows)); err != nil {
		return fmt.Errorf("generate source: %w", err)
	}
	dump := filepath.Join(work, "source.dump")
	if out, err := exec.CommandContext(ctx, "pg_dump", "-Fc", "-d", src, "-f", dump).CombinedOutput(); err != nil {
		return fmt.Errorf("pg_dump: %w: %s", err, out)
	}
	st, _ := os.Stat(dump)
	// VACUUM now, so the source's autovacuum does not run during (a).
	if err := execSQL(ctx, src, "VACUUM ANALYZE"); err != nil {
		return err
	}
	sample, err := sampleEmails(ctx, src, 1000)
	if err != nil {
		return err
	}
	fmt.Printf("rows=%d per table, dump %.1f MB, generated in %s\n", rows, float64(st.Size())/1e6, time.Since(start).Round(time.Second))

	// steps 3 and 4, alternated BENCH_REPEAT times (medians are reported, the machine may be
	// shared): (a) pg_restore -j 2, unmasked; (b) the agent, masked, 2 workers, in its own
	// process. The last (b) is grepped.
	repeat := 3 // single runs move by ±20 % on two shared cores
	if s := os.Getenv("BENCH_REPEAT"); s != "" {
		if repeat, err = strconv.Atoi(s); err != nil || repeat < 1 {
			return fmt.Errorf("BENCH_REPEAT=%q: want an integer >= 1", s)
		}
	}
	var as, bs, vs []time.Duration
	var rss int64
	var dbB string
	var lsn0, lsn1 uint64
	for i := range repeat {
		if i > 0 {
			for _, db := range []string{"restore_a", "restore_b"} {
				if err := execSQL(ctx, srv.URL, "DROP DATABASE "+db); err != nil {
					return err
				}
			}
		}
		if err := settle(ctx, srv.URL); err != nil {
			return err
		}
		a, err := timed(func() error { return pgRestore(ctx, srv.URL, "restore_a", dump) })
		if err != nil {
			return err
		}
		// (a)'s tables are not frozen: VACUUM them now (untimed), or autovacuum does it
		// during (b).
		if err := execSQL(ctx, withDB(srv.URL, "restore_a"), "VACUUM ANALYZE"); err != nil {
			return err
		}
		if err := settle(ctx, srv.URL); err != nil {
			return err
		}
		if dbB, err = createDB(ctx, srv.URL, "restore_b"); err != nil {
			return err
		}
		if err := execSQL(ctx, srv.URL, "CHECKPOINT"); err != nil {
			return err
		}
		if lsn0, err = currentLSN(ctx, srv.URL); err != nil {
			return err
		}
		var maxrss int64
		var cpu time.Duration
		var logs bytes.Buffer
		b, err := timed(func() error {
			cmd := exec.CommandContext(ctx, os.Args[0], dump, dbB)
			cmd.Env = append(os.Environ(), agentModeEnv+"=1")
			cmd.Stderr = &logs
			err := cmd.Run()
			if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
				maxrss = ru.Maxrss // KiB on Linux
				cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("agent run: %w\n%s", err, logs.String())
		}
		verify, err := phaseTook(logs.Bytes(), "verify")
		if err != nil {
			return err
		}
		if err := execSQL(ctx, srv.URL, "CHECKPOINT"); err != nil {
			return err
		}
		if lsn1, err = currentLSN(ctx, srv.URL); err != nil {
			return err
		}
		rss = max(rss, maxrss)
		as, bs, vs = append(as, a), append(bs, b), append(vs, verify)
		fmt.Printf("(a) pg_restore -j 2 unmasked: %.2fs   (b) agent masked, 2 workers: %.2fs (gate %.3fs), agent CPU %.2fs, peak RSS %.1f MB\n",
			a.Seconds(), b.Seconds(), verify.Seconds(), cpu.Seconds(), float64(maxrss)/1024)
	}
	a, b, v := median(as), median(bs), median(vs)

	// clonebot masking check on the same archive (no database), as often.
	var checks []time.Duration
	for range repeat {
		d, err := timed(func() error { return maskingCheck(ctx, dump) })
		if err != nil {
			return err
		}
		checks = append(checks, d)
	}
	check := median(checks)
	fmt.Printf("masking check of the archive: %.2fs (median of %d)\n", check.Seconds(), repeat)

	// step 5: grep the clone's files and the WAL of (b) for the sampled raw emails.
	hits, scanned, err := grepRaw(ctx, srv, dbB, lsn0, lsn1, sample)
	if err != nil {
		return err
	}
	fmt.Printf("grep: %.1f MB of data files and WAL, %d of %d sampled raw emails found\n", float64(scanned)/1e6, hits, len(sample))
	// The same grep over the unmasked restore (a) shows that it finds what is there.
	control, _, err := grepRaw(ctx, srv, withDB(srv.URL, "restore_a"), 0, 0, sample)
	if err != nil {
		return err
	}
	fmt.Printf("control: the same grep finds %d of %d in the unmasked restore (a)\n", control, len(sample))

	// step 6: (c) pg_restore -j 2, then UPDATE-masking in SQL.
	if err := settle(ctx, srv.URL); err != nil {
		return err
	}
	c, err := timed(func() error {
		if err := pgRestore(ctx, srv.URL, "restore_c", dump); err != nil {
			return err
		}
		return execSQL(ctx, withDB(srv.URL, "restore_c"), updateMask)
	})
	if err != nil {
		return err
	}
	fmt.Printf("(c) pg_restore -j 2 + UPDATE masking: %.2fs\n", c.Seconds())
	fmt.Printf("bench-restore masked_vs_pg_restore=%.2f update_vs_masked=%.2f agent_peak_rss_mb=%.0f raw_pii_hits=%d gate_share=%.4f masking_check_s=%.2f\n",
		b.Seconds()/a.Seconds(), c.Seconds()/b.Seconds(), float64(rss)/1024, hits, v.Seconds()/b.Seconds(), check.Seconds())
	return nil
}

// benchRules are the example rules, plus the level scan: full, but users.name left to the
// gate's detectors (unclassified: keep), to time a gate that reads unmasked values.
func benchRules() (*mask.Rules, error) {
	scan := `
  scan:
    unclassified: keep
    keep: ["*.*.id", "*.*.*_id", "*.*.created_at"]
    public.users:
      email: {strategy: fake-email, unique: true}
      ssn: {strategy: fake-ssn}
      phone: {strategy: fake-phone}
    public.payments:
      card_number: {strategy: fake-card}
      amount: keep
`
	return mask.ParseRules(append(slices.Clone(deploy.MaskingExample), scan...))
}

// maskingCheck runs what clonebot masking check does on the archive, at level full.
func maskingCheck(ctx context.Context, dump string) error {
	r, err := benchRules()
	if err != nil {
		return err
	}
	c, err := agent.CheckBackup(ctx, dump, r, "full", 1000)
	if err != nil {
		return err
	}
	if c.Refusal != nil {
		return fmt.Errorf("masking check: %w", c.Refusal)
	}
	return nil
}

// phaseTook returns how long the agent's log says a phase took.
func phaseTook(logs []byte, phase string) (time.Duration, error) {
	for _, line := range bytes.Split(logs, []byte("\n")) {
		var e struct {
			Msg   string  `json:"msg"`
			Phase string  `json:"phase"`
			Took  float64 `json:"took"`
		}
		if json.Unmarshal(line, &e) == nil && e.Msg == "phase done" && e.Phase == phase {
			return time.Duration(e.Took * float64(time.Second)), nil
		}
	}
	return 0, fmt.Errorf("the agent's log has no %s phase", phase)
}

// runAgent is the agent process of (b): an in-process Redis carries the one job.
func runAgent(dump, target string) error {
	ctx := context.Background()
	if p := os.Getenv("BENCH_CPUPROFILE"); p != "" {
		f, err := os.Create(p)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	mr, err := miniredis.Run()
	if err != nil {
		return err
	}
	defer mr.Close()
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	r, err := benchRules() // level full masks email, ssn, phone, name and card_number
	if err != nil {
		return err
	}
	cfg := agent.DefaultConfig("bench")
	cfg.Parallelism = 2
	q := redisstore.NewQueue(rdb, "clonebot:", redisstore.DefaultGroup)
	log, _ := zap.NewProduction()
	a, err := agent.New(cfg, agent.Deps{Queue: q, Secrets: urlSecrets{}, Rules: r,
		MaskKey: provisioner.NewPassword("bench-masking-key-0123456789"), Log: log})
	if err != nil {
		return err
	}
	if err := q.EnsureGroup(ctx); err != nil {
		return err
	}
	job := jobs.Job{RequestID: "bench", Backup: jobs.BackupRef{Location: dump}, Strategy: provisioner.StrategyRestore,
		TargetRef: target, MaskLevel: "full", Parallelism: 2}
	if l := os.Getenv("BENCH_MASK_LEVEL"); l != "" {
		job.MaskLevel = l // "none" measures the agent's loader without masking, "scan" a gate that reads names
	}
	if _, err := q.Enqueue(ctx, job); err != nil {
		return err
	}
	if _, err := a.RunOnce(ctx); err != nil {
		return err
	}
	msgs, err := rdb.XRevRangeN(ctx, q.EventsKey(), "+", "-", 1).Result()
	if err != nil || len(msgs) == 0 {
		return fmt.Errorf("no final event: %v", err)
	}
	e, err := redisstore.ParseEvent(msgs[0].Values)
	if err != nil {
		return err
	}
	if e.State != jobs.StateReady {
		js, _ := json.Marshal(e)
		return fmt.Errorf("job ended %s", js)
	}
	return nil
}

// settle waits (at most two minutes) until no autovacuum worker runs, then CHECKPOINTs, so
// that each timed restore starts on a quiet server and pays only for its own work.
func settle(ctx context.Context, u string) error {
	c, err := pgx.Connect(ctx, u)
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	for range 240 {
		var busy int
		if err := c.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'").Scan(&busy); err != nil {
			return err
		}
		if busy == 0 {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	_, err = c.Exec(ctx, "CHECKPOINT")
	return err
}

// urlSecrets resolves a reference that is a PostgreSQL URL (the bench's throwaway server).
type urlSecrets struct{}

func (urlSecrets) Resolve(_ context.Context, ref string) (provisioner.Credentials, error) {
	p, err := url.Parse(ref)
	if err != nil {
		return provisioner.Credentials{}, err
	}
	port, _ := strconv.Atoi(p.Port())
	pw, _ := p.User.Password()
	return provisioner.Credentials{Engine: "postgres", Host: p.Hostname(), Port: port, Username: p.User.Username(),
		Password: provisioner.NewPassword(pw), DBName: strings.TrimPrefix(p.Path, "/")}, nil
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func timed(f func() error) (time.Duration, error) {
	start := time.Now()
	err := f()
	return time.Since(start), err
}

func withDB(u, db string) string {
	p, _ := url.Parse(u)
	p.Path = "/" + db
	return p.String()
}

func createDB(ctx context.Context, admin, name string) (string, error) {
	if err := execSQL(ctx, admin, "CREATE DATABASE "+name); err != nil {
		return "", err
	}
	return withDB(admin, name), nil
}

func pgRestore(ctx context.Context, admin, db, dump string) error {
	u, err := createDB(ctx, admin, db)
	if err != nil {
		return err
	}
	out, err := exec.CommandContext(ctx, "pg_restore", "-j", "2", "--no-owner", "--no-acl", "-d", u, dump).CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_restore: %w: %s", err, out)
	}
	return nil
}

func execSQL(ctx context.Context, u, sql string) error {
	c, err := pgx.Connect(ctx, u)
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	_, err = c.PgConn().Exec(ctx, sql).ReadAll()
	return err
}

func sampleEmails(ctx context.Context, u string, n int) (map[string]bool, error) {
	c, err := pgx.Connect(ctx, u)
	if err != nil {
		return nil, err
	}
	defer c.Close(ctx)
	rows, err := c.Query(ctx, "SELECT email FROM users TABLESAMPLE BERNOULLI (50) LIMIT $1", n)
	if err != nil {
		return nil, err
	}
	emails, err := pgx.CollectRows(rows, pgx.RowTo[string])
	out := map[string]bool{}
	for _, e := range emails {
		out[e] = true
	}
	return out, err
}

func currentLSN(ctx context.Context, u string) (uint64, error) {
	c, err := pgx.Connect(ctx, u)
	if err != nil {
		return 0, err
	}
	defer c.Close(ctx)
	var lsn uint64
	err = c.QueryRow(ctx, "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn").Scan(&lsn)
	return lsn, err
}

// walSegment is PostgreSQL's default WAL segment size.
const walSegment = 16 << 20

// grepRaw counts the sampled emails found in the files of database db and in the WAL between
// the two LSNs (timeline 1). Every generated email ends in rawDomain, so one pattern finds
// candidates and the sample decides.
func grepRaw(ctx context.Context, srv *testenv.Server, db string, from, to uint64, sample map[string]bool) (hits int, scanned int64, err error) {
	c, err := pgx.Connect(ctx, db)
	if err != nil {
		return 0, 0, err
	}
	var oid uint32
	err = c.QueryRow(ctx, "SELECT oid FROM pg_database WHERE datname = current_database()").Scan(&oid)
	c.Close(ctx)
	if err != nil {
		return 0, 0, err
	}
	found := map[string]bool{}
	scan := func(b []byte) {
		scanned += int64(len(b))
		for i := 0; ; {
			j := bytes.Index(b[i:], []byte(rawDomain))
			if j < 0 {
				return
			}
			at := i + j
			k := at
			for k > 0 && isLocal(b[k-1]) {
				k--
			}
			// The byte before a stored value (a varlena header) may itself look like part
			// of an address: try every start.
			for ; k < at; k++ {
				if e := string(b[k:at]) + rawDomain; sample[e] {
					found[e] = true
					break
				}
			}
			i = at + len(rawDomain)
		}
	}
	dir := filepath.Join(srv.DataDir, "base", strconv.FormatUint(uint64(oid), 10))
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		scan(b)
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	for seg := from / walSegment; to > from && seg <= to/walSegment; seg++ {
		name := fmt.Sprintf("%08X%08X%08X", 1, seg/(0x100000000/walSegment), seg%(0x100000000/walSegment))
		b, err := os.ReadFile(filepath.Join(srv.DataDir, "pg_wal", name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return 0, 0, err
		}
		lo, hi := uint64(0), uint64(len(b))
		if seg == from/walSegment {
			lo = from % walSegment
		}
		if seg == to/walSegment {
			hi = min(hi, to%walSegment)
		}
		if lo < hi {
			scan(b[lo:hi])
		}
	}
	return len(found), scanned, nil
}

func isLocal(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.'
}
