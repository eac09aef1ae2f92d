// Command lifecycle benchmarks the two things the lifecycle must do at scale:
//
//  1. revocation: 200 clones on a real PostgreSQL (the local backend, password authentication,
//     VALID UNTIL), each with one session opened by its user before expiry, all expiring within
//     the same minute; for each clone it measures expiry → new logins refused and its open
//     session ended, with the lifecycle running as `serve` runs it (real clock, its own loop);
//
//  2. the same with serve stopped before the expiries: only the expiry guard the agents run
//     (lifecycle.ExpiryGuard, as `clonebot agent` runs it) ends the sessions;
//
//  3. the expiry pass's cost: the time of one reconcile pass with 10,000 ready clones waiting
//     for their expiry against 100, same run.
//
//     BENCH_CLONES=200 BENCH_ACTIVE=10000 go run ./bench/lifecycle
//
// Redis is CLONEBOT_REDIS_URL (default redis://127.0.0.1:6379/0, keys under a prefix of their
// own, deleted at the end). The line before the last gives the expiry guard's figures; the last
// line is: bench-lifecycle revocation_p50_ms=A revocation_p99_ms=B tick_10k_vs_100=R
package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"

	"github.com/clonebot/clonebot/approvals"
	"github.com/clonebot/clonebot/internal/fakes"
	"github.com/clonebot/clonebot/internal/testenv"
	"github.com/clonebot/clonebot/jobs"
	"github.com/clonebot/clonebot/lifecycle"
	"github.com/clonebot/clonebot/provisioner"
	"github.com/clonebot/clonebot/provisioner/local"
	"github.com/clonebot/clonebot/redisstore"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "bench-lifecycle:", err)
		os.Exit(1)
	}
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

func run(ctx context.Context) error {
	clones, active := envInt("BENCH_CLONES", 200), envInt("BENCH_ACTIVE", 10000)
	redisURL := os.Getenv("CLONEBOT_REDIS_URL")
	if redisURL == "" {
		redisURL = "redis://127.0.0.1:6379/0"
	}
	p50, p99, err := revocation(ctx, redisURL, clones, false)
	if err != nil {
		return fmt.Errorf("revocation: %w", err)
	}
	g50, g99, err := revocation(ctx, redisURL, clones, true)
	if err != nil {
		return fmt.Errorf("revocation with serve stopped: %w", err)
	}
	small, err := passCost(ctx, redisURL, 100)
	if err != nil {
		return fmt.Errorf("pass with 100: %w", err)
	}
	large, err := passCost(ctx, redisURL, active)
	if err != nil {
		return fmt.Errorf("pass with %d: %w", active, err)
	}
	fmt.Printf("pass: %s with 100 ready clones, %s with %d\n", small, large, active)
	fmt.Printf("expiry guard with serve stopped: guard_p50_ms=%d guard_p99_ms=%d\n", g50.Milliseconds(), g99.Milliseconds())
	fmt.Printf("bench-lifecycle revocation_p50_ms=%d revocation_p99_ms=%d tick_10k_vs_100=%.2f\n",
		p50.Milliseconds(), p99.Milliseconds(), float64(large)/float64(small))
	return nil
}

// openDB opens the Redis under a prefix of this run, deleted when done is called.
func openDB(ctx context.Context, redisURL string) (*redisstore.DB, func(), error) {
	db, err := redisstore.Open(ctx, redisURL, testenv.UniqueName("bench-lifecycle-")+":", false)
	if err != nil {
		return nil, nil, err
	}
	return db, func() { _ = db.Purge(context.WithoutCancel(ctx)); db.Close() }, nil
}

