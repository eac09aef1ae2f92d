package lifecycle

import (
	"context"
	"errors"
	"fmt"
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

func TestHappyPath(t *testing.T) {
	f := newFixture(t)
	m := f.manager("bot-1", func(_ *Config, d *Deps) { d.Metrics = f.metrics })
	r := f.request(approvals.StatusApproved)
	id := r.ID
	if err := m.Approved(f.ctx, r); err != nil {
		t.Fatal(err)
	}

	// approved → provisioning → restoring, with the job queued for the agent.
	createdAt := f.clock.Now()
	f.tick(m)
	r = f.wantStatus(id, approvals.StatusRestoring)
	if bound, want := f.backend.bounds[id], createdAt.Add(DefaultConfig("x").RestoreAllowance+4*time.Hour); !bound.Equal(want) {
		t.Fatalf("credentials first bound %s, want %s (restore allowance + TTL)", bound, want)
	}
	if r.Clone == nil || r.Clone.CredentialRef != "file:///secrets/"+id+".json" {
		t.Fatalf("clone not stored: %+v", r.Clone)
	}
	d := f.nextJob()
	if d == nil {
		t.Fatal("no restore job queued")
	}
	want := jobs.Job{RequestID: id, Backup: jobs.BackupRef{Location: "/backups/prod/" + backupDay.Format(time.DateOnly) + ".dump", Size: 4096, SHA256: "abc123"},
		Strategy: provisioner.StrategyRestore, TargetRef: r.Clone.CredentialRef, MaskLevel: "full", Parallelism: 2, Attempt: 1}
	if d.Job != want {
		t.Fatalf("job:\n got  %+v\n want %+v", d.Job, want)
	}
	if again := f.nextJob(); again != nil {
		t.Fatalf("a second job was queued: %+v", again.Job)
	}

	// progress from the agent, then ready.
	if err := f.queue.Publish(f.ctx, jobs.Event{RequestID: id, State: jobs.StateRunning, Phase: jobs.PhaseData,
		Table: "public.users", Rows: 1200, Bytes: 3 << 20, Rate: 1 << 20, Attempt: 1, MaxAttempts: 3, At: f.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	// its agent died; another took the job over and started again.
	if err := f.queue.Publish(f.ctx, jobs.Event{RequestID: id, State: jobs.StateRunning, Phase: jobs.PhaseData,
		Table: "public.users", Rows: 200, Bytes: 512 << 10, Attempt: 2, MaxAttempts: 3, At: f.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	f.tick(m)
	f.clock.Advance(5 * time.Minute)
	readyAt := f.clock.Now()
	f.finish(d, jobs.Event{State: jobs.StateReady, Phase: jobs.PhaseVerify})
	f.tick(m)
	r = f.wantStatus(id, approvals.StatusReady)
	expiry := readyAt.Add(4 * time.Hour)
	if !r.ExpiresAt.Equal(expiry) {
		t.Fatalf("expires at %s, want %s", r.ExpiresAt, expiry)
	}

	// warnings at 60m and 10m before expiry, once each.
	for _, step := range []time.Time{expiry.Add(-time.Hour - time.Second), expiry.Add(-time.Hour), expiry.Add(-30 * time.Minute),
		expiry.Add(-10 * time.Minute), expiry.Add(-5 * time.Minute)} {
		f.clock.Set(step)
		f.tick(m)
		f.tick(m)
	}

	// /clone extend: the backend follows.
	extended := expiry.Add(2 * time.Hour)
	if _, err := f.store.Extend(f.ctx, id, "UREQ", extended, f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	f.tick(m)
	f.tick(m)
	if _, _, _, ext := f.backend.counts(); len(ext) != 2 || !ext[0].Equal(expiry) || !ext[1].Equal(extended) {
		t.Fatalf("backend told expiries %v, want [%s %s]", ext, expiry, extended)
	}

	// expiry: destroyed 3 s late.
	f.clock.Set(extended.Add(3 * time.Second))
	f.tick(m)
	r = f.wantDestroyed(m, id)
	f.tick(m)

	equal(t, "transitions", transitions(r), []approvals.Status{approvals.StatusApproved, approvals.StatusProvisioning,
		approvals.StatusRestoring, approvals.StatusReady, approvals.StatusDestroying, approvals.StatusDestroyed})
	if calls, made, _, _ := f.backend.counts(); calls != 1 || made != 1 {
		t.Fatalf("Create called %d times, made %d clones; want 1, 1", calls, made)
	}
	equal(t, "notices", f.said(), []string{
		"card " + id, // created
		"card " + id, // provisioning
		"progress " + id + " provisioning: creating the clone",
		"progress " + id + " provisioning: database created (clone_" + id + ")",
		"card " + id, // restoring
		"progress " + id + " restoring: waiting for a restore agent",
		"progress " + id + " restoring: data, 1200 rows (3.0 MiB) so far at 1.0 MiB/s, now public.users",
		"progress " + id + " restoring (attempt 2 of 3, started over): data, 200 rows (512.0 KiB) so far, now public.users",
		"card " + id, // ready
		"ready " + id,
		"ttl_warning " + id,
		"ttl_warning " + id,
		"card " + id, // extended
		"card " + id, // destroying
		"card " + id, // destroyed
		"note " + id + " [] destroyed the clone at expiry; credentials revoked",
	})

	// the metrics: revocation 3 s late, time-to-ready 5 min, one ready clone, one expiry.
	mfs, err := f.metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			if h := mt.GetHistogram(); h != nil {
				got[mf.GetName()] = fmt.Sprintf("%d/%g", h.GetSampleCount(), h.GetSampleSum())
			} else if c := mt.GetCounter(); c != nil && c.GetValue() > 0 {
				got[mf.GetName()] = fmt.Sprintf("%g", c.GetValue())
			}
		}
	}
	for name, want := range map[string]string{
		"clonebot_revocation_latency_seconds": "1/3", "clonebot_time_to_ready_seconds": "1/300", "clonebot_approval_wait_seconds": "1/0",
		"clonebot_clones_total": "1", "clonebot_expiries_total": "1", "clonebot_restore_bytes_per_second": "1/1.048576e+06",
	} {
		if got[name] != want {
			t.Errorf("%s = %q, want %q", name, got[name], want)
		}
	}
}

func TestCreateRetriedThenSucceeds(t *testing.T) {
	f := newFixture(t)
	fails := 1
	f.prov.CreateFunc = func(ctx context.Context, spec provisioner.Spec, p provisioner.ProgressFunc) (provisioner.Clone, error) {
		c, err := f.backend.create(ctx, spec, p)
		if fails > 0 {
			fails--
			return provisioner.Clone{}, errors.New("rds: Throttling: rate exceeded")
		}
		return c, err
	}
	m := f.manager("bot-1")
	r := f.request(approvals.StatusApproved)

	f.tick(m)
	f.wantStatus(r.ID, approvals.StatusProvisioning)
	f.clock.Advance(29 * time.Second) // the backoff is 30 s
	f.tick(m)
	if calls, _, _, _ := f.backend.counts(); calls != 1 {
		t.Fatalf("Create retried before the backoff: %d calls", calls)
	}
	f.clock.Advance(time.Second)
	f.tick(m)
	f.wantStatus(r.ID, approvals.StatusRestoring)
	calls, made, _, _ := f.backend.counts()
	if calls != 2 || made != 1 {
		t.Fatalf("Create called %d times, made %d clones; want 2, 1", calls, made)
	}
	notes := strings.Join(f.said(), "\n")
	if !strings.Contains(notes, "attempt 1 of 5 did not succeed; retrying in 30s") {
		t.Fatalf("no retry progress in:\n%s", notes)
	}
	if strings.Contains(notes, "Throttling") {
		t.Fatalf("an internal error reached Slack:\n%s", notes)
	}
}

func TestCreateFails(t *testing.T) {
	tests := []struct {
		name     string
		create   error
		noBackup bool
		ticks    int
		wantFail string
	}{
		{name: "gives up after the attempts", create: errors.New("rds: InsufficientDBClusterCapacity"), ticks: 3,
			wantFail: "the clone could not be created after 3 attempts"},
		{name: "the request records no backup", noBackup: true, ticks: 1,
			wantFail: "the request records no backup to make the clone from"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			if tt.create != nil {
				f.prov.CreateFunc = func(context.Context, provisioner.Spec, provisioner.ProgressFunc) (provisioner.Clone, error) {
					return provisioner.Clone{}, tt.create
				}
			}
			m := f.manager("bot-1", func(c *Config, _ *Deps) { c.CreateAttempts = 3 })
			r := f.request(approvals.StatusApproved, func(r *approvals.Request) {
				if tt.noBackup {
					r.Backup = approvals.Backup{}
				}
			})
			for range tt.ticks {
				f.tick(m)
				f.clock.Advance(time.Hour)
			}
			r = f.wantDestroyed(m, r.ID)
			if !strings.HasPrefix(r.Failure, tt.wantFail) {
				t.Fatalf("failure %q, want it to start with %q", r.Failure, tt.wantFail)
			}
			equal(t, "transitions", transitions(r), []approvals.Status{approvals.StatusApproved, approvals.StatusProvisioning,
				approvals.StatusFailed, approvals.StatusDestroying, approvals.StatusDestroyed})
		})
	}
}

func TestAgentFailure(t *testing.T) {
	f := newFixture(t)
	m := f.manager("bot-1")
	r := f.request(approvals.StatusApproved)
	f.tick(m)
	d := f.nextJob()
	reason := "the backup file is damaged: its SHA-256 does not match the catalogue's"
	if err := f.queue.DeadLetter(f.ctx, d, "checksum", jobs.Event{RequestID: r.ID, State: jobs.StateFailed, Reason: reason, At: f.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	f.said()
	f.tick(m)
	r = f.wantDestroyed(m, r.ID)
	if r.Failure != reason {
		t.Fatalf("failure %q, want %q", r.Failure, reason)
	}
	equal(t, "transitions", transitions(r), []approvals.Status{approvals.StatusApproved, approvals.StatusProvisioning,
		approvals.StatusRestoring, approvals.StatusFailed, approvals.StatusDestroying, approvals.StatusDestroyed})
	equal(t, "notices", f.said(), []string{
		"card " + r.ID, // failed
		"note " + r.ID + " [] could not make the clone: " + reason + ". Anything made for it is being destroyed.",
		"card " + r.ID, // destroying
		"card " + r.ID, // destroyed
		"note " + r.ID + " [] destroyed the clone; credentials revoked",
	})
}

// TestRestoreNobodyFinishes: with no agent reporting, a restoring request fails once the
// restore allowance has passed (its credentials' first bound) and its clone is destroyed.
func TestRestoreNobodyFinishes(t *testing.T) {
	f := newFixture(t)
	m := f.manager("bot-1")
	r := f.request(approvals.StatusApproved)
	f.tick(m)
	f.wantStatus(r.ID, approvals.StatusRestoring)
	allowance := DefaultConfig("x").RestoreAllowance
	f.clock.Advance(allowance)
	f.tick(m)
	f.wantStatus(r.ID, approvals.StatusRestoring) // at the allowance, still waiting
	f.clock.Advance(time.Minute)
	f.said()
	f.tick(m)
	r = f.wantDestroyed(m, r.ID)
	if !strings.Contains(r.Failure, "no restore agent finished the restore within 12h") {
		t.Fatalf("failure %q", r.Failure)
	}
	if _, _, destroyed, _ := f.backend.counts(); !slices.Contains(destroyed, r.ID) {
		t.Fatalf("clone not destroyed: %v", destroyed)
	}
}

func TestDestroyNowFromRestoring(t *testing.T) {
	f := newFixture(t)
	m := f.manager("bot-1")
	r := f.request(approvals.StatusApproved)
	f.tick(m)
	r = f.wantStatus(r.ID, approvals.StatusRestoring)
	f.said()

	if err := m.DestroyNow(f.ctx, r, "UADMIN"); err != nil {
		t.Fatal(err)
	}
	f.wantStatus(r.ID, approvals.StatusDestroying)
	f.tick(m)
	f.wantStatus(r.ID, approvals.StatusDestroyed)

	// the agent finishes afterwards: nothing is released.
	f.finish(f.nextJob(), jobs.Event{State: jobs.StateReady})
	f.tick(m)
	r = f.wantDestroyed(m, r.ID)
	equal(t, "notices", f.said(), []string{
		"card " + r.ID, // destroying
		"card " + r.ID, // destroyed
		"note " + r.ID + " [UADMIN] had the clone destroyed; credentials revoked",
	})
	if err := m.DestroyNow(f.ctx, r, "UADMIN"); !errors.Is(err, approvals.ErrIllegalTransition) {
		t.Fatalf("destroy-now of a destroyed request: %v, want ErrIllegalTransition", err)
	}
}

func TestPendingReminderAndExpiry(t *testing.T) {
	f := newFixture(t)
	m := f.manager("bot-1")
	r := f.request(approvals.StatusPending)
	for _, d := range []time.Duration{0, 49 * time.Minute, time.Minute, 5 * time.Minute, 5 * time.Minute, time.Minute} {
		f.clock.Advance(d)
		f.tick(m)
		f.tick(m)
	}
	r = f.wantStatus(r.ID, approvals.StatusExpired)
	equal(t, "transitions", transitions(r), []approvals.Status{approvals.StatusExpired})
	equal(t, "notices", f.said(), []string{
		"card " + r.ID, // created
		"reminder " + r.ID,
		"card " + r.ID, // expired
		"note " + r.ID + " [] expired the request: it was not decided within its approval window",
	})
}

func TestRun(t *testing.T) {
	f := newFixture(t)
	// an hour between passes: only wake-ups and events can drive this test.
	m := f.manager("bot-1", func(c *Config, _ *Deps) { c.Interval = time.Hour })
	ctx, cancel := context.WithCancel(f.ctx)
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()

	r := f.request(approvals.StatusApproved)
	if err := m.Approved(ctx, r); err != nil {
		t.Fatal(err)
	}
	f.await(r.ID, approvals.StatusRestoring)
	f.finish(f.nextJob(), jobs.Event{State: jobs.StateReady})
	f.await(r.ID, approvals.StatusReady)
	if err := m.DestroyNow(ctx, f.get(r.ID), "UREQ"); err != nil {
		t.Fatal(err)
	}
	f.await(r.ID, approvals.StatusDestroyed)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	f.wantDestroyed(m, r.ID)
}

func TestTeardownOfFailedLeftByCrash(t *testing.T) {
	f := newFixture(t)
	m := f.manager("bot-1")
	r := f.request(approvals.StatusApproved)
	// a replica marked it failed and stopped before moving it on.
	if err := f.store.AddTeardown(f.ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.Transition(f.ctx, approvals.TransitionInput{RequestID: r.ID, To: approvals.StatusFailed,
		From: []approvals.Status{approvals.StatusApproved}, Failure: "backup unreadable", At: f.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	f.tick(m)
	f.wantDestroyed(m, r.ID)
}

func TestTTLWarnings(t *testing.T) {
	tests := []struct {
		name  string
		ttl   time.Duration
		steps []time.Duration // clock moves after ready, one tick after each
		want  []time.Duration // TTLWarning lefts
	}{
		{name: "each offset once", ttl: 4 * time.Hour, steps: []time.Duration{3 * time.Hour, time.Minute, 49 * time.Minute, time.Minute},
			want: []time.Duration{time.Hour, 10 * time.Minute}},
		{name: "a missed pass sends one warning for both", ttl: 4 * time.Hour, steps: []time.Duration{3*time.Hour + 55*time.Minute, time.Minute},
			want: []time.Duration{5 * time.Minute}},
		{name: "an offset longer than the clone's life is skipped", ttl: 30 * time.Minute, steps: []time.Duration{0, 19 * time.Minute, time.Minute},
			want: []time.Duration{10 * time.Minute}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			m := f.manager("bot-1")
			r := f.request(approvals.StatusApproved, func(r *approvals.Request) { r.TTL = tt.ttl })
			for _, to := range []approvals.Status{approvals.StatusProvisioning, approvals.StatusRestoring, approvals.StatusReady} {
				if _, err := f.store.Transition(f.ctx, approvals.TransitionInput{RequestID: r.ID, To: to, At: f.clock.Now(),
					Clone: &approvals.CloneInfo{CredentialRef: "file:///x"}}); err != nil {
					t.Fatal(err)
				}
			}
			f.tick(m)
			f.said()
			var got []time.Duration
			for _, d := range tt.steps {
				f.clock.Advance(d)
				f.tick(m)
				for _, call := range f.said() {
					if strings.HasPrefix(call, "ttl_warning ") {
						got = append(got, f.get(r.ID).TimeLeft(f.clock.Now())) // what the warning shows when sent now
					}
				}
			}
			equal(t, "warnings", got, tt.want)
		})
	}
}

func TestDestroyNowDuringCreate(t *testing.T) {
	f := newFixture(t)
	var m *Manager
	f.prov.CreateFunc = func(ctx context.Context, spec provisioner.Spec, p provisioner.ProgressFunc) (provisioner.Clone, error) {
		// the requester gives up while the cluster is being made.
		if err := m.DestroyNow(ctx, f.get(spec.RequestID), "UREQ"); err != nil {
			t.Error(err)
		}
		return f.backend.create(ctx, spec, p)
	}
	m = f.manager("bot-1")
	r := f.request(approvals.StatusApproved)
	f.tick(m)
	f.wantStatus(r.ID, approvals.StatusDestroying)
	f.tick(m)
	r = f.wantDestroyed(m, r.ID)
	equal(t, "transitions", transitions(r), []approvals.Status{approvals.StatusApproved, approvals.StatusProvisioning,
		approvals.StatusDestroying, approvals.StatusDestroyed})
	if d := f.nextJob(); d != nil {
		t.Fatalf("a job was queued for a destroyed clone: %+v", d.Job)
	}
}

// revoker is the fake provisioner with a Revoke, as provisioner/local has.
type revoker struct {
	*fakes.Provisioner
	mu      sync.Mutex
	revoked []string
}

func (r *revoker) Revoke(_ context.Context, id string) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.revoked = append(r.revoked, id)
	return 1, nil
}

// TestExpiryRevokesAheadOfTheDestroy: at expiry a backend that can revoke does so in the step
// that finds the clone expired, recorded in the audit outbox; the destroy is a later step.
// Meanwhile the pass looks only at requests with work to do.
func TestExpiryRevokesAheadOfTheDestroy(t *testing.T) {
	f := newFixture(t)
	rv := &revoker{Provisioner: f.prov}
	m := f.manager("bot-1", func(_ *Config, d *Deps) {
		d.Backends = provisioner.Backends{"prod": {Provisioner: rv, Strategy: provisioner.StrategyRestore}}
	})
	r := f.request(approvals.StatusApproved)
	f.tick(m)
	f.finish(f.nextJob(), jobs.Event{State: jobs.StateReady})
	f.tick(m)
	r = f.wantStatus(r.ID, approvals.StatusReady)
	if working, err := f.store.ListWorking(f.ctx); err != nil || len(working) != 0 {
		t.Fatalf("a ready clone whose backend was told its expiry is still working: %d (%v)", len(working), err)
	}
	f.clock.Set(r.ExpiresAt.Add(time.Second))
	f.tick(m)
	f.wantStatus(r.ID, approvals.StatusDestroying)
	if _, _, destroyed, _ := f.backend.counts(); len(destroyed) != 0 || !slices.Equal(rv.revoked, []string{r.ID}) {
		t.Fatalf("revoked %v, destroyed %v; want revoked only", rv.revoked, destroyed)
	}
	f.tick(m)
	f.wantDestroyed(m, r.ID)
	evs, err := f.store.ReadOutbox(f.ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, e := range evs {
		types = append(types, e.Type)
	}
	if i, j := slices.Index(types, "credentials_revoked"), slices.Index(types, "destroying"); i < 0 || j < i {
		t.Fatalf("outbox %v: want credentials_revoked before destroying", types)
	}
}

// TestDescribeProgress: the progress line of an agent's report says which attempt it is from
// the second on, when the agent said how many it makes.
func TestDescribeProgress(t *testing.T) {
	tests := []struct {
		give jobs.Event
		want string
	}{
		{jobs.Event{Phase: jobs.PhasePreData, Attempt: 1, MaxAttempts: 3}, "restoring: pre-data"},
		{jobs.Event{Phase: jobs.PhaseData, Table: "public.users", Rows: 10, Bytes: 2048, Rate: 1024, Attempt: 1, MaxAttempts: 3},
			"restoring: data, 10 rows (2.0 KiB) so far at 1.0 KiB/s, now public.users"},
		{jobs.Event{Phase: jobs.PhaseData, Table: "public.users", Rows: 10, Bytes: 2048, Attempt: 2, MaxAttempts: 3},
			"restoring (attempt 2 of 3, started over): data, 10 rows (2.0 KiB) so far, now public.users"},
		{jobs.Event{Phase: jobs.PhaseVerify, Attempt: 3}, "restoring (attempt 3, started over): verify"},
	}
	for _, tt := range tests {
		if got := describe(tt.give); got != tt.want {
			t.Errorf("describe(%+v) = %q, want %q", tt.give, got, tt.want)
		}
	}
}
