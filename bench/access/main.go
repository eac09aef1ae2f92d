// Command access measures time-to-access, from a request accepted (stored approved) to its
// clone accepting its own credentials and answering a query, for the same source restored
// from its backup and made as a thin copy of its golden copy. Everything is real but Slack:
// a throwaway PostgreSQL server (the local backend), the Redis store (embedded), the
// lifecycle loop and a restore agent masking at level full, all in this process.
//
//	go run ./bench/access                      # 250 MB and 1 GB sources, 3 runs each
//	BENCH_SIZES=250MB BENCH_REPEAT=5 go run ./bench/access
//
// For each size it builds the sample database (bench/benchdata) to about that size, dumps it
// (pg_dump -Fc) as today's backup, builds a golden copy of it, then alternates BENCH_REPEAT
// restores and thin copies and prints their medians. The last line is, for the last size:
//
//	bench-access restore_s=A golden_s=B ratio=A/B bytes=N
package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/clonebot/clonebot/agent/mask"
	"github.com/clonebot/clonebot/app"
	"github.com/clonebot/clonebot/approvals"
	"github.com/clonebot/clonebot/bench/benchdata"
	"github.com/clonebot/clonebot/bot/slackfake"
	"github.com/clonebot/clonebot/deploy"
	"github.com/clonebot/clonebot/internal/testenv"
	"github.com/clonebot/clonebot/lifecycle"
	"github.com/clonebot/clonebot/provisioner"
	"github.com/clonebot/clonebot/provisioner/local"
	"github.com/clonebot/clonebot/redisstore"
)

// policy is the bench's: prod's golden copies are built when the bench asks (a yearly cron
// that never comes due during it), one generation kept; dev clones are full-masked and
// approved at once.
const policy = `
default_tier: dev
pending_expiry: 1h
sources:
  prod:
    backend: local
    strategy: restore
    backups: /unused/{source}/{date}/
    golden: {levels: [full], cron: "0 0 1 1 *", keep: 1}
tiers:
  dev: {masking: full, approval: auto, default_ttl: 1h, max_ttl: 2h, requesters: ["group:bench"]}
`

// bytesPerRow is about what one generated user and one payment take on disk, indexes included
// (measured: 42 MB for 78,000 rows).
const bytesPerRow = 540

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench-access:", err)
		os.Exit(1)
	}
}

type bench struct {
	srv     *testenv.Server
	store   *redisstore.Store
	life    *lifecycle.Manager
	secrets *local.SecretStore
	backups string // the backups folder of prod
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	sizes, repeat, err := settings()
	if err != nil {
		return err
	}
	b, cleanup, err := start(ctx)
	if err != nil {
		return err
	}
	defer cleanup()
	var last string
	for _, size := range sizes {
		restore, golden, bytes, err := b.measure(ctx, size, repeat)
		if err != nil {
			return err
		}
		fmt.Printf("size=%s bytes=%d restore_s=%.2f golden_s=%.2f ratio=%.1f\n", formatSize(size), bytes, restore.Seconds(), golden.Seconds(), restore.Seconds()/golden.Seconds())
		last = fmt.Sprintf("bench-access restore_s=%.2f golden_s=%.2f ratio=%.1f bytes=%d", restore.Seconds(), golden.Seconds(), restore.Seconds()/golden.Seconds(), bytes)
	}
	fmt.Println(last)
	return nil
}

// settings reads BENCH_SIZES (e.g. 250MB,1GB) and BENCH_REPEAT.
func settings() (sizes []int64, repeat int, err error) {
	repeat = 3
	if s := os.Getenv("BENCH_REPEAT"); s != "" {
		if repeat, err = strconv.Atoi(s); err != nil || repeat < 1 {
			return nil, 0, fmt.Errorf("BENCH_REPEAT=%q: want an integer >= 1", s)
		}
	}
	list := "250MB,1GB"
	if s := os.Getenv("BENCH_SIZES"); s != "" {
		list = s
	}
	for _, f := range strings.Split(list, ",") {
		f = strings.ToUpper(strings.TrimSpace(f))
		unit := int64(1 << 20)
		num, ok := strings.CutSuffix(f, "MB")
		if !ok {
			num, ok = strings.CutSuffix(f, "GB")
			unit = 1 << 30
		}
		n, err := strconv.ParseFloat(num, 64)
		if !ok || err != nil || n <= 0 {
			return nil, 0, fmt.Errorf("BENCH_SIZES=%q: want sizes like 250MB,1GB", list)
		}
		sizes = append(sizes, int64(n*float64(unit)))
	}
	return sizes, repeat, nil
}

func formatSize(n int64) string {
	if n >= 1<<30 {
		return strconv.FormatFloat(float64(n)/(1<<30), 'f', -1, 64) + "GB"
	}
	return strconv.FormatInt(n>>20, 10) + "MB"
}