// revocation runs n clones to their expiry and returns the p50 and p99 of expiry → logins
// refused and open session ended; with serveStopped, the lifecycle stops before the expiries
// and an expiry guard runs instead.
func revocation(ctx context.Context, redisURL string, n int, serveStopped bool) (p50, p99 time.Duration, err error) {
	// step 1: a server that checks passwords and VALID UNTIL, and room for n sessions.
	srv, err := testenv.StartServerWith(ctx, testenv.ServerOptions{PasswordAuth: true,
		Settings: []string{"max_connections=" + strconv.Itoa(n+60)}})
	if err != nil {
		return 0, 0, err
	}
	defer srv.Stop()
	super, err := pgx.Connect(ctx, srv.URL)
	if err != nil {
		return 0, 0, err
	}
	if _, err := super.Exec(ctx, "CREATE ROLE clonebot_admin LOGIN CREATEDB CREATEROLE IN ROLE pg_signal_backend"); err != nil {
		return 0, 0, err
	}
	super.Close(ctx)
	admin, _ := url.Parse(srv.URL)
	admin.User = url.User("clonebot_admin")
	dir, err := os.MkdirTemp("", "bench-lifecycle-")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(dir)
	cfg := local.Config{AdminURL: admin.String(), Host: "127.0.0.1", Port: srv.Port, SecretsDir: filepath.Join(dir, "secrets"),
		Backups: filepath.Join(dir, "{source}", "{date}"), Sources: map[string]local.SourceConfig{"prod": {Strategy: provisioner.StrategyRestore}}}
	log := zap.NewNop()
	prov, err := local.New(cfg, log)
	if err != nil {
		return 0, 0, err
	}

	// step 2: the store and the lifecycle as serve runs them.
	db, done, err := openDB(ctx, redisURL)
	if err != nil {
		return 0, 0, err
	}
	defer done()
	store := db.Store()
	m, err := lifecycle.New(lifecycle.DefaultConfig("bench"), lifecycle.Deps{Store: store, Policy: &approvals.Policy{},
		Backends: provisioner.Backends{"prod": {Provisioner: prov, Strategy: provisioner.StrategyRestore}},
		Queue:    db.Queue(), Events: db.Events(), Logger: log})
	if err != nil {
		return 0, 0, err
	}
	runCtx, stopRun := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stopRun(); wg.Wait() }()
	wg.Add(2)
	go func() { defer wg.Done(); _ = m.Run(runCtx) }()
	go func() { defer wg.Done(); agent(runCtx, db.Queue()) }()

	// step 3: n clones made and ready.
	fmt.Printf("making %d clones on PostgreSQL (127.0.0.1:%d)...\n", n, srv.Port)
	now := time.Now()
	ids := make([]string, n)
	for i := range ids {
		r := &approvals.Request{ID: approvals.NewID(), Requester: "U" + strconv.Itoa(i), Source: "prod", Tier: "dev", Date: now,
			Masking: approvals.MaskFull, Mode: approvals.ModeAuto, TTL: time.Hour, MaxTTL: 24 * time.Hour, Status: approvals.StatusApproved,
			CreatedAt: now, Backup: approvals.Backup{Kind: string(provisioner.BackupFile), Location: "/dev/null"}}
		if err := store.Create(ctx, r, approvals.Limits{}); err != nil {
			return 0, 0, err
		}
		ids[i] = r.ID
	}
	_ = m.Approved(ctx, &approvals.Request{ID: ids[0]}) // wake the loop now rather than at its interval
	if err := until(ctx, 10*time.Minute, func() (bool, error) { return allIn(ctx, store, ids, approvals.StatusReady) }); err != nil {
		return 0, 0, fmt.Errorf("clones not ready: %w", err)
	}

	// step 4: every clone expires within the same minute, starting 20 s from now; the lifecycle
	// tells each backend its new expiry (VALID UNTIL).
	start := time.Now().Add(20 * time.Second).Truncate(time.Second)
	expiry := map[string]time.Time{}
	for i, id := range ids {
		at := start.Add(time.Duration(i) * time.Minute / time.Duration(n))
		if _, err := store.Extend(ctx, id, "bench", at, time.Now()); err != nil {
			return 0, 0, err
		}
		expiry[id] = at
	}
	if serveStopped {
		// step 4b: once every backend has its new VALID UNTIL, serve stops; the guard runs.
		if err := until(ctx, time.Minute, func() (bool, error) {
			working, err := store.ListWorking(ctx)
			return len(working) == 0, err
		}); err != nil {
			return 0, 0, fmt.Errorf("expiries not told: %w", err)
		}
		stopRun()
		wg.Wait()
		g, err := lifecycle.NewExpiryGuard(lifecycle.GuardConfig{Owner: "bench-agent", Interval: 5 * time.Second, LeaseTTL: 30 * time.Second},
			store, provisioner.Backends{"prod": {Provisioner: prov, Strategy: provisioner.StrategyRestore}}, log, nil)
		if err != nil {
			return 0, 0, err
		}
		guardCtx, stopGuard := context.WithCancel(ctx)
		defer stopGuard()
		wg.Add(1)
		go func() { defer wg.Done(); _ = g.Run(guardCtx) }()
		fmt.Println("serve stopped; the expiry guard alone runs")
	}

	// step 5: one session per clone, opened with the clone's own credentials before expiry,
	// blocked in pg_sleep: it returns the moment the session is ended.
	sessions := make([]*pgx.Conn, 0, n)
	defer func() {
		for _, c := range sessions {
			c.Close(context.WithoutCancel(ctx))
		}
	}()
	var mu sync.Mutex
	ended := map[string]time.Time{}
	var sleeping sync.WaitGroup
	for _, id := range ids {
		r, err := store.Get(ctx, id)
		if err != nil {
			return 0, 0, err
		}
		creds, err := prov.SecretStore().Resolve(ctx, r.Clone.CredentialRef)
		if err != nil {
			return 0, 0, err
		}
		c, err := connect(ctx, creds)
		if err != nil {
			return 0, 0, fmt.Errorf("session of %s: %w", id, err)
		}
		sessions = append(sessions, c)
		sleeping.Add(1)
		go func() {
			defer sleeping.Done()
			_, err := c.Exec(ctx, "SELECT pg_sleep(600)")
			mu.Lock()
			ended[id] = time.Now()
			mu.Unlock()
			if err == nil {
				fmt.Fprintf(os.Stderr, "session of %s outlived its sleep\n", id)
			}
		}()
		if time.Now().After(start) {
			return 0, 0, errors.New("opening the sessions took past the first expiry: lower BENCH_CLONES")
		}
	}
	fmt.Printf("%d sessions open; expiries from %s to %s\n", n, start.Format(time.TimeOnly), start.Add(time.Minute).Format(time.TimeOnly))
	waited := make(chan struct{})
	go func() { sleeping.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(3 * time.Minute):
		return 0, 0, errors.New("sessions still open three minutes after the expiries")
	}

	// step 6: each latency is the later of the session's end and the first refused login
	// after it (VALID UNTIL refuses logins from the expiry on; the revoke also takes LOGIN away).
	var lat []time.Duration
	for _, id := range ids {
		r, err := store.Get(ctx, id)
		if err != nil {
			return 0, 0, err
		}
		creds, err := prov.SecretStore().Resolve(ctx, r.Clone.CredentialRef)
		if err == nil {
			if c, err := connect(ctx, creds); err == nil {
				c.Close(ctx)
				return 0, 0, fmt.Errorf("clone %s still takes logins after its expiry", id)
			}
		}
		lat = append(lat, ended[id].Sub(expiry[id]))
	}
	slices.Sort(lat)
	rank := func(p int) time.Duration { return lat[max(0, (p*len(lat)+99)/100-1)] }
	who := "serve running"
	if serveStopped {
		who = "serve stopped, the expiry guard alone"
		if ok, err := allIn(ctx, store, ids, approvals.StatusReady); err != nil || !ok {
			return 0, 0, fmt.Errorf("with serve stopped the requests moved on (%v): something else ran", err)
		}
	}
	fmt.Printf("revocation latency over %d clones (%s): min %s, p50 %s, p99 %s, max %s\n", n, who, lat[0], rank(50), rank(99), lat[len(lat)-1])
	return rank(50), rank(99), nil
}

