package redisstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/clonebot/clonebot/approvals"
)

// put writes a request in any status straight into Redis, indexed as its status calls for
// (test setup for states Create cannot make).
func (f *fixture) put(r *approvals.Request) {
	f.t.Helper()
	ctx := context.Background()
	fields, err := toHash(r)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.c.HSet(ctx, f.s.k.request(r.ID), fields...).Err(); err != nil {
		f.t.Fatal(err)
	}
	w := wantIndexes(r.Status)
	if w.Pending {
		f.c.ZAdd(ctx, f.s.k.pending(), redisZ(r.PendingExpiresAt, r.ID))
	}
	if w.Expiry {
		f.c.ZAdd(ctx, f.s.k.expiry(), redisZ(r.ExpiresAt, r.ID))
	}
	if w.Active {
		f.c.SAdd(ctx, f.s.k.active(), r.ID)
		f.c.SAdd(ctx, f.s.k.user(r.Requester), r.ID)
		f.c.SAdd(ctx, f.s.k.engine()+"team:"+r.Team, r.ID)
	}
}

// TestTransitionTable tries every (from, to) pair and checks the script agrees with
// approvals.CanTransition, and that indexes follow the status.
func TestTransitionTable(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	n := 0
	for _, from := range approvals.AllStatuses {
		for _, to := range approvals.AllStatuses {
			n++
			r := single(fmt.Sprintf("cl-t%d", n))
			r.Status = from
			r.ReadyAt, r.ExpiresAt = t0, t0.Add(r.TTL)
			f.put(r)
			cursor := f.lastID()
			got, err := f.s.Transition(ctx, approvals.TransitionInput{RequestID: r.ID, To: to, By: "clonebot", At: t0.Add(time.Minute)})
			switch {
			case from == to:
				if err != nil || got.Status != from || len(f.typesAfter(cursor)) != 0 {
					t.Errorf("%s → %s (retry): %v, status %v, events %v; want a no-op", from, to, err, got, f.typesAfter(cursor))
				}
			case approvals.CanTransition(from, to):
				if err != nil || got.Status != to || !slices.Equal(f.typesAfter(cursor), []string{string(to)}) {
					t.Errorf("%s → %s (legal): %v, events %v", from, to, err, f.typesAfter(cursor))
					continue
				}
				if gi, wi := f.indexesOf(got), wantIndexes(to); gi != wi {
					t.Errorf("%s → %s: indexes %+v, want %+v", from, to, gi, wi)
				}
			default:
				var ite *approvals.IllegalTransitionError
				if !errors.As(err, &ite) || !errors.Is(err, approvals.ErrIllegalTransition) || ite.From != from || ite.To != to {
					t.Errorf("%s → %s (illegal): err %v", from, to, err)
				}
				if f.get(r.ID).Status != from || len(f.typesAfter(cursor)) != 0 {
					t.Errorf("%s → %s (illegal) changed something", from, to)
				}
			}
		}
	}
}

// TestLifecycleIndexes walks a request through its life and checks every index after each
// step, and the times the ready transition sets.
func TestLifecycleIndexes(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	r := dual("cl-life")
	f.create(r)
	check := func(step string, got *approvals.Request, want approvals.Status) {
		t.Helper()
		if got.Status != want {
			t.Fatalf("%s: status %s, want %s", step, got.Status, want)
		}
		if gi, wi := f.indexesOf(got), wantIndexes(want); gi != wi {
			t.Fatalf("%s: indexes %+v, want %+v", step, gi, wi)
		}
		if n, err := f.s.ActiveCount(ctx, requester); err != nil || (n == 1) != want.Active() {
			t.Fatalf("%s: active count %d %v", step, n, err)
		}
	}
	check("created", f.get(r.ID), approvals.StatusPending)
	check("one approval", f.vote(r.ID, oncallA.user, approvals.DecisionApprove, t0, oncallA.groups...).Request, approvals.StatusPending)
	check("approved", f.vote(r.ID, security.user, approvals.DecisionApprove, t0, security.groups...).Request, approvals.StatusApproved)
	at := t0.Add(5 * time.Minute)
	check("provisioning", f.move(r.ID, approvals.StatusProvisioning, at), approvals.StatusProvisioning)
	check("restoring", f.move(r.ID, approvals.StatusRestoring, at), approvals.StatusRestoring)
	ready := f.move(r.ID, approvals.StatusReady, at)
	check("ready", ready, approvals.StatusReady)
	if !ready.ReadyAt.Equal(at) || !ready.ExpiresAt.Equal(at.Add(4*time.Hour)) {
		t.Fatalf("ready at %v, expires %v", ready.ReadyAt, ready.ExpiresAt)
	}
	if score := f.c.ZScore(ctx, f.s.k.expiry(), r.ID).Val(); int64(score) != at.Add(4*time.Hour).UnixMilli() {
		t.Fatalf("expiry score %v", score)
	}
	check("destroying", f.move(r.ID, approvals.StatusDestroying, at), approvals.StatusDestroying)
	destroyed := f.move(r.ID, approvals.StatusDestroyed, at)
	check("destroyed", destroyed, approvals.StatusDestroyed)
	var types []string
	for _, e := range destroyed.History {
		types = append(types, e.Type)
	}
	want := []string{"requested", "voted", "voted", "approved", "provisioning", "restoring", "ready", "destroying", "destroyed"}
	if !slices.Equal(types, want) {
		t.Fatalf("timeline %v, want %v", types, want)
	}

	// A failed clone leaves the indexes; tearing it down counts it as active again until destroyed.
	f2 := f.ready("cl-fail", time.Hour, at)
	check("ready 2", f2, approvals.StatusReady)
	check("failed", f.move("cl-fail", approvals.StatusFailed, at), approvals.StatusFailed)
	check("destroying failed", f.move("cl-fail", approvals.StatusDestroying, at), approvals.StatusDestroying)
}

