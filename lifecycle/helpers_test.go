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

	"github.com/clonebot/clonebot/approvals"
	"github.com/clonebot/clonebot/internal/fakes"
	"github.com/clonebot/clonebot/internal/testenv"
	"github.com/clonebot/clonebot/jobs"
	"github.com/clonebot/clonebot/provisioner"
	"github.com/clonebot/clonebot/redisstore"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// t0 is the tests' start, the real time: every time the loop and the store see comes from the
// test clock, and the clones' credentials meet a real server's clock.
var t0 = testenv.Now()

// backupDay is the day before t0: the backup the requests ask for.
var backupDay = testenv.Day(t0, -1)

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

type fixture struct {
	t       *testing.T
	ctx     context.Context
	rdb     *redis.Client
	prefix  string
	clock   *fakes.Clock
	store   *redisstore.Store
	queue   *redisstore.Queue
	events  *redisstore.Events
	policy  *approvals.Policy
	backend *backend
	prov    *fakes.Provisioner
	metrics *prometheus.Registry
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	rdb, prefix := testenv.Redis(t)
	c := fakes.NewClock(t0)
	b := &backend{clones: map[string]provisioner.Clone{}}
	f := &fixture{
		t: t, ctx: context.Background(), rdb: rdb, prefix: prefix, clock: c,
		store:  redisstore.New(rdb, prefix, redisstore.WithClock(c.Now)),
		queue:  redisstore.NewQueue(rdb, prefix, ""),
		events: redisstore.NewEvents(rdb, prefix),
		policy: &approvals.Policy{
			PendingReminder: approvals.Duration(10 * time.Minute),
			TTLWarnings:     []approvals.Duration{approvals.Duration(time.Hour), approvals.Duration(10 * time.Minute)},
		},
		backend: b,
		prov:    &fakes.Provisioner{CreateFunc: b.create, DestroyFunc: b.destroy, ExtendFunc: b.extend},
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
		Store: f.store, Policy: f.policy, Queue: f.queue, Events: f.events,
		Backends: provisioner.Backends{"prod": {Provisioner: f.prov, Strategy: provisioner.StrategyRestore}},
		Logger:   zaptest.NewLogger(f.t), Now: f.clock.Now,
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
		Backup: approvals.Backup{Kind: string(provisioner.BackupFile), Location: "/backups/prod/" + backupDay.Format(time.DateOnly) + ".dump",
			Size: 4096, Checksum: "abc123"},
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
	if mks, err := f.store.Marks(f.ctx, id); err != nil || mks[0] != (approvals.Marks{}) {
		f.t.Fatalf("marks left behind after the destroy: %+v (%v)", mks, err)
	}
	if ids, err := f.store.Teardowns(f.ctx); err != nil || slices.Contains(ids, id) {
		f.t.Fatalf("%s left in the teardown set (%v)", id, err)
	}
	return r
}

// nextJob takes the next restore job as an agent would, or nil if there is none.
func (f *fixture) nextJob() *jobs.Delivery {
	f.t.Helper()
	d, err := f.queue.Next(f.ctx, "agent-1", time.Hour, -1)
	if err != nil {
		f.t.Fatalf("next job: %v", err)
	}
	return d
}

// finish ends the job as the agent does: its final event and the acknowledgement at once.
func (f *fixture) finish(d *jobs.Delivery, e jobs.Event) {
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

// said takes the notices recorded so far (every request's), one line each (fakes.NoticeLine).
func (f *fixture) said() []string {
	f.t.Helper()
	lines, err := fakes.TakeAllNotices(f.ctx, f.store)
	if err != nil {
		f.t.Fatalf("notices: %v", err)
	}
	return lines
}

// await waits, in real time since Run drives the test, until request id is in status want,
// failing the test after a generous bound.
func (f *fixture) await(id string, want approvals.Status) {
	f.t.Helper()
	for range 2000 {
		if f.get(id).Status == want {
			return
		}
		time.Sleep(10 * time.Millisecond) // polls a state Run changes; the assertion is the status, not the time
	}
	f.t.Fatalf("%s never became %s (it is %s)", id, want, f.get(id).Status)
}
