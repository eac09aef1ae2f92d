package pgstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/clonebot/clonebot/approvals"
	"github.com/clonebot/clonebot/audit"
	"github.com/clonebot/clonebot/internal/testenv"
	"github.com/clonebot/clonebot/redisstore"
)

// stepClock hands each wait of Run to the test, which releases it: passes happen when the
// test says, and the test knows when each pass is over.
type stepClock struct {
	waits chan time.Duration
	fire  chan time.Time
}

func (c *stepClock) Now() time.Time { return testenv.Now() }
func (c *stepClock) After(d time.Duration) <-chan time.Time {
	c.waits <- d
	return c.fire
}

// engine makes requests move in the real request store, so the outbox fills as in production.
type engine struct {
	t      *testing.T
	s      *redisstore.Store
	rdb    *redis.Client
	outbox string // the outbox's key
	now    time.Time
	n      int
}

func newEngine(t *testing.T) *engine {
	c, prefix := testenv.Redis(t)
	e := &engine{t: t, now: t0, rdb: c, outbox: prefix + "{clonebot}:outbox"}
	e.s = redisstore.New(c, prefix, redisstore.WithClock(func() time.Time { return e.now }))
	return e
}

// clone runs one auto-approved request to ready and destroyed: 8 outbox events.
func (e *engine) clone() {
	e.t.Helper()
	e.n++
	ctx := context.Background()
	id := fmt.Sprintf("cl-%06d", e.n)
	r := &approvals.Request{ID: id, Requester: "UDEV", Team: "web", Source: "prod", Tier: "dev", Masking: approvals.MaskFull,
		Mode: approvals.ModeAuto, TTL: time.Hour, Status: approvals.StatusApproved, CreatedAt: e.now}
	if err := e.s.Create(ctx, r, approvals.Limits{}); err != nil {
		e.t.Fatal(err)
	}
	if err := e.s.SetMessage(ctx, id, "CREQ", "1.2"); err != nil {
		e.t.Fatal(err)
	}
	for _, st := range []approvals.Status{approvals.StatusProvisioning, approvals.StatusRestoring, approvals.StatusReady, approvals.StatusDestroying, approvals.StatusDestroyed} {
		if _, err := e.s.Transition(ctx, approvals.TransitionInput{RequestID: id, To: st, By: audit.SystemActor, At: e.now}); err != nil {
			e.t.Fatal(err)
		}
	}
}

// outboxIDs lists the outbox's entries now.
func (e *engine) outboxIDs() []string {
	evs, err := e.s.ReadOutbox(context.Background(), "", 0)
	if err != nil {
		e.t.Fatal(err)
	}
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.ID
	}
	return out
}