// start runs the server, and clonebot's lifecycle loop and an agent, wired by app.New as
// serve and agent are.
func start(ctx context.Context) (*bench, func(), error) {
	var undo []func()
	cleanup := func() {
		for _, f := range slices.Backward(undo) {
			f()
		}
	}
	fail := func(err error) (*bench, func(), error) { cleanup(); return nil, nil, err }
	srv, err := testenv.StartServer(ctx, "shared_buffers=256MB", "max_wal_size=8GB", "checkpoint_timeout=30min")
	if err != nil {
		return fail(err)
	}
	undo = append(undo, srv.Stop)
	work, err := os.MkdirTemp("", "bench-access-")
	if err != nil {
		return fail(err)
	}
	undo = append(undo, func() { os.RemoveAll(work) })
	mr, err := miniredis.Run()
	if err != nil {
		return fail(err)
	}
	undo = append(undo, mr.Close)
	log := zap.NewNop()

	u, err := url.Parse(srv.URL)
	if err != nil {
		return fail(err)
	}
	port, _ := strconv.Atoi(u.Port())
	lcfg := local.Config{AdminURL: srv.URL, Host: u.Hostname(), Port: port, SecretsDir: filepath.Join(work, "secrets"),
		Backups: filepath.Join(work, "backups", "{source}", "{date}"), Sources: map[string]local.SourceConfig{"prod": {Strategy: provisioner.StrategyRestore}}}
	prov, err := local.New(lcfg, log)
	if err != nil {
		return fail(err)
	}
	cat, err := local.NewCatalogue(lcfg, nil)
	if err != nil {
		return fail(err)
	}
	pol, err := approvals.ParsePolicy([]byte(policy))
	if err != nil {
		return fail(err)
	}
	rules, err := mask.ParseRules(deploy.MaskingExample)
	if err != nil {
		return fail(err)
	}
	// clonebot itself, both roles, built as serve and agent build it; Slack is an offline
	// stand-in that nothing here waits for (the notifier does not run).
	slack := slackfake.New()
	undo = append(undo, slack.Close)
	cfg := app.DefaultConfig()
	cfg.Redis.Prefix = "bench:"
	cfg.Slack.APIURL, cfg.Slack.BotToken = slack.APIURL(), "xoxb-bench"
	cfg.Lifecycle.Interval, cfg.Agent.Block, cfg.Agent.SSLMode = 100*time.Millisecond, 100*time.Millisecond, "disable"
	a, err := app.New(ctx, cfg, app.Options{Serve: true, Agent: true, Logger: log, Owner: "bench",
		DB: redisstore.NewDB(redis.NewClient(&redis.Options{Addr: mr.Addr()}), cfg.Redis.Prefix), Policy: pol,
		Backends: provisioner.Backends{"prod": {Provisioner: prov, Catalogue: cat, Strategy: provisioner.StrategyRestore}},
		Secrets:  prov.SecretStore(), Rules: rules, MaskKey: provisioner.NewPassword("bench-masking-key-0123456789")})
	if err != nil {
		return fail(err)
	}
	undo = append(undo, a.Close)
	loops, stopLoops := context.WithCancel(ctx)
	done := make(chan struct{}, 2)
	go func() { _ = a.Lifecycle.Run(loops); done <- struct{}{} }()
	go func() { _ = a.Agent.Run(loops); done <- struct{}{} }()
	undo = append(undo, func() { stopLoops(); <-done; <-done })
	return &bench{srv: srv, store: a.Store, life: a.Lifecycle, secrets: prov.SecretStore(), backups: filepath.Join(work, "backups", "prod")}, cleanup, nil
}

// measure makes the source of about size bytes and its backup and golden copy, then times
// repeat restores and repeat thin copies, alternated.
func (b *bench) measure(ctx context.Context, size int64, repeat int) (restore, golden time.Duration, bytes int64, err error) {
	// step 1: the source and today's backup of it.
	bytes, err = b.source(ctx, size)
	if err != nil {
		return 0, 0, 0, err
	}
	// step 2: its golden copy (untimed: it is built ahead, on the schedule).
	g, err := b.life.StartGolden(ctx, "prod", approvals.MaskFull, time.Time{}, "bench")
	if err != nil {
		return 0, 0, 0, err
	}
	for g.Status != approvals.GoldenReady {
		if g.Status == approvals.GoldenFailed || g.Status == approvals.GoldenRetired {
			return 0, 0, 0, fmt.Errorf("golden copy %s: %s", g.Status, g.Failure)
		}
		if err := pause(ctx, 100*time.Millisecond); err != nil {
			return 0, 0, 0, err
		}
		if g, err = b.store.Golden(ctx, g.ID); err != nil {
			return 0, 0, 0, err
		}
	}
	fmt.Printf("size=%s golden copy %s built in %s\n", formatSize(size), g.ID, g.BuildTime().Round(time.Second))
	// step 3: the timed requests.
	var rs, gs []time.Duration
	for range repeat {
		for _, from := range []*approvals.Golden{nil, g} {
			d, err := b.access(ctx, from)
			if err != nil {
				return 0, 0, 0, err
			}
			if from == nil {
				rs = append(rs, d)
			} else {
				gs = append(gs, d)
			}
		}
	}
	fmt.Printf("size=%s restores %v, thin copies %v\n", formatSize(size), rs, gs)
	return median(rs), median(gs), bytes, nil
}