func TestTransitionFromGuard(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.create(single("cl-g"))
	f.vote("cl-g", lead.user, approvals.DecisionApprove, t0, lead.groups...)
	tests := []struct {
		name       string
		give       approvals.TransitionInput
		wantErr    bool
		wantStatus approvals.Status
	}{
		{"guard not met", approvals.TransitionInput{To: approvals.StatusFailed, From: []approvals.Status{approvals.StatusRestoring}}, true, approvals.StatusApproved},
		{"guard met", approvals.TransitionInput{To: approvals.StatusProvisioning, From: []approvals.Status{approvals.StatusPending, approvals.StatusApproved}}, false, approvals.StatusProvisioning},
		{"retry of a guarded move is a no-op", approvals.TransitionInput{To: approvals.StatusProvisioning, From: []approvals.Status{approvals.StatusApproved}}, false, approvals.StatusProvisioning},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.give.RequestID, tt.give.At = "cl-g", t0.Add(time.Minute)
			got, err := f.s.Transition(ctx, tt.give)
			if tt.wantErr {
				var ite *approvals.IllegalTransitionError
				if !errors.As(err, &ite) || ite.From != approvals.StatusApproved {
					t.Fatalf("err %v, want an IllegalTransitionError from approved", err)
				}
				got = f.get("cl-g")
			} else if err != nil {
				t.Fatal(err)
			}
			if got.Status != tt.wantStatus {
				t.Fatalf("status %s, want %s", got.Status, tt.wantStatus)
			}
		})
	}
	if got := f.typesAfter(""); !slices.Equal(got, []string{"requested", "voted", "approved", "provisioning"}) {
		t.Fatalf("outbox %v", got)
	}
}

func TestTransitionErrors(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.s.Transition(ctx, approvals.TransitionInput{RequestID: "cl-none", To: approvals.StatusFailed}); !errors.Is(err, approvals.ErrNotFound) {
		t.Fatalf("unknown request: %v", err)
	}
	f.create(dual("cl-x"))
	if _, err := f.s.Transition(ctx, approvals.TransitionInput{RequestID: "cl-x", To: "gone"}); err == nil {
		t.Fatal("unknown status accepted")
	}
}

func TestDuePending(t *testing.T) {
	f := newFixture(t)
	for i, mins := range []int{50, 10, 30, 20, 90} {
		r := dual(fmt.Sprintf("cl-d%d", i))
		r.PendingExpiresAt = t0.Add(time.Duration(mins) * time.Minute)
		f.create(r)
	}
	// cl-d3 (20 min) is decided: it leaves the pending index.
	f.vote("cl-d3", "U", approvals.DecisionDeny, t0, "oncall")
	checkDue(t, "DuePending", f.s.DuePending, []dueCase{
		{5 * time.Minute, 10, nil},
		{10 * time.Minute, 10, []string{"cl-d1"}},                        // at the deadline is due
		{60 * time.Minute, 10, []string{"cl-d1", "cl-d2", "cl-d0"}},      // soonest first
		{60 * time.Minute, 2, []string{"cl-d1", "cl-d2"}},                // limited
		{2 * time.Hour, 0, []string{"cl-d1", "cl-d2", "cl-d0", "cl-d4"}}, // no limit
	})
}

// dueCase is one due query: at t0+at, up to limit, the ids expected.
type dueCase struct {
	at    time.Duration
	limit int
	want  []string
}

func checkDue(t *testing.T, name string, due func(context.Context, time.Time, int) ([]string, error), cases []dueCase) {
	t.Helper()
	for _, tt := range cases {
		got, err := due(context.Background(), t0.Add(tt.at), tt.limit)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("%s(+%v, %d) = %v %v, want %v", name, tt.at, tt.limit, got, err, tt.want)
		}
	}
}