// TestConsumerLivesThroughAnOutage: PostgreSQL (a server of the test's own) is stopped while
// requests keep changing; the consumer backs off, the backlog grows, nothing is trimmed; when
// the server returns the backlog drains, and the log holds every outbox event exactly once, in
// stream order, in a chain that verifies.
func TestConsumerLivesThroughAnOutage(t *testing.T) {
	ctx := context.Background()
	srv, err := testenv.StartServer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	log := open(t, srv.URL)
	eng := newEngine(t)
	clock := &stepClock{waits: make(chan time.Duration), fire: make(chan time.Time)}
	c := audit.NewConsumer(eng.s.AuditOutbox(), log, audit.ConsumerConfig{Batch: 10, Clock: clock, PassTimeout: 10 * time.Second,
		MinBackoff: time.Second, MaxBackoff: 8 * time.Second, Interval: 500 * time.Millisecond}, zaptest.NewLogger(t))
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- c.Run(runCtx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	var produced []string
	// pass makes n clones, notes the outbox, lets one pass run and returns the wait Run asked for after it.
	pass := func(n int) time.Duration {
		for range n {
			eng.clone()
		}
		produced = append(produced, eng.outboxIDs()...)
		clock.fire <- time.Time{}
		return <-clock.waits
	}
	if first := <-clock.waits; first != 500*time.Millisecond { // the first pass, on an empty outbox
		t.Fatalf("first wait %s", first)
	}
	// step 1: events flow.
	for range 3 {
		if wait := pass(4); wait != 500*time.Millisecond {
			t.Fatalf("healthy pass: wait %s, status %+v", wait, c.Status())
		}
	}
	// step 2: the server goes away while events keep coming.
	if err := srv.Halt(); err != nil {
		t.Fatal(err)
	}
	var backlog int64
	for i, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second} {
		if wait := pass(3); wait != want {
			t.Fatalf("failed pass %d: wait %s, want %s (status %+v)", i+1, wait, want, c.Status())
		}
		b, err := c.Backlog(ctx)
		if err != nil || b <= backlog {
			t.Fatalf("backlog %d after %d, %v: it must grow during the outage", b, backlog, err)
		}
		backlog = b
	}
	if backlog != 5*3*8 {
		t.Fatalf("backlog %d, want the 120 events of the outage", backlog)
	}
	// step 3: it returns; passes run until one succeeds.
	if err := srv.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		if wait := pass(0); wait == 500*time.Millisecond {
			break
		}
		if i == 5 {
			t.Fatalf("no pass succeeded after the server came back: %+v", c.Status())
		}
	}
	// step 4: everything once, in order, chained; the outbox empty.
	produced = slices.Compact(slices.Sorted(slices.Values(produced)))
	if got := ids(t, log); !slices.Equal(got, orderedStreamIDs(produced)) {
		t.Fatalf("log holds %d events, outbox had %d distinct: lost or doubled", len(got), len(produced))
	}
	if v := verify(t, log); v.Rows != int64(len(produced)) || len(produced) != 8*(12+15) {
		t.Fatalf("verified %d rows of %d produced", v.Rows, len(produced))
	}
	if b, err := c.Backlog(ctx); err != nil || b != 0 {
		t.Fatalf("backlog %d after draining, %v", b, err)
	}
}

// orderedStreamIDs sorts stream ids numerically (ms, then seq).
func orderedStreamIDs(ids []string) []string {
	out := slices.Clone(ids)
	key := func(id string) (int64, int64) {
		ms, seq, _ := strings.Cut(id, "-")
		a, _ := strconv.ParseInt(ms, 10, 64)
		b, _ := strconv.ParseInt(seq, 10, 64)
		return a, b
	}
	slices.SortFunc(out, func(x, y string) int {
		xa, xb := key(x)
		ya, yb := key(y)
		return cmp.Or(cmp.Compare(xa, ya), cmp.Compare(xb, yb))
	})
	return out
}

// cursorless forgets the cursor, as a consumer that lost it (or a replica that read the outbox
// before another trimmed it) would.
type cursorless struct{ *Store }

func (cursorless) Cursor(context.Context, string) (string, error) { return "", nil }

// trimless fails every trim: the commit happened, the outbox did not hear of it.
type trimless struct{ redisstore.AuditOutbox }

func (trimless) Trim(context.Context, string) error { return fmt.Errorf("redis: connection reset") }

// TestRedeliveryIsNotDoubled: events committed but left in the outbox (the trim failed) are read
// again by a consumer without a cursor and not appended twice.
func TestRedeliveryIsNotDoubled(t *testing.T) {
	ctx := context.Background()
	log := open(t, testenv.Postgres(t))
	eng := newEngine(t)
	for range 5 {
		eng.clone()
	}
	first := audit.NewConsumer(trimless{eng.s.AuditOutbox()}, log, audit.ConsumerConfig{Batch: 7}, zap.NewNop())
	if n, _, err := first.Drain(ctx); err == nil || n != 7 {
		t.Fatalf("first consumer: %d appended, %v; want 7 and the trim's error", n, err)
	}
	second := audit.NewConsumer(eng.s.AuditOutbox(), cursorless{log}, audit.ConsumerConfig{Batch: 7}, zap.NewNop())
	n, _, err := second.Drain(ctx)
	if err != nil || n != 40-7 {
		t.Fatalf("second consumer: %d appended, %v; want the 33 the first did not append", n, err)
	}
	if got := ids(t, log); len(got) != 40 {
		t.Fatalf("%d rows, want 40", len(got))
	}
	verify(t, log)
	if left := eng.outboxIDs(); len(left) != 0 {
		t.Fatalf("outbox keeps %d events", len(left))
	}
}