// agent plays the restore agents: every job is done at once.
func agent(ctx context.Context, q *redisstore.Queue) {
	for ctx.Err() == nil {
		d, err := q.Next(ctx, "bench-agent", time.Hour, 100*time.Millisecond)
		if err != nil || d == nil {
			continue
		}
		_ = q.Finish(ctx, d, jobs.Event{RequestID: d.Job.RequestID, State: jobs.StateReady, At: time.Now()})
	}
}

func allIn(ctx context.Context, store *redisstore.Store, ids []string, want approvals.Status) (bool, error) {
	for _, id := range ids {
		r, err := store.Get(ctx, id)
		if err != nil {
			return false, err
		}
		if r.Status == approvals.StatusFailed {
			return false, fmt.Errorf("%s failed: %s", id, r.Failure)
		}
		if r.Status != want {
			return false, nil
		}
	}
	return true, nil
}

// until polls cond every 200 ms for at most limit.
func until(ctx context.Context, limit time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		ok, err := cond()
		if err != nil || ok {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("not within %s", limit)
}

// passCost stores n ready clones that expire in a day, their backends told, and returns the
// median time of a reconcile pass over them.
func passCost(ctx context.Context, redisURL string, n int) (time.Duration, error) {
	db, done, err := openDB(ctx, redisURL)
	if err != nil {
		return 0, err
	}
	defer done()
	now := time.Now()
	clock := fakes.NewClock(now)
	store := db.Store(redisstore.WithClock(clock.Now))
	prov := &fakes.Provisioner{
		CreateFunc: func(context.Context, provisioner.Spec, provisioner.ProgressFunc) (provisioner.Clone, error) {
			return provisioner.Clone{}, nil
		},
		DestroyFunc: func(context.Context, string) error { return nil },
		ExtendFunc:  func(context.Context, string, time.Time) error { return nil },
	}
	m, err := lifecycle.New(lifecycle.DefaultConfig("bench"), lifecycle.Deps{Store: store, Policy: &approvals.Policy{},
		Backends: provisioner.Backends{"prod": {Provisioner: prov, Strategy: provisioner.StrategyRestore}},
		Queue:    db.Queue(), Events: db.Events(), Logger: zap.NewNop(), Now: clock.Now})
	if err != nil {
		return 0, err
	}
	fmt.Printf("storing %d ready clones...\n", n)
	for i := range n {
		r := &approvals.Request{ID: approvals.NewID(), Requester: "U" + strconv.Itoa(i%500), Source: "prod", Tier: "dev", Date: now,
			Masking: approvals.MaskFull, Mode: approvals.ModeAuto, TTL: 24 * time.Hour, MaxTTL: 48 * time.Hour, Status: approvals.StatusApproved,
			CreatedAt: now, Backup: approvals.Backup{Kind: string(provisioner.BackupFile), Location: "/dev/null"}}
		if err := store.Create(ctx, r, approvals.Limits{}); err != nil {
			return 0, err
		}
		for _, to := range []approvals.Status{approvals.StatusProvisioning, approvals.StatusRestoring, approvals.StatusReady} {
			if _, err := store.Transition(ctx, approvals.TransitionInput{RequestID: r.ID, To: to, By: "bench", At: now,
				Clone: &approvals.CloneInfo{CredentialRef: "file:///dev/null"}}); err != nil {
				return 0, err
			}
		}
	}
	if err := m.Tick(ctx); err != nil { // the backends are told the expiries once
		return 0, err
	}
	var ds []time.Duration
	for range 21 {
		t0 := time.Now()
		if err := m.Tick(ctx); err != nil {
			return 0, err
		}
		ds = append(ds, time.Since(t0))
	}
	slices.Sort(ds)
	return ds[len(ds)/2], nil
}

// connect logs in as a clone's user, as a developer would.
func connect(ctx context.Context, c provisioner.Credentials) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(fmt.Sprintf("host=%s port=%d dbname=%s user=%s sslmode=disable", c.Host, c.Port, c.DBName, c.Username))
	if err != nil {
		return nil, err
	}
	cfg.Password = c.Password.Reveal()
	return pgx.ConnectConfig(ctx, cfg)
}