// source (re)makes the sample database with about size bytes and dumps it as today's backup.
func (b *bench) source(ctx context.Context, size int64) (int64, error) {
	if err := execSQL(ctx, b.srv.URL, "DROP DATABASE IF EXISTS source WITH (FORCE)"); err != nil {
		return 0, err
	}
	if err := execSQL(ctx, b.srv.URL, "CREATE DATABASE source"); err != nil {
		return 0, err
	}
	src := withDB(b.srv.URL, "source")
	if err := execSQL(ctx, src, benchdata.Schema(int(size/bytesPerRow))); err != nil {
		return 0, fmt.Errorf("generate source: %w", err)
	}
	if err := execSQL(ctx, src, "VACUUM ANALYZE"); err != nil {
		return 0, err
	}
	dir := filepath.Join(b.backups, time.Now().UTC().Format(time.DateOnly))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	if out, err := exec.CommandContext(ctx, "pg_dump", "-Fc", "-d", src, "-f", filepath.Join(dir, "prod.dump")).CombinedOutput(); err != nil {
		return 0, fmt.Errorf("pg_dump: %w: %s", err, out)
	}
	c, err := pgx.Connect(ctx, src)
	if err != nil {
		return 0, err
	}
	defer c.Close(ctx)
	var n int64
	return n, c.QueryRow(ctx, "SELECT pg_database_size(current_database())").Scan(&n)
}

// access times one request: stored approved (from golden copy g, or restored when g is nil)
// until its clone answers a query with its own credentials; the clone is destroyed after,
// untimed.
func (b *bench) access(ctx context.Context, g *approvals.Golden) (time.Duration, error) {
	if err := execSQL(ctx, b.srv.URL, "CHECKPOINT"); err != nil {
		return 0, err
	}
	now := time.Now()
	r := &approvals.Request{ID: approvals.NewID(), Requester: "UBENCH", Source: "prod", Tier: "dev", Masking: approvals.MaskFull,
		Mode: approvals.ModeAuto, TTL: time.Hour, MaxTTL: 2 * time.Hour, Status: approvals.StatusApproved, CreatedAt: now, PendingExpiresAt: now.Add(time.Hour)}
	if g != nil {
		r.Golden, r.Date, r.Backup = g.ID, g.BackupDate, g.Backup
	} else {
		day := now.UTC().Truncate(24 * time.Hour)
		r.Date = day
		r.Backup = approvals.Backup{Kind: string(provisioner.BackupFile), Location: filepath.Join(b.backups, day.Format(time.DateOnly), "prod.dump")}
	}
	start := time.Now()
	if err := b.store.Create(ctx, r, approvals.Limits{}); err != nil {
		return 0, err
	}
	if err := b.life.Approved(ctx, r); err != nil {
		return 0, err
	}
	var took time.Duration
	for {
		got, err := b.store.Get(ctx, r.ID)
		if err != nil {
			return 0, err
		}
		if got.Status == approvals.StatusFailed || got.Status == approvals.StatusDestroyed {
			return 0, fmt.Errorf("request %s ended %s: %s", r.ID, got.Status, got.Failure)
		}
		if got.Status == approvals.StatusReady {
			if err := b.query(ctx, got); err != nil {
				return 0, err
			}
			took = time.Since(start)
			r = got
			break
		}
		if err := pause(ctx, 10*time.Millisecond); err != nil {
			return 0, err
		}
	}
	if err := b.life.DestroyNow(ctx, r, "UBENCH"); err != nil {
		return 0, err
	}
	for {
		got, err := b.store.Get(ctx, r.ID)
		if err != nil || got.Status == approvals.StatusDestroyed {
			return took, err
		}
		if err := pause(ctx, 50*time.Millisecond); err != nil {
			return 0, err
		}
	}
}

// query logs in with the clone's own credentials and counts its users.
func (b *bench) query(ctx context.Context, r *approvals.Request) error {
	creds, err := b.secrets.Resolve(ctx, r.Clone.CredentialRef)
	if err != nil {
		return err
	}
	cc, err := pgx.ParseConfig(fmt.Sprintf("host=%s port=%d user=%s dbname=%s sslmode=disable", creds.Host, creds.Port, creds.Username, creds.DBName))
	if err != nil {
		return err
	}
	cc.Password = creds.Password.Reveal()
	c, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return fmt.Errorf("log in to %s: %w", r.ID, err)
	}
	defer c.Close(ctx)
	var n int64
	if err := c.QueryRow(ctx, "SELECT count(*) FROM users").Scan(&n); err != nil || n == 0 {
		return errors.Join(fmt.Errorf("clone %s answers %d users", r.ID, n), err)
	}
	return nil
}

func pause(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func withDB(u, db string) string {
	p, _ := url.Parse(u)
	p.Path = "/" + db
	return p.String()
}

func execSQL(ctx context.Context, u, sql string) error {
	c, err := pgx.Connect(ctx, u)
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	_, err = c.Exec(ctx, sql)
	return err
}
