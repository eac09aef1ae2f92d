package lifecycle

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap/zaptest"

	"github.com/clonebot/clonebot/agent"
	"github.com/clonebot/clonebot/approvals"
	"github.com/clonebot/clonebot/approvals/redisstore"
	"github.com/clonebot/clonebot/handlers"
	"github.com/clonebot/clonebot/internal/testenv"
	"github.com/clonebot/clonebot/provisioner"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// t0 is the tests' start, the real time: every time the loop and the store see comes from the
// test clock, and the clones' credentials meet a real server's clock.
var t0 = testenv.Now()

// backupDay is the day before t0: the backup the requests ask for.
var backupDay = testenv.Day(t0, -1)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

func (c *clock) advance(d time.Duration) { c.set(c.Now().Add(d)) }

// fakeProvisioner is a Provisioner (with Extend) of function fields.
type fakeProvisioner struct {
	create  func(ctx context.Context, spec provisioner.Spec, progress provisioner.ProgressFunc) (provisioner.Clone, error)
	destroy func(ctx context.Context, requestID string) error
	extend  func(ctx context.Context, requestID string, expiresAt time.Time) error
}

func (p *fakeProvisioner) Create(ctx context.Context, spec provisioner.Spec, progress provisioner.ProgressFunc) (provisioner.Clone, error) {
	return p.create(ctx, spec, progress)
}

func (p *fakeProvisioner) Destroy(ctx context.Context, requestID string) error {
	return p.destroy(ctx, requestID)
}

func (p *fakeProvisioner) Extend(ctx context.Context, requestID string, expiresAt time.Time) error {
	return p.extend(ctx, requestID, expiresAt)
}

type fakeCatalogue struct {
	find func(ctx context.Context, source string, at time.Time) (provisioner.Backup, error)
}

func (c fakeCatalogue) Backups(context.Context, string, time.Time, time.Time) ([]provisioner.Backup, error) {
	return nil, nil
}

func (c fakeCatalogue) Find(ctx context.Context, source string, at time.Time) (provisioner.Backup, error) {
	return c.find(ctx, source, at)
}

// backend is what the fake provisioner's default functions act on: made clones by request id,
// idempotent like the real provisioners, with counts of what each call did.
type backend struct {
	mu        sync.Mutex
	clones    map[string]provisioner.Clone
	calls     int      // Create calls
	made      int      // Create calls that made a new clone
	destroyed []string // Destroy calls, in order
	extended  []time.Time
	bounds    map[string]time.Time // the credentials' first expiry bound each Create was given
}

func (b *backend) create(_ context.Context, spec provisioner.Spec, progress provisioner.ProgressFunc) (provisioner.Clone, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls++
	if b.bounds == nil {
		b.bounds = map[string]time.Time{}
	}
	b.bounds[spec.RequestID] = spec.ExpiresAt
	if c, ok := b.clones[spec.RequestID]; ok {
		return c, nil
	}
	b.made++
	c := provisioner.Clone{
		RequestID: spec.RequestID, Host: "127.0.0.1", Port: 5432, Database: "clone_" + spec.RequestID,
		User: "clone_" + spec.RequestID, CredentialRef: "file:///secrets/" + spec.RequestID + ".json",
	}
	b.clones[spec.RequestID] = c
	progress.Report("database created", c.Database)
	return c, nil
}

func (b *backend) destroy(_ context.Context, id string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.clones, id)
	b.destroyed = append(b.destroyed, id)
	return nil
}

func (b *backend) extend(_ context.Context, _ string, at time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.extended = append(b.extended, at)
	return nil
}

func (b *backend) counts() (calls, made int, destroyed []string, extended []time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.calls, b.made, slices.Clone(b.destroyed), slices.Clone(b.extended)
}

// notifier records every call but HomeChanged as one line.
type notifier struct {
	mu    sync.Mutex
	calls []string
	watch chan string // if set, gets every call too
}

func (n *notifier) add(format string, args ...any) {
	call := fmt.Sprintf(format, args...)
	n.mu.Lock()
	n.calls = append(n.calls, call)
	watch := n.watch
	n.mu.Unlock()
	if watch != nil {
		watch <- call
	}
}