// TestTwoConsumersOneChain: two replicas' consumers drain one outbox into one log at the same
// time as requests change; every event is in the chain once, in stream order.
func TestTwoConsumersOneChain(t *testing.T) {
	ctx := context.Background()
	url := testenv.Postgres(t)
	eng := newEngine(t)
	var consumers []*audit.Consumer
	for range 2 {
		consumers = append(consumers, audit.NewConsumer(eng.s.AuditOutbox(), open(t, url), audit.ConsumerConfig{Batch: 5}, zap.NewNop()))
	}
	produced := make(chan struct{})
	errs := make(chan error, 2)
	for _, c := range consumers {
		go func() {
			for {
				select {
				case <-produced: // one last pass after the producer is done
					_, _, err := c.Drain(ctx)
					errs <- err
					return
				default:
				}
				if _, _, err := c.Drain(ctx); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for range 30 {
		eng.clone()
	}
	close(produced)
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	// every clone's eight events, once each, in the order the outbox had them
	log := open(t, url)
	var got []string
	events := map[string]bool{}
	err := log.Scan(ctx, func(r audit.Record) error {
		got = append(got, r.ID)
		events[r.RequestID+" "+r.Action] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 30*8 || len(events) != 30*8 || !slices.Equal(got, orderedStreamIDs(got)) {
		t.Fatalf("log holds %d events (%d distinct), want 240 in stream order", len(got), len(events))
	}
	verify(t, log)
}

// TestConsumerCarriesOnAfterRedisLosesTheOutbox: the outbox is lost with the rest of Redis, and
// the Redis that takes over stamps its entries by a clock an hour behind the old one, so the new
// events' ids are all before the log's cursor. The consumer appends them anyway, and then what
// follows: nothing written after the loss is skipped or trimmed unread.
func TestConsumerCarriesOnAfterRedisLosesTheOutbox(t *testing.T) {
	ctx := context.Background()
	log := open(t, testenv.Postgres(t))
	eng := newEngine(t)
	c := audit.NewConsumer(eng.s.AuditOutbox(), log, audit.ConsumerConfig{Batch: 5}, zaptest.NewLogger(t))
	drain := func(what string, want int) {
		t.Helper()
		n, more, err := c.Drain(ctx)
		if err != nil || more || n != want {
			t.Fatalf("%s: %d appended (more %v), %v; want %d", what, n, more, err, want)
		}
	}
	// step 1: events stamped by the old Redis, whose clock ran an hour ahead.
	for range 2 {
		eng.clone()
	}
	old, err := eng.rdb.XRange(ctx, eng.outbox, "-", "+").Result()
	if err != nil || len(old) != 16 {
		t.Fatalf("outbox: %d events, %v", len(old), err)
	}
	ahead := time.Now().Add(time.Hour).UnixMilli()
	if err := eng.rdb.Del(ctx, eng.outbox).Err(); err != nil {
		t.Fatal(err)
	}
	for i, m := range old {
		if err := eng.rdb.XAdd(ctx, &redis.XAddArgs{Stream: eng.outbox, ID: fmt.Sprintf("%d-%d", ahead, i), Values: m.Values}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	drain("before the loss", 16)
	// step 2: Redis loses everything; the new one's ids start an hour before the cursor.
	if err := eng.rdb.Del(ctx, eng.outbox).Err(); err != nil {
		t.Fatal(err)
	}
	drain("right after the loss", 0)
	eng.clone()
	drain("after the loss", 8)
	eng.clone()
	drain("after that", 8)
	if got := ids(t, log); len(got) != 32 {
		t.Fatalf("log holds %d events, want the 32 written", len(got))
	}
	verify(t, log)
	if left := eng.outboxIDs(); len(left) != 0 {
		t.Fatalf("outbox keeps %d events", len(left))
	}
}
