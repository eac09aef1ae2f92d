package lifecycle

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clonebot/clonebot/approvals"
	"github.com/clonebot/clonebot/internal/fakes"
	"github.com/clonebot/clonebot/jobs"
	"github.com/clonebot/clonebot/provisioner"
)

// readyBy is the golden schedule of the tests: every day at t0+6h (UTC), so the latest slot
// whose build has started at t0 is yesterday's, due at the first pass (never built), and the
// next is today's, whose build starts its lead (the expected build time plus 30 minutes)
// before it.
var readyBy = t0.Add(6 * time.Hour).Truncate(time.Minute)

// goldenFixture is a fixture whose policy prepares full golden copies of prod, keeping keep
// generations, on a backend whose copies depend on their golden copy for their life
// (lasting, like Aurora) or only while made (like a local copy).
type goldenFixture struct {
	*fixture
	gp     *fakes.GoldenProvisioner
	mu     sync.Mutex
	sealed []string
	specs  map[string]provisioner.Spec // Create's specs by id
}

func newGoldenFixture(t *testing.T, keep int, lasting bool) *goldenFixture {
	f := &goldenFixture{fixture: newFixture(t), specs: map[string]provisioner.Spec{}}
	f.policy.Sources = map[string]approvals.Source{"prod": {Backend: "local", Strategy: "restore", Backups: "/backups/{source}/{date}/",
		Golden: &approvals.GoldenConfig{Levels: []approvals.MaskLevel{approvals.MaskFull}, ReadyBy: readyBy.Format("15:04"), Keep: keep}}}
	create := f.prov.CreateFunc
	f.prov.CreateFunc = func(ctx context.Context, spec provisioner.Spec, p provisioner.ProgressFunc) (provisioner.Clone, error) {
		f.mu.Lock()
		f.specs[spec.RequestID] = spec
		f.mu.Unlock()
		return create(ctx, spec, p)
	}
	f.gp = &fakes.GoldenProvisioner{Provisioner: f.prov, Lasting: lasting, SealFunc: func(_ context.Context, id string) error {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.sealed = append(f.sealed, id)
		return nil
	}}
	return f
}

// manager is a Manager of owner on the golden fixture: its backend serves golden copies and
// its catalogue has a backup of prod every day up to t0.
func (f *goldenFixture) manager(owner string, edit ...func(*Config, *Deps)) *Manager {
	f.t.Helper()
	return f.fixture.manager(owner, append([]func(*Config, *Deps){func(_ *Config, d *Deps) {
		d.Goldens = f.store
		d.Backends = provisioner.Backends{"prod": {Provisioner: f.gp, Strategy: provisioner.StrategyRestore,
			Catalogue: fakes.Daily("prod", 4096, backupDay.AddDate(0, 0, -1), backupDay, testDay(0), testDay(1), testDay(2), testDay(3), testDay(4))}}
	}}, edit...)...)
}

// testDay is the UTC midnight n days after t0's.
func testDay(n int) time.Time { return t0.UTC().Truncate(24*time.Hour).AddDate(0, 0, n) }