// await waits for call on watch, failing the test after a generous bound.
func (n *notifier) await(t *testing.T, call string) {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case got := <-n.watch:
			if strings.HasPrefix(got, call) {
				return
			}
		case <-timeout:
			t.Fatalf("no notifier call %q", call)
		}
	}
}

func (n *notifier) take() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := n.calls
	n.calls = nil
	return out
}

func (n *notifier) CardChanged(_ context.Context, r *approvals.Request) (string, string, error) {
	n.add("card %s %s", r.ID, r.Status)
	return "C1", "ts-" + r.ID, nil
}

func (n *notifier) ThreadNote(_ context.Context, r *approvals.Request, note handlers.Note) error {
	n.add("note %s [%s] %s", r.ID, note.By, note.Text)
	return nil
}

func (n *notifier) Progress(_ context.Context, r *approvals.Request, status string) error {
	n.add("progress %s %s", r.ID, status)
	return nil
}

func (n *notifier) Ready(_ context.Context, r *approvals.Request) error {
	n.add("ready %s %s until %s", r.ID, r.Clone.CredentialRef, r.ExpiresAt.Format(time.TimeOnly))
	return nil
}

func (n *notifier) PendingReminder(_ context.Context, r *approvals.Request, left time.Duration) error {
	n.add("reminder %s %s", r.ID, left)
	return nil
}

func (n *notifier) TTLWarning(_ context.Context, r *approvals.Request, left time.Duration) error {
	n.add("ttl %s %s", r.ID, left)
	return nil
}

func (n *notifier) SecurityAlert(_ context.Context, a handlers.Alert) error {
	n.add("alert %s", a.Text)
	return nil
}

func (n *notifier) DM(_ context.Context, user, text string) error {
	n.add("dm %s %s", user, text)
	return nil
}

func (n *notifier) HomeChanged(context.Context, ...string) {}

type fixture struct {
	t       *testing.T
	ctx     context.Context
	rdb     *redis.Client
	prefix  string
	clock   *clock
	store   *redisstore.Store
	queue   *agent.Queue
	policy  *approvals.Policy
	backend *backend
	prov    *fakeProvisioner
	cat     fakeCatalogue
	notes   *notifier
	metrics *prometheus.Registry
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	rdb, prefix := testenv.Redis(t)
	c := &clock{now: t0}
	b := &backend{clones: map[string]provisioner.Clone{}}
	f := &fixture{
		t: t, ctx: context.Background(), rdb: rdb, prefix: prefix, clock: c,
		store: redisstore.New(rdb, prefix, redisstore.WithClock(c.Now)),
		queue: agent.NewQueue(rdb, prefix, ""),
		policy: &approvals.Policy{
			PendingReminder: approvals.Duration(10 * time.Minute),
			TTLWarnings:     []approvals.Duration{approvals.Duration(time.Hour), approvals.Duration(10 * time.Minute)},
		},
		backend: b,
		prov:    &fakeProvisioner{create: b.create, destroy: b.destroy, extend: b.extend},
		cat: fakeCatalogue{find: func(_ context.Context, source string, at time.Time) (provisioner.Backup, error) {
			return provisioner.Backup{Source: source, Kind: provisioner.BackupFile, Date: at,
				Location: "/backups/" + source + "/" + at.Format(time.DateOnly) + ".dump", Size: 4096, Checksum: "abc123"}, nil
		}},
		notes:   &notifier{},
		metrics: prometheus.NewRegistry(),
	}
	if err := f.queue.EnsureGroup(f.ctx); err != nil {
		t.Fatal(err)
	}
	return f
}

func testConfig(owner string) Config {
	cfg := DefaultConfig(owner)
	cfg.RetryBackoff = 30 * time.Second
	cfg.RestoreParallelism = 2
	return cfg
}

// manager returns a Manager of owner on the fixture; edit changes its deps.
func (f *fixture) manager(owner string, edit ...func(*Config, *Deps)) *Manager {
	f.t.Helper()
	cfg := testConfig(owner)
	d := Deps{
		Store: f.store, Policy: f.policy, Queue: f.queue, Redis: f.rdb, Prefix: f.prefix,
		Backends: provisioner.Backends{"prod": {Provisioner: f.prov, Catalogue: f.cat, Strategy: provisioner.StrategyRestore}},
		Notifier: f.notes, Logger: zaptest.NewLogger(f.t), Now: f.clock.Now,
	}
	for _, e := range edit {
		e(&cfg, &d)
	}
	m, err := New(cfg, d)
	if err != nil {
		f.t.Fatalf("new manager: %v", err)
	}
	return m
}

