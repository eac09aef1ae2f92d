package audit

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
)

// fakeOutbox is an Outbox with function fields.
type fakeOutbox struct {
	read   func(afterID string, count int) ([]Event, error)
	trim   func(throughID string) error
	length func() (int64, error)
}

func (f fakeOutbox) Read(_ context.Context, afterID string, count int) ([]Event, error) {
	return f.read(afterID, count)
}
func (f fakeOutbox) Trim(_ context.Context, throughID string) error { return f.trim(throughID) }
func (f fakeOutbox) Len(context.Context) (int64, error)             { return f.length() }

// fakeLog is a Log with function fields.
type fakeLog struct {
	cursor     func(name string) (string, error)
	requestCtx func(ids []string) (map[string]RequestContext, error)
	appendFn   func(cursor string, events []Event) (Appended, error)
}

func (f fakeLog) Cursor(_ context.Context, name string) (string, error) { return f.cursor(name) }
func (f fakeLog) RequestContext(_ context.Context, ids []string) (map[string]RequestContext, error) {
	return f.requestCtx(ids)
}
func (f fakeLog) Append(_ context.Context, cursor string, events []Event) (Appended, error) {
	return f.appendFn(cursor, events)
}

// memOutbox is a slice of events behind a fakeOutbox.
type memOutbox struct{ events []Event }

func (m *memOutbox) fake() fakeOutbox {
	return fakeOutbox{
		read: func(after string, count int) ([]Event, error) {
			i := slices.IndexFunc(m.events, func(e Event) bool { return after == "" || e.ID > after })
			if i < 0 {
				return nil, nil
			}
			return slices.Clone(m.events[i:min(len(m.events), i+count)]), nil
		},
		trim: func(through string) error {
			m.events = slices.DeleteFunc(m.events, func(e Event) bool { return e.ID <= through })
			return nil
		},
		length: func() (int64, error) { return int64(len(m.events)), nil },
	}
}

// memLog appends to a slice, deduplicating by id, unless fail says otherwise.
type memLog struct {
	rows   []Event
	cursor string
	fail   func() error
}

func (m *memLog) fake() fakeLog {
	return fakeLog{
		cursor:     func(string) (string, error) { return m.cursor, nil },
		requestCtx: func([]string) (map[string]RequestContext, error) { return nil, nil },
		appendFn: func(_ string, events []Event) (Appended, error) {
			if m.fail != nil {
				if err := m.fail(); err != nil {
					return Appended{}, err
				}
			}
			n := 0
			for _, e := range events {
				if !slices.ContainsFunc(m.rows, func(r Event) bool { return r.ID == e.ID }) {
					m.rows, n = append(m.rows, e), n+1
				}
			}
			m.cursor = events[len(events)-1].ID
			return Appended{N: n, Cursor: m.cursor}, nil
		},
	}
}

func outboxEvents(n int) []Event {
	out := make([]Event, n)
	for i := range out {
		out[i] = Event{ID: fmt.Sprintf("%03d-0", i+1), Action: "voted", RequestID: "cl-1", Actor: "U1", At: time.Unix(int64(i), 0),
			Details: map[string]string{"tier": "dev", "source": "prod", "channel": "C1"}}
	}
	return out
}

// stepClock hands each wait Run asks for to the test, which releases it.
type stepClock struct {
	waits chan time.Duration
	fire  chan time.Time
}

func newStepClock() *stepClock {
	return &stepClock{waits: make(chan time.Duration), fire: make(chan time.Time)}
}
func (c *stepClock) Now() time.Time { return time.Unix(0, 0) }
func (c *stepClock) After(d time.Duration) <-chan time.Time {
	c.waits <- d
	return c.fire
}

func TestBackoff(t *testing.T) {
	tests := []struct {
		failures int
		want     time.Duration
	}{{1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second}, {6, 32 * time.Second}, {7, time.Minute}, {1000, time.Minute}}
	for _, tt := range tests {
		if got := Backoff(tt.failures, time.Second, time.Minute); got != tt.want {
			t.Errorf("Backoff(%d) = %s, want %s", tt.failures, got, tt.want)
		}
	}
}

// TestDrainBatchesAndTrims: a pass appends batch by batch, trims after each commit, and stops
// after MaxBatches saying more is waiting.
func TestDrainBatchesAndTrims(t *testing.T) {
	out := &memOutbox{events: outboxEvents(5)}
	log := &memLog{}
	var trims []string
	ob := out.fake()
	trim := ob.trim
	ob.trim = func(id string) error { trims = append(trims, id); return trim(id) }
	c := NewConsumer(ob, log.fake(), ConsumerConfig{Batch: 2, MaxBatches: 2}, zap.NewNop())
	n, more, err := c.Drain(context.Background())
	if err != nil || n != 4 || !more {
		t.Fatalf("first pass: %d, more %v, %v; want 4 and more", n, more, err)
	}
	if !slices.Equal(trims, []string{"002-0", "004-0"}) {
		t.Fatalf("trims %v", trims)
	}
	if n, more, err = c.Drain(context.Background()); err != nil || n != 1 || more {
		t.Fatalf("second pass: %d, more %v, %v; want 1, no more", n, more, err)
	}
	if backlog, _ := c.Backlog(context.Background()); backlog != 0 || len(log.rows) != 5 {
		t.Fatalf("backlog %d, log %d rows", backlog, len(log.rows))
	}
}