func (f *goldenFixture) goldens() []*approvals.Golden {
	f.t.Helper()
	gs, err := f.store.Goldens(f.ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	return gs
}

// only returns the one golden copy not retired in status want.
func (f *goldenFixture) only(want approvals.GoldenStatus) *approvals.Golden {
	f.t.Helper()
	var out []*approvals.Golden
	for _, g := range f.goldens() {
		if g.Status == want {
			out = append(out, g)
		}
	}
	if len(out) != 1 {
		f.t.Fatalf("golden copies %s: %d (%v), want 1", want, len(out), f.goldens())
	}
	return out[0]
}

// build runs a golden copy's restore job as an agent does (progress, then result).
func (f *goldenFixture) build(m *Manager, result jobs.Event) *approvals.Golden {
	f.t.Helper()
	return f.run(m, f.nextJob(), result)
}

// run runs the job d took.
func (f *goldenFixture) run(m *Manager, d *jobs.Delivery, result jobs.Event) *approvals.Golden {
	f.t.Helper()
	if d == nil || !approvals.IsGoldenID(d.Job.RequestID) {
		f.t.Fatalf("no golden copy job queued: %+v", d)
	}
	if err := f.queue.Publish(f.ctx, jobs.Event{RequestID: d.Job.RequestID, State: jobs.StateRunning, Phase: jobs.PhaseData,
		Rows: 1200, Bytes: 3 << 20, At: f.clock.Now()}); err != nil {
		f.t.Fatal(err)
	}
	f.tick(m)
	f.clock.Advance(4 * time.Minute)
	f.finish(d, result)
	f.tick(m)
	g, err := f.store.Golden(f.ctx, d.Job.RequestID)
	if err != nil {
		f.t.Fatal(err)
	}
	return g
}

func TestGoldenBuiltOnScheduleServesAThinCopy(t *testing.T) {
	f := newGoldenFixture(t, 1, false)
	m := f.manager("bot-1")

	// step 1: never built: the latest slot's build starts at the first pass, and its job is
	// the same restore job as a request's, at the line's masking level.
	f.tick(m)
	g := f.only(approvals.GoldenRestoring)
	if g.Generation != 1 || !g.Slot.Equal(readyBy.AddDate(0, 0, -1)) || !g.BackupDate.Equal(testDay(0)) || g.Clone == nil {
		t.Fatalf("first build %+v, want generation 1 for yesterday's slot from today's backup", g)
	}
	if sp := f.specs[g.ID]; sp.Source != "prod" || sp.Backup.Date != testDay(0) || sp.Golden != "" || sp.Tier != goldenTier {
		t.Fatalf("golden copy created from %+v", sp)
	}
	d := f.nextJob()
	want := jobs.Job{RequestID: g.ID, Backup: jobs.BackupRef{Location: "/backups/prod/" + testDay(0).Format(time.DateOnly) + "/prod.dump", Size: 4096},
		Strategy: provisioner.StrategyRestore, TargetRef: g.Clone.CredentialRef, MaskLevel: "full", Parallelism: 2, Attempt: 1}
	if d == nil || d.Job != want {
		t.Fatalf("job %+v, want %+v", d, want)
	}

	// step 2: built: sealed, ready, the channel told what, from which backup, rows, how long.
	g = f.run(m, d, jobs.Event{State: jobs.StateReady, Phase: jobs.PhaseVerify})
	if g.Status != approvals.GoldenReady || g.Rows != 1200 || g.BuildTime() != 4*time.Minute || !slices.Contains(f.sealed, g.ID) {
		t.Fatalf("built %+v (sealed %v)", g, f.sealed)
	}
	said := f.said()
	if len(said) != 1 || !strings.Contains(said[0], "golden "+g.ID) || !strings.Contains(said[0], "is ready: backup of "+testDay(0).Format(time.DateOnly)) ||
		!strings.Contains(said[0], "1200 rows (3.0 MiB)") || !strings.Contains(said[0], "built in 4m0s") {
		t.Fatalf("said %q", said)
	}
	equal(t, "audit", f.outboxTypes(g.ID), []string{"golden_started", "golden_restoring", "golden_ready"})

	// step 3: a request made from it is a thin copy: no restore job, ready at once.
	r := f.request(approvals.StatusApproved, func(r *approvals.Request) { r.Golden, r.Date = g.ID, g.BackupDate })
	f.tick(m)
	r = f.wantStatus(r.ID, approvals.StatusReady)
	if sp := f.specs[r.ID]; sp.Golden != g.ID {
		t.Fatalf("Create got golden %q, want %s", sp.Golden, g.ID)
	}
	if d := f.nextJob(); d != nil {
		t.Fatalf("a thin copy queued a restore job: %+v", d.Job)
	}
	if !strings.Contains(r.History[len(r.History)-1].Note, "copied from golden copy prod/full (generation 1") {
		t.Fatalf("timeline %+v", r.History[len(r.History)-1])
	}
	if users, _ := f.store.GoldenUsers(f.ctx, g.ID); len(users) != 0 {
		t.Fatalf("a made local copy still counts as a dependant: %v", users)
	}

	// step 4: the next slot: started its lead (4m build + 30m margin) before it, not sooner.
	f.clock.Set(readyBy.Add(-34*time.Minute - time.Second))
	f.tick(m)
	if n := len(f.goldens()); n != 1 {
		t.Fatalf("%d golden copies before the next build's start, want 1", n)
	}
	f.clock.Set(readyBy.Add(-34 * time.Minute))
	f.tick(m)
	g2 := f.build(m, jobs.Event{State: jobs.StateReady, Phase: jobs.PhaseVerify})
	if g2.Generation != 2 || !g2.Slot.Equal(readyBy) || g2.Status != approvals.GoldenReady {
		t.Fatalf("second build %+v", g2)
	}
	// keep 1: the first generation retires (no clone depends on it any more).
	f.tick(m)
	if gs := f.goldens(); len(gs) != 1 || gs[0].ID != g2.ID {
		t.Fatalf("golden copies %v, want only generation 2", gs)
	}
	if _, _, destroyed, _ := f.backend.counts(); !slices.Contains(destroyed, g.ID) {
		t.Fatalf("generation 1 not destroyed: %v", destroyed)
	}
	equal(t, "audit", f.outboxTypes(g.ID), []string{"golden_started", "golden_restoring", "golden_ready", "golden_retiring", "golden_retired"})
}

func TestGoldenRetirementWaitsForCopiesThatDependOnIt(t *testing.T) {
	f := newGoldenFixture(t, 1, true) // like Aurora: a copy shares its golden copy's pages
	m := f.manager("bot-1")
	f.tick(m)
	g1 := f.build(m, jobs.Event{State: jobs.StateReady})
	r := f.request(approvals.StatusApproved, func(r *approvals.Request) { r.Golden = g1.ID })
	f.tick(m)
	f.wantStatus(r.ID, approvals.StatusReady)

	// generation 2 is ready, but a live copy depends on generation 1: it stays, out of service.
	if _, err := m.StartGolden(f.ctx, "prod", approvals.MaskFull, time.Time{}, "UADMIN"); err != nil {
		t.Fatal(err)
	}
	f.tick(m)
	f.build(m, jobs.Event{State: jobs.StateReady})
	f.tick(m)
	if got, _ := f.store.Golden(f.ctx, g1.ID); got.Status != approvals.GoldenReady {
		t.Fatalf("generation 1 is %s with a live copy on it", got.Status)
	}
	// the copy is destroyed: generation 1 retires.
	if err := m.DestroyNow(f.ctx, r, "UREQ"); err != nil {
		t.Fatal(err)
	}
	f.tick(m)
	f.tick(m)
	if got, _ := f.store.Golden(f.ctx, g1.ID); got.Status != approvals.GoldenRetired {
		t.Fatalf("generation 1 is %s after its last copy was destroyed", got.Status)
	}
}

func TestGoldenCatchUpAfterDowntime(t *testing.T) {
	f := newGoldenFixture(t, 2, false)
	m := f.manager("bot-1")
	f.tick(m)
	f.build(m, jobs.Event{State: jobs.StateReady})

	// down for three days and a half: one build at the restart, for the latest slot missed.
	f.clock.Set(readyBy.Add(3*24*time.Hour + 12*time.Hour))
	m = f.manager("bot-2")
	f.tick(m)
	f.tick(m)
	var building []*approvals.Golden
	for _, g := range f.goldens() {
		if g.Status.Building() {
			building = append(building, g)
		}
	}
	if len(building) != 1 || building[0].Generation != 2 || !building[0].Slot.Equal(readyBy.AddDate(0, 0, 3)) {
		t.Fatalf("after downtime: %v, want one build (generation 2) for the latest slot", building)
	}
	f.build(m, jobs.Event{State: jobs.StateReady})
	f.tick(m)
	if n := len(f.goldens()); n != 2 {
		t.Fatalf("%d golden copies, want 2 (keep 2, nothing else built)", n)
	}
}

func TestGoldenTwoReplicasBuildOnce(t *testing.T) {
	f := newGoldenFixture(t, 2, false)
	a, b := f.manager("bot-a"), f.manager("bot-b")
	var wg sync.WaitGroup
	for _, m := range []*Manager{a, b, a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := m.Tick(f.ctx); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	gs := f.goldens()
	if len(gs) != 1 {
		t.Fatalf("golden copies %v, want one build", gs)
	}
	if _, made, _, _ := f.backend.counts(); made != 1 {
		t.Fatalf("%d databases made, want 1", made)
	}
	if d := f.nextJob(); d == nil {
		t.Fatal("no job")
	}
	if d := f.nextJob(); d != nil {
		t.Fatalf("a second job: %+v", d.Job)
	}
}

func TestGoldenBuildResumesAfterCrash(t *testing.T) {
	f := newGoldenFixture(t, 2, false)
	// replica A makes the golden copy's database and dies before recording it, holding the lease.
	ctxA, stopA := context.WithCancel(f.ctx)
	defer stopA()
	create := f.prov.CreateFunc
	f.prov.CreateFunc = func(ctx context.Context, spec provisioner.Spec, p provisioner.ProgressFunc) (provisioner.Clone, error) {
		if _, err := create(ctx, spec, p); err != nil {
			return provisioner.Clone{}, err
		}
		stopA()
		return provisioner.Clone{}, ctx.Err()
	}
	a := f.manager("bot-a")
	if err := a.Tick(ctxA); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	g := f.only(approvals.GoldenProvisioning)
	if err := f.store.AcquireLease(f.ctx, g.ID, "bot-a", time.Minute); err != nil {
		t.Fatal(err)
	}
	f.prov.CreateFunc = create
	b := f.manager("bot-b")
	f.tick(b)
	f.only(approvals.GoldenProvisioning) // B waits for A's lease
	if err := f.store.ReleaseLease(f.ctx, g.ID, "bot-a"); err != nil {
		t.Fatal(err)
	}
	f.tick(b)
	if got := f.only(approvals.GoldenRestoring); got.ID != g.ID {
		t.Fatalf("B built %s, want A's %s", got.ID, g.ID)
	}
	if calls, made, _, _ := f.backend.counts(); calls != 2 || made != 1 {
		t.Fatalf("Create called %d times, made %d; want 2, 1", calls, made)
	}
	if got := f.build(b, jobs.Event{State: jobs.StateReady}); got.ID != g.ID || got.Status != approvals.GoldenReady {
		t.Fatalf("resumed build %+v", got)
	}
}

func TestGoldenFailurePostedAndAudited(t *testing.T) {
	f := newGoldenFixture(t, 2, false)
	m := f.manager("bot-1")
	f.tick(m)
	g := f.build(m, jobs.Event{State: jobs.StateFailed, Reason: "the verification gate found an email in public.users.notes"})
	if g.Status != approvals.GoldenRetired || !strings.Contains(g.Failure, "verification gate") {
		t.Fatalf("failed build %+v, want retired with its failure", g)
	}
	if _, _, destroyed, _ := f.backend.counts(); !slices.Contains(destroyed, g.ID) {
		t.Fatalf("the failed build's database was not destroyed: %v", destroyed)
	}
	said := f.said()
	if len(said) != 1 || !strings.Contains(said[0], "golden "+g.ID) || !strings.Contains(said[0], "failed: the verification gate found an email") ||
		!strings.Contains(said[0], "restored from their backup as usual") {
		t.Fatalf("said %q", said)
	}
	equal(t, "audit", f.outboxTypes(g.ID), []string{"golden_started", "golden_restoring", "golden_failed", "golden_retiring", "golden_retired"})
	// a request can never be made from it.
	r := &approvals.Request{ID: approvals.NewID(), Requester: "UREQ", Source: "prod", Tier: "dev", Status: approvals.StatusApproved, Golden: g.ID}
	if err := f.store.Create(f.ctx, r, approvals.Limits{}); !errors.Is(err, approvals.ErrGoldenGone) {
		t.Fatalf("request made from a failed golden copy: %v", err)
	}
}
