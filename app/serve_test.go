package app_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/slack-go/slack"
	"go.uber.org/zap/zaptest"

	"github.com/clonebot/clonebot/app"
	"github.com/clonebot/clonebot/approvals"
	"github.com/clonebot/clonebot/audit"
	"github.com/clonebot/clonebot/audit/pgstore"
	"github.com/clonebot/clonebot/bot/slackfake"
	"github.com/clonebot/clonebot/handlers"
	"github.com/clonebot/clonebot/internal/fakes"
	"github.com/clonebot/clonebot/internal/testenv"
	"github.com/clonebot/clonebot/jobs"
	"github.com/clonebot/clonebot/provisioner"
	"github.com/clonebot/clonebot/redisstore"
)

func TestMain(m *testing.M) { testenv.Main(m, checkAPILeaks) }

// world is a Slack workspace of n developers (U000…) on the offline Slack, a Redis key
// prefix, and backends whose clones are made at once: what several serve replicas share.
type world struct {
	t      *testing.T
	ctx    context.Context
	fake   *slackfake.Server
	db     *redisstore.DB
	rdb    redis.UniversalClient // db's client
	prefix string
	users  []string

	mu      sync.Mutex
	creates map[string]int // Create calls per request

	options func(*app.Options) // if set, edits the options of every replica
}

func newWorld(t *testing.T, developers int) *world {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	w := &world{t: t, ctx: ctx, fake: slackfake.New(), creates: map[string]int{}}
	t.Cleanup(w.fake.Close)
	for i := range developers {
		id := fmt.Sprintf("U%03d", i)
		w.users = append(w.users, id)
		w.fake.AddUser(slack.User{ID: id, Name: strings.ToLower(id)})
	}
	w.fake.AddUserGroup("S1", "developers", w.users...)
	w.fake.AddChannel("CREQ", "clone-requests")
	rdb, prefix := testenv.Redis(t)
	w.db, w.rdb, w.prefix = redisstore.NewDB(rdb, prefix), rdb, prefix
	return w
}

// TestOneRequestOnRedisCluster takes a request from the use case to a ready clone with its
// card and ready message sent, on a real Redis Cluster of three masters, opened as serve opens
// it (redis.cluster: true and the nodes in the URL).
func TestOneRequestOnRedisCluster(t *testing.T) {
	w := newWorld(t, 1)
	addrs := testenv.RedisClusterAddrs(t)
	url := "redis://" + addrs[0] + "?addr=" + strings.Join(addrs[1:], "&addr=")
	w.prefix = testenv.UniqueName("c") + ":"
	db, err := redisstore.Open(w.ctx, url, w.prefix, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Purge(context.Background()); db.Close() })
	w.db = db
	if _, err := redisstore.Open(w.ctx, "redis://"+addrs[0]+"/3", w.prefix, true); err == nil {
		t.Fatal("a cluster URL naming database 3 was accepted")
	}
	a := w.replica("bot-1")
	start(t, w.ctx, a.Lifecycle.Run)
	start(t, w.ctx, a.Notifier.Run)
	start(t, w.ctx, w.agent)
	id := w.request(a, w.users[0])
	w.until("the request is ready and every notice sent", func() bool {
		return w.status(id) == approvals.StatusReady && w.noticesLeft() == 0
	})
	w.checkDelivered(map[string]string{id: w.users[0]})
}

// serveConfig is the config of a serve replica in this world: the offline Slack in HTTP mode,
// free ports, a fast loop.
func (w *world) serveConfig(edit ...func(*app.Config)) *app.Config {
	cfg := app.DefaultConfig()
	cfg.Redis.Prefix = w.prefix
	cfg.Slack.APIURL, cfg.Slack.BotToken = w.fake.APIURL(), "xoxb-test"
	cfg.Slack.Mode, cfg.Slack.SigningSecret = "http", "test-signing-secret"
	cfg.Slack.ListenAddr, cfg.MetricsAddr = testenv.FreeAddr(w.t), testenv.FreeAddr(w.t)
	cfg.Lifecycle.Interval = 50 * time.Millisecond
	for _, e := range edit {
		e(cfg)
	}
	return cfg
}

