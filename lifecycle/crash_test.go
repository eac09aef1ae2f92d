package lifecycle

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clonebot/clonebot/approvals"
	"github.com/clonebot/clonebot/jobs"
	"github.com/clonebot/clonebot/provisioner"
	"github.com/clonebot/clonebot/redisstore"
)

// crashQueue queues the job, then fails as if its replica died before remembering it.
type crashQueue struct{ *redisstore.Queue }

func (q crashQueue) Enqueue(ctx context.Context, j jobs.Job) (bool, error) {
	if _, err := q.Queue.Enqueue(ctx, j); err != nil {
		return false, err
	}
	return false, errors.New("connection reset by peer")
}

func TestResumeAfterCrashInProvisioning(t *testing.T) {
	f := newFixture(t)
	// replica A makes the clone and stops before storing it.
	ctxA, stopA := context.WithCancel(f.ctx)
	defer stopA()
	f.prov.CreateFunc = func(ctx context.Context, spec provisioner.Spec, p provisioner.ProgressFunc) (provisioner.Clone, error) {
		if _, err := f.backend.create(ctx, spec, p); err != nil {
			return provisioner.Clone{}, err
		}
		stopA()
		return provisioner.Clone{}, ctx.Err()
	}
	a := f.manager("bot-a")
	r := f.request(approvals.StatusApproved)
	if err := a.Tick(ctxA); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	f.wantStatus(r.ID, approvals.StatusProvisioning)
	// A died holding the lease: B waits for it.
	if err := f.store.AcquireLease(f.ctx, r.ID, "bot-a", time.Minute); err != nil {
		t.Fatal(err)
	}
	f.prov.CreateFunc = f.backend.create
	b := f.manager("bot-b")
	f.tick(b)
	f.wantStatus(r.ID, approvals.StatusProvisioning)
	if calls, _, _, _ := f.backend.counts(); calls != 1 {
		t.Fatalf("B called Create under A's lease (%d calls)", calls)
	}
	// A's lease runs out: B resumes and finishes the same clone.
	if err := f.store.ReleaseLease(f.ctx, r.ID, "bot-a"); err != nil {
		t.Fatal(err)
	}
	f.tick(b)
	r = f.wantStatus(r.ID, approvals.StatusRestoring)
	calls, made, _, _ := f.backend.counts()
	if calls != 2 || made != 1 {
		t.Fatalf("Create called %d times, made %d clones; want 2, 1", calls, made)
	}
	if d := f.nextJob(); d == nil || d.Job.RequestID != r.ID {
		t.Fatalf("job %+v, want one for %s", d, r.ID)
	}
	if d := f.nextJob(); d != nil {
		t.Fatalf("a second job: %+v", d.Job)
	}
}

func TestResumeAfterCrashInRestoring(t *testing.T) {
	f := newFixture(t)
	a := f.manager("bot-a", func(_ *Config, d *Deps) { d.Queue = crashQueue{f.queue} })
	r := f.request(approvals.StatusApproved)
	f.tick(a)
	f.wantStatus(r.ID, approvals.StatusRestoring)

	b := f.manager("bot-b")
	f.tick(b)
	f.tick(b)
	d := f.nextJob()
	if d == nil || d.Job.RequestID != r.ID {
		t.Fatalf("job %+v, want one for %s", d, r.ID)
	}
	if again := f.nextJob(); again != nil {
		t.Fatalf("a second job: %+v", again.Job)
	}
	f.finish(d, jobs.Event{State: jobs.StateReady})
	f.tick(b)
	f.wantStatus(r.ID, approvals.StatusReady)
	if calls, made, _, _ := f.backend.counts(); calls != 1 || made != 1 {
		t.Fatalf("Create called %d times, made %d clones; want 1, 1", calls, made)
	}
}

func TestConcurrentManagers(t *testing.T) {
	f := newFixture(t)
	managers := []*Manager{f.manager("bot-1"), f.manager("bot-2"), f.manager("bot-3")}
	round := func() {
		t.Helper()
		var wg sync.WaitGroup
		errs := make([]error, len(managers))
		for i, m := range managers {
			wg.Go(func() { errs[i] = m.Tick(f.ctx) })
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
	}
	var ids []string
	for range 4 {
		ids = append(ids, f.request(approvals.StatusApproved).ID)
	}
	round()
	round()
	for range ids {
		d := f.nextJob()
		if d == nil {
			t.Fatal("fewer jobs than requests")
		}
		f.finish(d, jobs.Event{State: jobs.StateReady})
	}
	if d := f.nextJob(); d != nil {
		t.Fatalf("a second job for %s", d.Job.RequestID)
	}
	round()
	round()
	expiry := f.get(ids[0]).ExpiresAt
	f.clock.Set(expiry.Add(-time.Hour))
	round()
	round()
	f.clock.Set(expiry.Add(time.Second))
	round()
	round()

	calls := strings.Join(f.said(), "\n")
	for _, id := range ids {
		r := f.wantDestroyed(managers[0], id)
		equal(t, "transitions of "+id, transitions(r), []approvals.Status{approvals.StatusApproved, approvals.StatusProvisioning,
			approvals.StatusRestoring, approvals.StatusReady, approvals.StatusDestroying, approvals.StatusDestroyed})
		for _, call := range []string{"ready " + id, "ttl_warning " + id, "note " + id + " [] destroyed"} {
			if n := strings.Count(calls, call); n != 1 {
				t.Errorf("%q %d times, want once", call, n)
			}
		}
	}
	if _, made, _, _ := f.backend.counts(); made != len(ids) {
		t.Fatalf("made %d clones, want %d", made, len(ids))
	}
}
