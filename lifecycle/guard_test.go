package lifecycle

import (
	"slices"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/clonebot/clonebot/approvals"
	"github.com/clonebot/clonebot/jobs"
	"github.com/clonebot/clonebot/provisioner"
)

// outboxTypes lists the types of the outbox events of id (a request or a golden copy), in order.
func (f *fixture) outboxTypes(id string) []string {
	f.t.Helper()
	evs, err := f.store.ReadOutbox(f.ctx, "", 0)
	if err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for _, e := range evs {
		if e.RequestID == id {
			out = append(out, e.Type)
		}
	}
	return out
}

// TestExpiryGuardRevokesWithoutTheLoop: with no loop running (serve stopped), the guard
// revokes a clone at its expiry, once however many passes and guards run, and not while the
// loop holds the request's lease; the loop, back, destroys it without revoking it again.
func TestExpiryGuardRevokesWithoutTheLoop(t *testing.T) {
	f := newFixture(t)
	rv := &revoker{Provisioner: f.prov}
	backends := provisioner.Backends{"prod": {Provisioner: rv, Strategy: provisioner.StrategyRestore}}
	m := f.manager("bot-1", func(_ *Config, d *Deps) { d.Backends = backends })
	guard := func(owner string) *ExpiryGuard {
		g, err := NewExpiryGuard(GuardConfig{Owner: owner, Interval: time.Second, LeaseTTL: 30 * time.Second},
			f.store, backends, zaptest.NewLogger(t), f.clock.Now)
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	g1, g2 := guard("agent-1"), guard("agent-2")
	pass := func(g *ExpiryGuard, want int) {
		t.Helper()
		if n, err := g.Pass(f.ctx); err != nil || n != want {
			t.Fatalf("pass revoked %d, %v; want %d", n, err, want)
		}
	}
	r := f.request(approvals.StatusApproved)
	f.tick(m)
	f.finish(f.nextJob(), jobs.Event{State: jobs.StateReady})
	f.tick(m)
	r = f.wantStatus(r.ID, approvals.StatusReady)

	// step 1: before the expiry nothing is revoked; the guard waits for it.
	f.clock.Set(r.ExpiresAt.Add(-time.Minute))
	pass(g1, 0)
	if wait := g1.untilNext(f.ctx, f.clock.Now()); wait != time.Second {
		t.Fatalf("a minute before the expiry the guard waits %s, want its interval", wait)
	}
	f.clock.Set(r.ExpiresAt.Add(-300 * time.Millisecond))
	if wait := g1.untilNext(f.ctx, f.clock.Now()); wait != 301*time.Millisecond {
		t.Fatalf("300ms before the expiry the guard waits %s, want until just after it", wait)
	}
	passed := f.clock.Now()
	f.clock.Set(r.ExpiresAt.Add(10 * time.Millisecond)) // the expiry came while that pass ran
	if wait := g1.untilNext(f.ctx, passed); wait != time.Millisecond {
		t.Fatalf("after a pass that ended past the expiry the guard waits %s, want to pass again at once", wait)
	}
	// step 2: expired while the loop holds the lease (a step of serve's under way): left to it.
	f.clock.Set(r.ExpiresAt.Add(time.Second))
	if err := f.store.AcquireLease(f.ctx, r.ID, "bot-1", time.Minute); err != nil {
		t.Fatal(err)
	}
	pass(g1, 0)
	if err := f.store.ReleaseLease(f.ctx, r.ID, "bot-1"); err != nil {
		t.Fatal(err)
	}
	// A backend without a Revoker is left to the loop's destroy.
	plain, err := NewExpiryGuard(GuardConfig{Owner: "agent-3", Interval: time.Second, LeaseTTL: 30 * time.Second}, f.store,
		provisioner.Backends{"prod": {Provisioner: f.prov, Strategy: provisioner.StrategyRestore}}, zaptest.NewLogger(t), f.clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	pass(plain, 0)
	if !plain.settled[r.ID] {
		t.Fatal("a clone its backend cannot revoke is looked at again on every pass")
	}
	// step 3: serve is stopped: the guard revokes it, once.
	pass(g1, 1)
	pass(g1, 0)
	pass(g2, 0)
	if !slices.Equal(rv.revoked, []string{r.ID}) {
		t.Fatalf("revoked %v, want %s once", rv.revoked, r.ID)
	}
	f.wantStatus(r.ID, approvals.StatusReady)
	// step 4: serve is back: its loop destroys the clone and does not revoke it again.
	f.tick(m)
	f.tick(m)
	f.wantDestroyed(m, r.ID)
	if !slices.Equal(rv.revoked, []string{r.ID}) {
		t.Fatalf("revoked %v after the loop's destroy, want %s once", rv.revoked, r.ID)
	}
	types := f.outboxTypes(r.ID)
	if n := len(slices.DeleteFunc(slices.Clone(types), func(s string) bool { return s != "credentials_revoked" })); n != 1 {
		t.Fatalf("outbox %v: want credentials_revoked once", types)
	}
	if i, j := slices.Index(types, "credentials_revoked"), slices.Index(types, "destroying"); i < 0 || j < i {
		t.Fatalf("outbox %v: want credentials_revoked before destroying", types)
	}
	pass(g1, 0)
}