// replica builds the serve role of one replica, named owner.
func (w *world) replica(owner string, edit ...func(*app.Config)) *app.App {
	w.t.Helper()
	cfg := w.serveConfig(edit...)
	var days []time.Time
	for d := -3; d <= 0; d++ {
		days = append(days, testenv.Day(testenv.Now(), d))
	}
	prov := &fakes.Provisioner{
		CreateFunc: func(_ context.Context, spec provisioner.Spec, _ provisioner.ProgressFunc) (provisioner.Clone, error) {
			w.mu.Lock()
			w.creates[spec.RequestID]++
			w.mu.Unlock()
			return provisioner.Clone{RequestID: spec.RequestID, Host: "db.internal", Port: 5432, Database: "prod",
				User: "clone", CredentialRef: "arn:aws:secretsmanager:eu-west-1:1:secret:clonebot/" + spec.RequestID}, nil
		},
		DestroyFunc: func(context.Context, string) error { return nil },
		ExtendFunc:  func(context.Context, string, time.Time) error { return nil },
	}
	o := app.Options{Serve: true, Logger: zaptest.NewLogger(w.t), Owner: owner, DB: w.db,
		Policy: fakes.Policy(), Rules: fakes.Rules(), Backends: provisioner.Backends{"prod": {Provisioner: prov, Catalogue: fakes.Daily("prod", 1<<20, days...),
			Strategy: provisioner.StrategyRestore}}}
	if w.options != nil {
		w.options(&o)
	}
	a, err := app.New(w.ctx, cfg, o)
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(a.Close)
	return a
}