// request stores a request in status (approved or pending) made at the clock's now; edit
// changes it first.
func (f *fixture) request(status approvals.Status, edit ...func(*approvals.Request)) *approvals.Request {
	f.t.Helper()
	now := f.clock.Now()
	r := &approvals.Request{
		ID: approvals.NewID(), Requester: "UREQ", Source: "prod", Date: backupDay, Tier: "dev",
		Masking: approvals.MaskFull, Mode: approvals.ModeAuto, TTL: 4 * time.Hour, MaxTTL: 24 * time.Hour,
		Channel: "C1", Status: status, CreatedAt: now, PendingExpiresAt: now.Add(time.Hour),
	}
	if status == approvals.StatusPending {
		r.Mode = approvals.ModeSingle
		r.Slots = []approvals.Slot{{Name: "leads", Approvers: []approvals.Principal{"group:leads", "user:ULEAD"}}}
	}
	for _, e := range edit {
		e(r)
	}
	if err := f.store.Create(f.ctx, r, approvals.Limits{}); err != nil {
		f.t.Fatalf("create request: %v", err)
	}
	return f.get(r.ID)
}

func (f *fixture) get(id string) *approvals.Request {
	f.t.Helper()
	r, err := f.store.Get(f.ctx, id)
	if err != nil {
		f.t.Fatalf("get %s: %v", id, err)
	}
	return r
}

func (f *fixture) tick(m *Manager) {
	f.t.Helper()
	if err := m.Tick(f.ctx); err != nil {
		f.t.Fatalf("tick: %v", err)
	}
}

func (f *fixture) wantStatus(id string, want approvals.Status) *approvals.Request {
	f.t.Helper()
	r := f.get(id)
	if r.Status != want {
		f.t.Fatalf("%s is %s, want %s (failure %q)", id, r.Status, want, r.Failure)
	}
	return r
}

// wantDestroyed checks that request id ended destroyed, with one Destroy call, and that m
// kept nothing of it.
func (f *fixture) wantDestroyed(m *Manager, id string) *approvals.Request {
	f.t.Helper()
	r := f.wantStatus(id, approvals.StatusDestroyed)
	_, _, destroyed, _ := f.backend.counts()
	if n := slices.Index(destroyed, id); n < 0 || slices.Contains(destroyed[n+1:], id) {
		f.t.Fatalf("destroyed %v, want %s once", destroyed, id)
	}
	for _, key := range []string{m.keys.marks(id), m.keys.teardown()} {
		if n, err := f.rdb.Exists(f.ctx, key).Result(); err != nil || n != 0 {
			f.t.Fatalf("%s left behind after the destroy (%d, %v)", key, n, err)
		}
	}
	return r
}

// nextJob takes the next restore job as an agent would, or nil if there is none.
func (f *fixture) nextJob() *agent.Delivery {
	f.t.Helper()
	d, err := f.queue.Next(f.ctx, "agent-1", time.Hour, -1)
	if err != nil {
		f.t.Fatalf("next job: %v", err)
	}
	return d
}

// finish ends the job as the agent does: its final event and the acknowledgement at once.
func (f *fixture) finish(d *agent.Delivery, e agent.Event) {
	f.t.Helper()
	e.RequestID, e.At = d.Job.RequestID, f.clock.Now()
	if err := f.queue.Finish(f.ctx, d, e); err != nil {
		f.t.Fatalf("finish job: %v", err)
	}
}

// transitions lists the statuses r entered, in order.
func transitions(r *approvals.Request) []approvals.Status {
	var out []approvals.Status
	for _, e := range r.History {
		if e.Type == string(e.To) && e.From != "" {
			out = append(out, e.To)
		}
	}
	return out
}

func equal[T comparable](t *testing.T, what string, got, want []T) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s:\n got  %v\n want %v", what, strings.Join(fmtAll(got), "\n       "), strings.Join(fmtAll(want), "\n       "))
	}
}

func fmtAll[T any](xs []T) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = fmt.Sprint(x)
	}
	return out
}