// TestDrainKeepsEventsWhenAppendFails: nothing is trimmed before a commit.
func TestDrainKeepsEventsWhenAppendFails(t *testing.T) {
	out := &memOutbox{events: outboxEvents(3)}
	log := &memLog{fail: func() error { return errors.New("connection refused") }}
	c := NewConsumer(out.fake(), log.fake(), ConsumerConfig{}, zap.NewNop())
	if _, _, err := c.Drain(context.Background()); err == nil {
		t.Fatal("no error from a failing log")
	}
	if backlog, _ := c.Backlog(context.Background()); backlog != 3 {
		t.Fatalf("backlog %d after a failed append, want 3", backlog)
	}
}

// TestRunBacksOffThenDrains: failed passes wait 1s, 2s, then the cap; the pass after the outage
// drains everything; the status says so.
func TestRunBacksOffThenDrains(t *testing.T) {
	out := &memOutbox{events: outboxEvents(5)}
	failures := 3
	log := &memLog{fail: func() error {
		if failures > 0 {
			failures--
			return errors.New("connection refused")
		}
		return nil
	}}
	clock := newStepClock()
	c := NewConsumer(out.fake(), log.fake(), ConsumerConfig{Clock: clock, MaxBackoff: 3 * time.Second, Interval: 5 * time.Second}, zaptest.NewLogger(t))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Run(ctx) }()
	for i, want := range []time.Duration{time.Second, 2 * time.Second, 3 * time.Second, 5 * time.Second} {
		if got := <-clock.waits; got != want {
			t.Fatalf("wait %d = %s, want %s", i, got, want)
		}
		if i == 2 {
			if st := c.Status(); st.Failures != 3 || st.LastError == "" {
				t.Fatalf("status during the outage: %+v", st)
			}
		}
		if i < 3 {
			clock.fire <- time.Time{}
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st := c.Status(); st.Failures != 0 || st.Appended != 5 || st.LastError != "" {
		t.Fatalf("status after the outage: %+v", st)
	}
	if len(log.rows) != 5 || len(out.events) != 0 {
		t.Fatalf("log %d rows, outbox %d events; want 5 and 0", len(log.rows), len(out.events))
	}
}

// TestPrepareFillsTheRequestContext: tier, source and channel come from the event's details,
// then the request's earlier events in the batch, then the log; names are looked up once.
func TestPrepareFillsTheRequestContext(t *testing.T) {
	events := []Event{
		{ID: "1-0", Action: ActionRequested, RequestID: "cl-a", Actor: "U1", Details: map[string]string{"tier": "debug", "source": "prod"}},
		{ID: "2-0", Action: ActionMessage, RequestID: "cl-a", Actor: SystemActor, Details: map[string]string{"channel": "C9"}},
		{ID: "3-0", Action: ActionVoted, RequestID: "cl-a", Actor: "U2"},
		{ID: "4-0", Action: ActionReady, RequestID: "cl-b", Actor: SystemActor},
		{ID: "5-0", Action: ActionVoted, RequestID: "cl-b", Actor: "U1"},
	}
	var asked []string
	var lookups []string
	log := fakeLog{requestCtx: func(ids []string) (map[string]RequestContext, error) {
		asked = ids
		return map[string]RequestContext{"cl-b": {Tier: "dev", Source: "orders", Channel: "C2"}}, nil
	}}
	names := func(_ context.Context, id string) string { lookups = append(lookups, id); return "name of " + id }
	c := NewConsumer(fakeOutbox{}, log, ConsumerConfig{ActorName: names}, zap.NewNop())
	if err := c.prepare(context.Background(), events, map[string]string{}); err != nil {
		t.Fatal(err)
	}
	want := []RequestContext{{"debug", "prod", ""}, {"debug", "prod", "C9"}, {"debug", "prod", "C9"}, {"dev", "orders", "C2"}, {"dev", "orders", "C2"}}
	for i, e := range events {
		if got := (RequestContext{e.Tier, e.Source, e.Channel}); got != want[i] {
			t.Errorf("event %s: %+v, want %+v", e.ID, got, want[i])
		}
	}
	if !slices.Equal(asked, []string{"cl-a", "cl-b"}) {
		t.Errorf("asked the log about %v", asked)
	}
	if !slices.Equal(lookups, []string{"U1", "U2"}) || events[4].ActorName != "name of U1" || events[1].ActorName != "" {
		t.Errorf("name lookups %v; names %q %q", lookups, events[4].ActorName, events[1].ActorName)
	}
}

// TestDrainProgressesWhenTheLogCursorLags: a pass goes on after each batch even if the log
// returns no cursor (or an old one), since every event of an appended batch is in the log.
func TestDrainProgressesWhenTheLogCursorLags(t *testing.T) {
	out := &memOutbox{events: outboxEvents(5)}
	ob := out.fake()
	read := ob.read
	var afters []string
	ob.read = func(after string, n int) ([]Event, error) { afters = append(afters, after); return read(after, n) }
	log := fakeLog{
		cursor:     func(string) (string, error) { return "", nil },
		requestCtx: func([]string) (map[string]RequestContext, error) { return nil, nil },
		appendFn:   func(string, []Event) (Appended, error) { return Appended{N: 0, Cursor: ""}, nil },
	}
	c := NewConsumer(ob, log, ConsumerConfig{Batch: 2}, zap.NewNop())
	if _, more, err := c.Drain(context.Background()); err != nil || more {
		t.Fatalf("Drain: more %v, %v", more, err)
	}
	if !slices.Equal(afters, []string{"", "002-0", "004-0"}) || len(out.events) != 0 {
		t.Fatalf("read after %q; %d events left", afters, len(out.events))
	}
}