func TestDueExpiry(t *testing.T) {
	f := newFixture(t)
	for i, ttl := range []time.Duration{3 * time.Hour, time.Hour, 2 * time.Hour, 4 * time.Hour} {
		f.ready(fmt.Sprintf("cl-e%d", i), ttl, t0)
	}
	f.move("cl-e3", approvals.StatusDestroying, t0) // no longer ready: not due
	f.create(dual("cl-e9"))                         // pending: never in the expiry index
	checkDue(t, "DueExpiry", f.s.DueExpiry, []dueCase{
		{30 * time.Minute, 10, nil},
		{time.Hour, 10, []string{"cl-e1"}},
		{5 * time.Hour, 10, []string{"cl-e1", "cl-e2", "cl-e0"}},
		{5 * time.Hour, 1, []string{"cl-e1"}},
	})
}

func TestExtend(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	r := f.ready("cl-ext", time.Hour, t0)
	cursor := f.lastID()
	until := t0.Add(3 * time.Hour)
	got, err := f.s.Extend(ctx, r.ID, "UREQ", until, t0.Add(30*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if !got.ExpiresAt.Equal(until) || !got.UpdatedAt.Equal(t0.Add(30*time.Minute)) {
		t.Fatalf("expires %v updated %v", got.ExpiresAt, got.UpdatedAt)
	}
	if last := got.History[len(got.History)-1]; last.Type != "extended" || last.By != "UREQ" {
		t.Fatalf("last event %+v", last)
	}
	if due, _ := f.s.DueExpiry(ctx, t0.Add(2*time.Hour), 10); len(due) != 0 {
		t.Fatalf("extended clone still due at +2h: %v", due)
	}
	if due, _ := f.s.DueExpiry(ctx, until, 10); !slices.Equal(due, []string{r.ID}) {
		t.Fatalf("due at the new expiry: %v", due)
	}
	// the same expiry again changes nothing.
	if again, err := f.s.Extend(ctx, r.ID, "UREQ", until, t0.Add(40*time.Minute)); err != nil || !again.UpdatedAt.Equal(got.UpdatedAt) {
		t.Fatalf("repeated extend: %v %v", again, err)
	}
	if evs := f.typesAfter(cursor); !slices.Equal(evs, []string{"extended"}) {
		t.Fatalf("outbox %v", evs)
	}

	f.create(dual("cl-ext2"))
	if _, err := f.s.Extend(ctx, "cl-ext2", "UREQ", until, t0); !errors.Is(err, approvals.ErrNotActive) {
		t.Fatalf("extend pending: %v", err)
	}
	if _, err := f.s.Extend(ctx, "cl-none", "UREQ", until, t0); !errors.Is(err, approvals.ErrNotFound) {
		t.Fatalf("extend unknown: %v", err)
	}
}

func TestCancel(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.create(dual("cl-c"))
	got, err := f.s.Cancel(ctx, "cl-c", requester, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != approvals.StatusCancelled || f.indexesOf(got) != wantIndexes(approvals.StatusCancelled) {
		t.Fatalf("status %s indexes %+v", got.Status, f.indexesOf(got))
	}
	cursor := f.lastID()
	if _, err := f.s.Cancel(ctx, "cl-c", requester, t0.Add(2*time.Minute)); !errors.Is(err, approvals.ErrNotPending) {
		t.Fatalf("second cancel: %v", err)
	}
	f.create(single("cl-c2"))
	f.vote("cl-c2", lead.user, approvals.DecisionApprove, t0, lead.groups...)
	if _, err := f.s.Cancel(ctx, "cl-c2", requester, t0); !errors.Is(err, approvals.ErrNotPending) {
		t.Fatalf("cancel approved: %v", err)
	}
	if _, err := f.s.Cancel(ctx, "cl-none", requester, t0); !errors.Is(err, approvals.ErrNotFound) {
		t.Fatalf("cancel unknown: %v", err)
	}
	if evs := f.typesAfter(cursor); !slices.Equal(evs, []string{"requested", "voted", "approved"}) {
		t.Fatalf("outbox after the first cancel: %v", evs)
	}
}

func TestSetMessage(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.create(dual("cl-m"))
	cursor := f.lastID()
	for range 2 {
		if err := f.s.SetMessage(ctx, "cl-m", "C9", "1763800000.000200"); err != nil {
			t.Fatal(err)
		}
	}
	got := f.get("cl-m")
	if got.Channel != "C9" || got.MessageTS != "1763800000.000200" {
		t.Fatalf("channel %q ts %q", got.Channel, got.MessageTS)
	}
	if evs := f.typesAfter(cursor); !slices.Equal(evs, []string{"message"}) {
		t.Fatalf("outbox %v, want one message event", evs)
	}
	if err := f.s.SetMessage(ctx, "cl-none", "C9", "1"); !errors.Is(err, approvals.ErrNotFound) {
		t.Fatalf("unknown request: %v", err)
	}
}

func redisZ(t time.Time, id string) redis.Z {
	return redis.Z{Score: float64(t.UnixMilli()), Member: id}
}
