package app_test

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/clonebot/clonebot/app"
	"github.com/clonebot/clonebot/approvals"
	"github.com/clonebot/clonebot/internal/clock"
	"github.com/clonebot/clonebot/internal/fakes"
	"github.com/clonebot/clonebot/internal/testenv"
	"github.com/clonebot/clonebot/jobs"
	"github.com/clonebot/clonebot/provisioner"
	"github.com/clonebot/clonebot/provisioner/local"
	"github.com/clonebot/clonebot/redisstore"
)

// localServer is the local backend on a PostgreSQL server of the test's own that checks
// passwords and VALID UNTIL, with a CREATEDB CREATEROLE admin role as in production, and a
// backups folder holding a backup of prod for the last few days.
type localServer struct {
	cfg   local.Config
	super *pgx.Conn
}

func newLocalServer(t *testing.T, ctx context.Context) *localServer {
	t.Helper()
	srv, err := testenv.StartServerWith(ctx, testenv.ServerOptions{PasswordAuth: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	super, err := pgx.Connect(ctx, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { super.Close(context.Background()) })
	for _, stmt := range []string{
		"CREATE ROLE clonebot_admin LOGIN CREATEDB CREATEROLE IN ROLE pg_signal_backend",
		"REVOKE CONNECT ON DATABASE postgres, template1 FROM PUBLIC",
		"GRANT CONNECT ON DATABASE postgres TO clonebot_admin",
	} {
		if _, err := super.Exec(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	admin, err := url.Parse(srv.URL) // over the Unix socket, which the server trusts
	if err != nil {
		t.Fatal(err)
	}
	admin.User = url.User("clonebot_admin")
	dir := t.TempDir()
	for d := -3; d <= 0; d++ {
		day := filepath.Join(dir, "backups", "prod", testenv.Day(testenv.Now(), d).Format(time.DateOnly))
		if err := os.MkdirAll(day, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(day, "prod.dump"), []byte("PGDMP"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return &localServer{super: super, cfg: local.Config{AdminURL: admin.String(), Host: "127.0.0.1", Port: srv.Port,
		SecretsDir: filepath.Join(dir, "secrets"), Backups: filepath.Join(dir, "backups", "{source}", "{date}"),
		Sources: map[string]local.SourceConfig{"prod": {Strategy: provisioner.StrategyRestore}}}}
}

// clones returns the request ids of the clone roles on the server, sorted.
func (s *localServer) clones(t *testing.T, ctx context.Context) []string {
	t.Helper()
	rows, err := s.super.Query(ctx, `SELECT substr(shobj_description(oid, 'pg_authid'), length('clonebot clone of request ') + 1)
		FROM pg_roles WHERE shobj_description(oid, 'pg_authid') LIKE 'clonebot clone of request %' ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// secretFiles counts the credentials files left in the secrets folder.
func (s *localServer) secretFiles(t *testing.T) int {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(s.cfg.SecretsDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	return len(files)
}

// login opens a session with r's credentials, as its requester would.
func (s *localServer) login(ctx context.Context, r *approvals.Request) (*pgx.Conn, error) {
	store, err := local.NewSecretStore(s.cfg.SecretsDir)
	if err != nil {
		return nil, err
	}
	creds, err := store.Resolve(ctx, r.Clone.CredentialRef)
	if err != nil {
		return nil, err
	}
	cc, err := pgx.ParseConfig("host=127.0.0.1 sslmode=disable")
	if err != nil {
		return nil, err
	}
	cc.Port, cc.User, cc.Database, cc.Password = uint16(creds.Port), creds.Username, creds.DBName, creds.Password.Reveal()
	return pgx.ConnectConfig(ctx, cc)
}

// localReplica builds the serve role of one replica on the local backend of s, logging to log.
func (w *world) localReplica(owner string, s *localServer, log *zap.Logger, clock clock.Clock) *app.App {
	w.t.Helper()
	lc := s.cfg
	cfg := w.serveConfig(func(c *app.Config) {
		c.Bot.ChannelInterval, c.Lifecycle.SweepInterval, c.Local = time.Millisecond, time.Hour, &lc
	})
	a, err := app.New(w.ctx, cfg, app.Options{Serve: true, Logger: log.With(zap.String("replica", owner)), Owner: owner, DB: w.db,
		Policy: fakes.Policy(), Rules: fakes.Rules(), Clock: clock})
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(a.Close)
	return a
}

// privateRedis points the world at a Redis of its own, which the test may flush.
func (w *world) privateRedis() *redis.Client {
	w.t.Helper()
	u := testenv.PrivateRedis(w.t)
	db, err := redisstore.Open(w.ctx, u, w.prefix, false)
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { db.Close() })
	w.db = db
	opts, err := redis.ParseURL(u)
	if err != nil {
		w.t.Fatal(err)
	}
	c := redis.NewClient(opts)
	w.t.Cleanup(func() { c.Close() })
	return c
}

// strictAgent plays the restore agents as a real one reads its queue (blocking reads, so a
// flush catches it waiting): every job is restored at once, and any error of the queue fails
// the test.
func (w *world) strictAgent(ctx context.Context) error {
	q := w.db.Queue()
	if err := q.EnsureGroup(ctx); err != nil {
		return err
	}
	for ctx.Err() == nil {
		d, err := q.Next(ctx, "agent-1", time.Hour, 300*time.Millisecond)
		if err != nil && ctx.Err() == nil {
			w.t.Errorf("agent: %v", err)
			continue
		}
		if d == nil {
			continue
		}
		if err := q.Finish(ctx, d, jobs.Event{RequestID: d.Job.RequestID, State: jobs.StateReady, At: time.Now()}); err != nil && ctx.Err() == nil {
			w.t.Errorf("agent: %v", err)
		}
	}
	return nil
}

// observed is a test logger that also keeps every entry for counting.
func observed(t *testing.T) (*zap.Logger, *observer.ObservedLogs) {
	core, logs := observer.New(zapcore.DebugLevel)
	return zap.New(zapcore.NewTee(zaptest.NewLogger(t).Core(), core)), logs
}

// replicasLogged returns the replicas that logged one of msgs.
func replicasLogged(logs *observer.ObservedLogs, msgs ...string) []string {
	var out []string
	for _, e := range logs.All() {
		if slices.Contains(msgs, e.Message) {
			out = append(out, e.ContextMap()["replica"].(string))
		}
	}
	slices.Sort(out)
	return out
}

// TestRedisLosesItsData: two serve replicas and an agent run on the local backend when Redis
// is flushed under them. The next request reaches ready without a restart; the clones of the
// requests Redis forgot are destroyed by one replica's sweep (database, role and credentials
// file), the security channel is told which requests were lost, and the audit outbox records
// their end. Two replicas starting together sweep once.
func TestRedisLosesItsData(t *testing.T) {
	w := newWorld(t, 3)
	w.fake.AddChannel("CSEC", "security")
	rdb := w.privateRedis()
	pg := newLocalServer(t, w.ctx)
	log, logs := observed(t)
	a, b := w.localReplica("bot-a", pg, log, nil), w.localReplica("bot-b", pg, log, nil)
	start(t, w.ctx, a.RunServe)
	start(t, w.ctx, b.RunServe)
	start(t, w.ctx, w.strictAgent)

	// step 1: two replicas starting together: one sweeps, the other finds it done.
	w.until("both replicas tried their first sweep", func() bool {
		return len(replicasLogged(logs, "orphan sweep", "sweep skipped: another replica swept within the interval")) == 2
	})
	if swept := replicasLogged(logs, "orphan sweep"); len(swept) != 1 {
		t.Fatalf("replicas %v swept at start, want one", swept)
	}
	// step 2: two clones, ready.
	old := []string{w.request(a, w.users[0]), w.request(b, w.users[1])}
	slices.Sort(old)
	w.until("the clones are ready", func() bool {
		return w.status(old[0]) == approvals.StatusReady && w.status(old[1]) == approvals.StatusReady
	})
	if got := pg.clones(t, w.ctx); !slices.Equal(got, old) || pg.secretFiles(t) != 2 {
		t.Fatalf("clones on the server %v, want %v with their credentials files", got, old)
	}

	// step 3: Redis loses everything.
	if err := rdb.FlushAll(w.ctx).Err(); err != nil {
		t.Fatal(err)
	}

	// step 4: the clones of the lost requests are destroyed, once, and security is told.
	w.until("the lost requests' clones are destroyed", func() bool {
		return len(pg.clones(t, w.ctx)) == 0 && pg.secretFiles(t) == 0
	})
	var alert string
	w.until("security hears of the sweep", func() bool {
		for _, m := range w.fake.Messages() {
			if m.Channel == "CSEC" && strings.Contains(m.Text, "Orphan sweep destroyed") {
				alert = m.Text
			}
		}
		return alert != ""
	})
	for _, want := range []string{"destroyed 2 clone(s)", "The store had lost 2 of these requests (" + old[0] + ", " + old[1] + ")"} {
		if !strings.Contains(alert, want) {
			t.Errorf("security alert %q lacks %q", alert, want)
		}
	}
	if swept := replicasLogged(logs, "orphan sweep"); len(swept) != 2 {
		t.Errorf("replicas %v swept in all, want one at start and one after the loss", swept)
	}
	if lost := replicasLogged(logs, "Redis lost its data: the requests, leases, notices and streams it held are gone; sweeping the backends for the clones they owned"); len(lost) != 1 {
		t.Errorf("replicas %v reported the loss, want one", lost)
	}
	evs, err := w.db.Store().ReadOutbox(w.ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	var ended []string
	for _, e := range evs {
		if e.Type == "destroyed" {
			ended = append(ended, e.RequestID)
		}
	}
	slices.Sort(ended)
	if !slices.Equal(ended, old) {
		t.Errorf("the audit outbox records the end of %v, want %v", ended, old)
	}

	// step 5: the next request goes through without a restart, and keeps its clone.
	next := w.request(b, w.users[2])
	w.until("the next request is ready and every notice sent", func() bool {
		return w.status(next) == approvals.StatusReady && w.noticesLeft() == 0
	})
	w.checkDelivered(map[string]string{next: w.users[2]})
	if got := pg.clones(t, w.ctx); !slices.Equal(got, []string{next}) {
		t.Fatalf("clones on the server %v, want the new request's alone", got)
	}
}

// TestExpiredSessionsEndWithServeStopped: serve makes a clone and stops; its requester's
// session stays open. At the clone's expiry (an injected clock) the agent role's expiry guard
// ends the session and locks the role out, without serve, and records credentials_revoked
// once; serve, started again, destroys the clone without revoking it twice.
func TestExpiredSessionsEndWithServeStopped(t *testing.T) {
	w := newWorld(t, 1)
	w.privateRedis()
	pg := newLocalServer(t, w.ctx)
	clock := fakes.NewClock(testenv.Now())
	log := zaptest.NewLogger(t)

	// step 1: a ready clone; then serve and the job loop stop.
	a := w.localReplica("bot-a", pg, log, clock)
	stopServe := start(t, w.ctx, a.Lifecycle.Run)
	stopAgent := start(t, w.ctx, w.strictAgent)
	id := w.request(a, w.users[0])
	w.until("the clone is ready", func() bool { return w.status(id) == approvals.StatusReady })
	stopServe()
	stopAgent()
	r, err := w.db.Store().Get(w.ctx, id)
	if err != nil {
		t.Fatal(err)
	}

	// step 2: the requester's session, busy until it is ended.
	session, err := pg.login(w.ctx, r)
	if err != nil {
		t.Fatalf("the requester cannot log in: %v", err)
	}
	t.Cleanup(func() { session.Close(context.Background()) })
	ended := make(chan error, 1)
	go func() {
		_, err := session.Exec(w.ctx, "SELECT pg_sleep(600)")
		ended <- err
	}()

	// step 3: the agent role runs; the clone expires.
	cfg := app.DefaultConfig()
	cfg.Redis.Prefix = w.prefix
	cfg.Agent.MetricsAddr, cfg.Agent.Block = testenv.FreeAddr(t), 200*time.Millisecond // a short poll, so the agent stops soon at the end
	cfg.Lifecycle.Interval = 50 * time.Millisecond
	lc := pg.cfg
	cfg.Local = &lc
	ag, err := app.New(w.ctx, cfg, app.Options{Agent: true, Logger: log.Named("agent"), Owner: "agent-1", DB: w.db, Clock: clock,
		Policy: fakes.Policy(), Rules: fakes.Rules(), MaskKey: provisioner.NewPassword("a masking key of the test")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ag.Close)
	start(t, w.ctx, ag.RunAgent)
	select {
	case err := <-ended:
		t.Fatalf("the session ended before the expiry: %v", err)
	default:
	}
	clock.Set(r.ExpiresAt.Add(time.Second))
	select {
	case err := <-ended:
		if err == nil {
			t.Fatal("the session's query finished: it was not ended")
		}
	case <-w.ctx.Done():
		t.Fatal("the session outlived the expiry with serve stopped")
	}
	if c, err := pg.login(w.ctx, r); err == nil {
		c.Close(w.ctx)
		t.Fatal("the role still logs in after the guard revoked it")
	}
	if st := w.status(id); st != approvals.StatusReady {
		t.Fatalf("the guard moved the request to %s; the destroy is serve's", st)
	}

	// step 4: serve is back and destroys the clone; the revocation is recorded once.
	b := w.localReplica("bot-b", pg, log, clock)
	start(t, w.ctx, b.Lifecycle.Run)
	w.until("the clone is destroyed", func() bool { return w.status(id) == approvals.StatusDestroyed })
	if got := pg.clones(t, w.ctx); len(got) != 0 {
		t.Fatalf("clones left: %v", got)
	}
	evs, err := w.db.Store().ReadOutbox(w.ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	revoked := 0
	for _, e := range evs {
		if e.RequestID == id && e.Type == "credentials_revoked" {
			revoked++
			if !e.At.Equal(r.ExpiresAt.Add(time.Second)) || e.Data["sessions_ended"] != "1" {
				t.Errorf("credentials_revoked at %s with %v; want at the guard's pass, one session ended", e.At, e.Data)
			}
		}
	}
	if revoked != 1 {
		t.Fatalf("credentials_revoked recorded %d times, want once", revoked)
	}
}