// start runs f in the background until the returned stop is called (or the test ends).
func start(t *testing.T, ctx context.Context, f func(context.Context) error) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- f(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("stopped with %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// agent plays the restore agents: every job is restored at once.
func (w *world) agent(ctx context.Context) error {
	q := w.db.Queue()
	for ctx.Err() == nil {
		d, err := q.Next(ctx, "agent-1", time.Hour, 50*time.Millisecond)
		if err != nil || d == nil {
			continue
		}
		if err := q.Finish(ctx, d, jobs.Event{RequestID: d.Job.RequestID, State: jobs.StateReady, At: time.Now()}); err != nil && ctx.Err() == nil {
			return err
		}
	}
	return nil
}

// request asks for a dev clone of prod (automatic approval) as user, through the use case the
// slash command calls.
func (w *world) request(a *app.App, user string) string {
	w.t.Helper()
	rep, err := a.Service.RequestClone(w.ctx, handlers.Actor{User: user, Channel: "CREQ"}, handlers.CloneInput{Source: "prod", When: handlers.When{Latest: true}})
	if err != nil {
		w.t.Fatalf("request by %s: %v", user, err)
	}
	id, _, _ := strings.Cut(rep.Text, " ")
	if !approvals.ValidID(id) {
		w.t.Fatalf("reply %q names no request", rep.Text)
	}
	return id
}

// until polls cond (bounded) until it holds.
func (w *world) until(what string, cond func() bool) {
	w.t.Helper()
	for range 6000 {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond) // waits for the replicas' own loops; the assertions are on state
	}
	w.t.Fatalf("timed out waiting until %s", what)
}

func (w *world) status(id string) approvals.Status {
	r, err := w.db.Store().Get(w.ctx, id)
	if err != nil {
		w.t.Fatal(err)
	}
	return r.Status
}

func (w *world) noticesLeft() int {
	due, err := w.db.Store().NoticesDue(w.ctx, 1000)
	if err != nil {
		w.t.Fatal(err)
	}
	return len(due)
}

// cards returns the request cards posted in CREQ (top-level messages), by request id.
func (w *world) cards() map[string][]slackfake.Message {
	out := map[string][]slackfake.Message{}
	for _, m := range w.fake.Messages() {
		if m.Channel == "CREQ" && m.ThreadTS == "" && strings.HasPrefix(m.Text, "Clone request ") {
			id := strings.Fields(m.Text)[2]
			out[id] = append(out[id], m)
		}
	}
	return out
}

// writes counts the Slack writes answered so far.
func (w *world) writes() int {
	return len(w.fake.CallsTo("chat.postMessage")) + len(w.fake.CallsTo("chat.update")) + len(w.fake.CallsTo("views.publish"))
}

// checkDelivered checks that every request's card is there once and shows it ready, and that
// its thread and its requester have the ready message.
func (w *world) checkDelivered(ids map[string]string) {
	w.t.Helper()
	cards := w.cards()
	for id, user := range ids {
		cs := cards[id]
		if len(cs) != 1 {
			w.t.Errorf("%s has %d cards, want 1", id, len(cs))
			continue
		}
		if !strings.Contains(string(cs[0].Blocks), "ready") {
			w.t.Errorf("%s's card does not show it ready: %s", id, cs[0].Blocks)
		}
		var inThread, dm bool
		for _, m := range w.fake.Messages() {
			inThread = inThread || m.ThreadTS == cs[0].TS && strings.Contains(m.Text, id+" is ready")
			dm = dm || m.Channel == user && strings.Contains(m.Text, id+" is ready")
		}
		if !inThread || !dm {
			w.t.Errorf("%s: ready message in the thread %v, to %s %v", id, inThread, user, dm)
		}
	}
}

// TestStateChangesNeverWaitForSlack: with a Slack that takes a second to answer every write,
// 20 requests in one channel are all ready as soon as their restores are done, long before
// Slack has been told; then everything is delivered, each card once and as the request now is.
func TestStateChangesNeverWaitForSlack(t *testing.T) {
	w := newWorld(t, 10)
	w.fake.SlowWrites(time.Second)
	a := w.replica("bot-1", func(c *app.Config) { c.Bot.ChannelInterval = 50 * time.Millisecond })
	start(t, w.ctx, a.Lifecycle.Run)
	start(t, w.ctx, a.Notifier.Run)
	start(t, w.ctx, w.agent)

	ids := map[string]string{}
	for i := range 20 {
		user := w.users[i%10] // the dev tier allows two active clones per person
		ids[w.request(a, user)] = user
	}
	w.until("every request is ready", func() bool {
		for id := range ids {
			if w.status(id) != approvals.StatusReady {
				return false
			}
		}
		return true
	})
	atReady := w.writes()
	w.until("every notice is sent", func() bool { return w.noticesLeft() == 0 })
	total := w.writes()
	t.Logf("Slack writes answered when all 20 were ready: %d of %d", atReady, total)
	if atReady*2 >= total {
		t.Errorf("%d of %d Slack writes were done before the requests were ready: the lifecycle waited for Slack", atReady, total)
	}
	w.checkDelivered(ids)
}

// TestServeStoppedAndRestartedDeliversWhatWasPending: serve stops (SIGTERM cancels its
// context) while Slack is slow and most of what it must say is unsent; another serve started
// on the same Redis sends the rest, and nothing twice.
func TestServeStoppedAndRestartedDeliversWhatWasPending(t *testing.T) {
	w := newWorld(t, 3)
	w.fake.SlowWrites(300 * time.Millisecond)
	first := w.replica("bot-1")
	stopFirst := start(t, w.ctx, first.RunServe)
	start(t, w.ctx, w.agent)
	ids := map[string]string{}
	for _, u := range w.users {
		ids[w.request(first, u)] = u
	}
	w.until("the first card is posted", func() bool { return len(w.cards()) > 0 })
	stopFirst()
	sent := w.writes()
	if w.noticesLeft() == 0 {
		t.Fatal("everything was sent before the stop: the test proves nothing")
	}
	second := w.replica("bot-2")
	start(t, w.ctx, second.RunServe)
	w.until("every request is ready and every notice sent", func() bool {
		for id := range ids {
			if w.status(id) != approvals.StatusReady {
				return false
			}
		}
		return w.noticesLeft() == 0
	})
	t.Logf("Slack writes by the stopped replica: %d; in all: %d", sent, w.writes())
	w.checkDelivered(ids)
}

// TestOneCardPerRequestWithTwoReplicas: 200 automatically approved requests, made while two
// replicas' lifecycles and notifiers run, get exactly one card each. (Before the notices, a
// lifecycle pass that found an approved request without a card posted one itself, racing the
// use case that was posting it.)
func TestOneCardPerRequestWithTwoReplicas(t *testing.T) {
	w := newWorld(t, 100)
	fast := func(c *app.Config) { c.Bot.ChannelInterval = time.Millisecond } // Slack's own pacing would make this test take ten minutes
	a, b := w.replica("bot-a", fast), w.replica("bot-b", fast)
	for _, r := range []*app.App{a, b} {
		start(t, w.ctx, r.Lifecycle.Run)
		start(t, w.ctx, r.Notifier.Run)
	}
	start(t, w.ctx, w.agent)
	ids := map[string]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, user := range w.users {
		wg.Add(1)
		go func() { // requests arrive on both replicas at once
			defer wg.Done()
			replica := []*app.App{a, b}[i%2]
			for range 2 {
				id := w.request(replica, user)
				mu.Lock()
				ids[id] = user
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	w.until("every request is ready and every notice sent", func() bool {
		for id := range ids {
			if w.status(id) != approvals.StatusReady {
				return false
			}
		}
		return w.noticesLeft() == 0
	})
	if len(ids) != 200 {
		t.Fatalf("%d requests made, want 200", len(ids))
	}
	w.checkDelivered(ids)
	w.mu.Lock()
	defer w.mu.Unlock()
	for id := range ids {
		if n := w.creates[id]; n != 1 {
			t.Errorf("%s: Create called %d times", id, n)
		}
	}
}

// TestServeKeepsTheAuditLog: a serve replica with audit.url moves every change of a request
// into the hash-chained audit log, /readyz says how the log is doing, and /clone report is
// computed from it.
func TestServeKeepsTheAuditLog(t *testing.T) {
	w := newWorld(t, 1)
	url := testenv.Postgres(t)
	a := w.replica("bot-1", func(c *app.Config) { c.Audit.URL = url })
	start(t, w.ctx, a.RunServe)
	start(t, w.ctx, w.agent)
	id := w.request(a, w.users[0])
	w.until("the request is ready and every notice sent", func() bool {
		return w.status(id) == approvals.StatusReady && w.noticesLeft() == 0
	})
	log, err := pgstore.Open(w.ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(log.Close)
	var actions []string
	w.until("the audit log has the request's changes", func() bool {
		actions = nil
		if err := log.Scan(w.ctx, func(r audit.Record) error {
			if r.Event.RequestID == id {
				actions = append(actions, r.Event.Action)
				if r.Event.Tier != "dev" || r.Event.Source != "prod" || r.Event.Channel != "CREQ" {
					t.Errorf("%s filed under tier %q, source %q, channel %q", r.Event.Action, r.Event.Tier, r.Event.Source, r.Event.Channel)
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return slices.Contains(actions, "ready")
	})
	for _, want := range []string{"requested", "approved", "provisioning", "restoring", "ready"} {
		if !slices.Contains(actions, want) {
			t.Errorf("the audit log lacks %q: %v", want, actions)
		}
	}
	if v, err := audit.Verify(w.ctx, log); err != nil || v.Head.Seq == 0 {
		t.Fatalf("verify: %+v, %v", v, err)
	}
	body := get(t, "http://"+a.Config.MetricsAddr+"/readyz")
	if !strings.Contains(body, "ok") || !strings.Contains(body, "audit: ") {
		t.Fatalf("/readyz: %q, want ok and the audit log's state", body)
	}
	metrics := get(t, "http://"+a.Config.MetricsAddr+"/metrics")
	for _, want := range []string{`clonebot_requests_total{result="auto_approved",tier="dev"} 1`, `clonebot_clones_total{outcome="ready",tier="dev"} 1`,
		`clonebot_time_to_ready_seconds_count{tier="dev"} 1`, `clonebot_active_clones{status="ready",tier="dev"} 1`,
		"clonebot_audit_backlog_events", "clonebot_audit_anchor_age_seconds"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	rep, err := a.Service.Report(w.ctx, handlers.Actor{User: w.users[0]}, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(rep.Lines, "\n")
	if !strings.Contains(text, "your own requests") || !strings.Contains(text, "Time to access (request → ready): ") ||
		!strings.Contains(text, "Clones by tier: dev 1") {
		t.Fatalf("report:\n%s", text)
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestProgressLineAfterATakeover follows a restore whose agent loses its job to another agent
// (attempt 2 of 3) and goes on reporting, through two replicas' lifecycles and notifiers on
// real Redis into the offline Slack: once the second attempt reports, the progress line says
// which attempt it is on, never shows the first attempt's counts again, and never goes back
// to an earlier report of its attempt (issue 13).
func TestProgressLineAfterATakeover(t *testing.T) {
	w := newWorld(t, 1)
	for _, owner := range []string{"bot-1", "bot-2"} {
		a := w.replica(owner)
		start(t, w.ctx, a.Lifecycle.Run)
		start(t, w.ctx, a.Notifier.Run)
	}
	id := w.request(w.replica("bot-3"), w.users[0])
	w.until("the restore is queued", func() bool { return w.status(id) == approvals.StatusRestoring })
	q := w.db.Queue()
	take := func(agent string, minIdle time.Duration) *jobs.Delivery {
		var d *jobs.Delivery
		w.until(agent+" takes the job", func() bool {
			var err error
			d, err = q.Next(w.ctx, agent, minIdle, 10*time.Millisecond)
			return err == nil && d != nil
		})
		return d
	}
	base := testenv.Now()
	report := func(d *jobs.Delivery, sec int, rows int64) {
		t.Helper()
		if err := q.Publish(w.ctx, jobs.Event{RequestID: id, State: jobs.StateRunning, Phase: jobs.PhaseData, Table: "public.users",
			Rows: rows, Bytes: rows * 100, Attempt: d.Job.Attempt, MaxAttempts: 3, At: base.Add(time.Duration(sec) * time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	// settled: every report handled by a replica and every notice sent.
	settled := func() bool {
		groups, err := w.rdb.XInfoGroups(w.ctx, q.EventsKey()).Result()
		if err != nil || len(groups) != 1 {
			return false
		}
		return groups[0].Lag == 0 && groups[0].Pending == 0 && w.noticesLeft() == 0
	}
	line := func() string { // what the progress line says now
		texts := progressTexts(w, id)
		if len(texts) == 0 {
			return ""
		}
		return texts[len(texts)-1]
	}

	// step 1: agent A's first attempt reports twice.
	a := take("agent-a", time.Hour)
	report(a, 1, 1000)
	report(a, 2, 2000)
	w.until("attempt 1's second report is shown", func() bool { return settled() && strings.Contains(line(), "2000 rows") })

	// step 2: A stalls; B takes the job over (Redis counts the second delivery) and reports.
	b := take("agent-b", 0)
	if a.Job.Attempt != 1 || b.Job.Attempt != 2 {
		t.Fatalf("attempts %d and %d, want 1 and 2", a.Job.Attempt, b.Job.Attempt)
	}
	report(b, 3, 300)
	report(b, 5, 500)
	w.until("attempt 2's report is shown", func() bool { return settled() && strings.Contains(line(), "500 rows") })

	// step 3: A wakes up and reports on, and a report of B's is handled late; then B's next.
	report(a, 6, 6000)
	report(b, 4, 400)
	w.until("the late reports are handled", settled)
	if got := line(); !strings.Contains(got, "500 rows") {
		t.Errorf("after the lost attempt and a late report, the line says %q, want attempt 2's 500 rows", got)
	}
	report(b, 7, 700)
	w.until("attempt 2's next report is shown", func() bool { return settled() && strings.Contains(line(), "700 rows") })

	// What the line said, in order: attempt 1 at first, then only attempt 2, its counts growing.
	texts := progressTexts(w, id)
	rows := regexp.MustCompile(`data, (\d+) rows`)
	last, second := int64(-1), false
	for _, text := range texts {
		m := rows.FindStringSubmatch(text)
		if m == nil {
			continue // the line before any report ("waiting for a restore agent")
		}
		n, _ := strconv.ParseInt(m[1], 10, 64)
		isSecond := strings.Contains(text, "restoring (attempt 2 of 3, started over): data")
		switch {
		case second && !isSecond:
			t.Errorf("after attempt 2 the line showed %q", text)
		case isSecond && !second:
			second, last = true, -1 // attempt 2 starts over from an empty clone
		}
		if n < last {
			t.Errorf("the line went back from %d rows to %q", last, text)
		}
		last = n
	}
	if !second {
		t.Errorf("the line never said attempt 2: %q", texts)
	}
}

// progressTexts returns what request id's progress line said, write by write.
func progressTexts(w *world, id string) []string {
	var out []string
	for _, c := range w.fake.Calls() {
		if c.Method != "chat.postMessage" && c.Method != "chat.update" {
			continue
		}
		if text := c.Param("text"); strings.HasPrefix(text, ":gear: "+id+": ") {
			out = append(out, strings.TrimPrefix(text, ":gear: "+id+": "))
		}
	}
	return out
}
