package lifecycle

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/clonebot/clonebot/approvals"
	"github.com/clonebot/clonebot/internal/testenv"
	"github.com/clonebot/clonebot/redisstore"
)

// mk stores a request and moves it to status, through the legal path.
func (f *fixture) mk(status approvals.Status) string {
	f.t.Helper()
	now := f.clock.Now()
	r := &approvals.Request{ID: approvals.NewID(), Requester: "U1", Source: "prod", Tier: "dev", TTL: time.Hour,
		Status: approvals.StatusApproved, CreatedAt: now, PendingExpiresAt: now.Add(time.Hour)}
	if err := f.store.Create(f.ctx, r, approvals.Limits{}); err != nil {
		f.t.Fatal(err)
	}
	for _, to := range map[approvals.Status][]approvals.Status{
		approvals.StatusApproved:  nil,
		approvals.StatusRestoring: {approvals.StatusProvisioning, approvals.StatusRestoring},
		approvals.StatusFailed:    {approvals.StatusFailed},
		approvals.StatusDestroyed: {approvals.StatusDestroying, approvals.StatusDestroyed},
	}[status] {
		if _, err := f.store.Transition(f.ctx, approvals.TransitionInput{RequestID: r.ID, To: to, At: now, By: "test"}); err != nil {
			f.t.Fatal(err)
		}
	}
	return r.ID
}

func TestKnownClone(t *testing.T) {
	f := newFixture(t)
	ctx := f.ctx
	m := f.manager("bot-1")
	tests := []struct {
		name       string
		id         string
		keep, lost bool
	}{
		{"approved", f.mk(approvals.StatusApproved), true, false},
		{"restoring", f.mk(approvals.StatusRestoring), true, false},
		{"failed, being torn down", f.mk(approvals.StatusFailed), true, false},
		{"destroyed", f.mk(approvals.StatusDestroyed), false, false},
		{"unknown: its state was lost", approvals.NewID(), false, true},
	}
	for _, tt := range tests {
		if keep, lost := m.known(ctx, tt.id); keep != tt.keep || lost != tt.lost {
			t.Errorf("%s: known = keep %v, lost %v; want %v, %v", tt.name, keep, lost, tt.keep, tt.lost)
		}
	}

	// A store that cannot answer keeps every clone.
	opts, _ := redis.ParseURL(testenv.RedisURL(t))
	broken := redis.NewClient(opts)
	broken.Close()
	m = f.manager("bot-1", func(_ *Config, d *Deps) { d.Store = redisstore.New(broken, f.prefix) })
	if keep, _ := m.known(ctx, tests[0].id); !keep {
		t.Fatal("a lookup error counted as unknown: the sweep would destroy a live clone")
	}
}

// sweeper is a backend holding clones of the given request ids: Sweep destroys those known
// says should not exist, and fails with err if set.
type sweeper struct {
	mu     sync.Mutex
	clones []string
	err    error
	sweeps int
}

func (s *sweeper) Sweep(_ context.Context, known func(string) bool) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweeps++
	var destroyed, kept []string
	for _, id := range s.clones {
		if known(id) {
			kept = append(kept, id)
		} else {
			destroyed = append(destroyed, id)
		}
	}
	s.clones = kept
	return destroyed, s.err
}

// TestSweepReportsWhatItDestroyed: the clones of a lost request and of a finished one are
// destroyed on every backend, the live ones kept; security is told once, naming the lost
// request; the audit outbox records each end; a second replica does not sweep within the
// interval, and a failed sweep lets it.
func TestSweepReportsWhatItDestroyed(t *testing.T) {
	f := newFixture(t)
	live, ended, lost := f.mk(approvals.StatusRestoring), f.mk(approvals.StatusDestroyed), approvals.NewID()
	local, aws := &sweeper{clones: []string{live, lost}}, &sweeper{clones: []string{ended}}
	a, b := f.manager("bot-a"), f.manager("bot-b")
	f.said() // the requests' own notices

	got, err := a.Sweep(f.ctx, time.Hour, local, aws)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{ended, lost}
	slices.Sort(want)
	if !got.Ran || !slices.Equal(got.Destroyed, want) || !slices.Equal(got.Lost, []string{lost}) {
		t.Fatalf("sweep = %+v; want destroyed %v, lost [%s]", got, want, lost)
	}
	if !slices.Equal(local.clones, []string{live}) || len(aws.clones) != 0 {
		t.Fatalf("left local %v, aws %v; want the live clone alone", local.clones, aws.clones)
	}
	said := f.said()
	if len(said) != 1 || !strings.HasPrefix(said[0], "alert system [] Orphan sweep destroyed 2 clone(s)") ||
		!strings.Contains(said[0], "The store had lost 1 of these requests ("+lost+")") {
		t.Fatalf("notices %q: want one alert to security naming the lost request", said)
	}
	evs, err := f.store.ReadOutbox(f.ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	var recorded []string
	for _, e := range evs {
		if strings.HasPrefix(e.Data["note"], "orphan sweep: ") {
			recorded = append(recorded, e.RequestID+" "+e.Type)
		}
	}
	equal(t, "outbox", recorded, []string{want[0] + " destroying", want[0] + " destroyed", want[1] + " destroying", want[1] + " destroyed"})

	// The other replica does not sweep within the interval.
	if got, err := b.Sweep(f.ctx, time.Hour, local, aws); err != nil || got.Ran || local.sweeps != 1 {
		t.Fatalf("second replica: %+v, %v, sweeps %d; want no sweep", got, err, local.sweeps)
	}
	// A failed sweep gives the interval up.
	if err := f.store.ReleaseSweep(f.ctx, "bot-a"); err != nil {
		t.Fatal(err)
	}
	aws.err = errors.New("rds: throttled")
	if _, err := a.Sweep(f.ctx, time.Hour, local, aws); err == nil {
		t.Fatal("a backend's failure was not returned")
	}
	aws.err = nil
	if got, err := b.Sweep(f.ctx, time.Hour, local, aws); err != nil || !got.Ran || len(got.Destroyed) != 0 {
		t.Fatalf("after a failed sweep: %+v, %v; want another replica to sweep, finding nothing", got, err)
	}
	if said := f.said(); len(said) != 0 {
		t.Fatalf("a sweep that destroyed nothing told security: %q", said)
	}
}
