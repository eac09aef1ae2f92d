package agent

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/clonebot/clonebot/internal/testenv"
	"github.com/clonebot/clonebot/provisioner"
)

func TestEnqueueIsIdempotentPerRequest(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	q := NewQueue(rdb, prefix, "")
	ctx := context.Background()
	if err := q.EnsureGroup(ctx); err != nil {
		t.Fatal(err)
	}
	job := restoreJob("r1", "/backups/x.dump", "ref")
	for i, want := range []bool{true, false, false} {
		added, err := q.Enqueue(ctx, job)
		if err != nil || added != want {
			t.Fatalf("enqueue %d = %v, %v; want %v", i, added, err, want)
		}
	}
	if n := rdb.XLen(ctx, q.jobs).Val(); n != 1 {
		t.Fatalf("%d jobs for one request", n)
	}
	if _, err := q.Enqueue(ctx, Job{RequestID: "r2"}); !errors.Is(err, ErrInvalidJob) {
		t.Fatalf("invalid job: %v", err)
	}
}

func TestAbandonedJobIsReclaimedByAnotherAgent(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	q := NewQueue(rdb, prefix, "")
	ctx := context.Background()
	if err := q.EnsureGroup(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Enqueue(ctx, restoreJob("r1", "/b.dump", "ref")); err != nil {
		t.Fatal(err)
	}
	d1, err := q.Next(ctx, "a", time.Minute, 10*time.Millisecond)
	if err != nil || d1 == nil || d1.Job.Attempt != 1 {
		t.Fatalf("first delivery = %+v, %v", d1, err)
	}
	// Not idle long enough yet: b gets nothing.
	if d, err := q.Next(ctx, "b", time.Minute, 10*time.Millisecond); err != nil || d != nil {
		t.Fatalf("early reclaim = %+v, %v", d, err)
	}
	ageJobs(t, rdb, q, "a")
	d2, err := q.Next(ctx, "b", time.Minute, 10*time.Millisecond)
	if err != nil || d2 == nil || d2.ID != d1.ID || d2.Job.Attempt != 2 || d2.Job.RequestID != "r1" {
		t.Fatalf("reclaim = %+v, %v", d2, err)
	}
	// a lost it: its heartbeat says so, b's keeps it.
	if owned, err := q.Heartbeat(ctx, "a", d1); err != nil || owned {
		t.Fatalf("a heartbeat = %v, %v", owned, err)
	}
	if owned, err := q.Heartbeat(ctx, "b", d2); err != nil || !owned {
		t.Fatalf("b heartbeat = %v, %v", owned, err)
	}
}

func TestJobFailingRepeatedlyIsDeadLettered(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	down := secretsFunc(func(context.Context, string) (provisioner.Credentials, error) {
		return provisioner.Credentials{}, errors.New("secrets backend unreachable")
	})
	a, q := newTestAgent(t, rdb, prefix, "a", agentOpts{secrets: down, maxAttempts: 2})
	ctx := context.Background()
	if _, err := q.Enqueue(ctx, restoreJob("r1", "/b.dump", "ref")); err != nil {
		t.Fatal(err)
	}
	for attempt := 1; attempt <= 2; attempt++ {
		if got, err := a.RunOnce(ctx); err != nil || !got {
			t.Fatalf("attempt %d: %v, %v", attempt, got, err)
		}
		if attempt == 1 {
			for _, e := range events(t, q, "r1") {
				if e.State != StateRunning {
					t.Fatalf("a retryable failure published an end: %+v", e)
				}
			}
			ageJobs(t, rdb, q, "a")
		}
	}
	e := finalEvent(t, q, "r1")
	if e.State != StateFailed || !strings.Contains(e.Reason, "failed 2 times") {
		t.Fatalf("final = %+v", e)
	}
	if strings.Contains(e.Reason, "unreachable") {
		t.Fatalf("internal error shown to the user: %q", e.Reason)
	}
	dead, err := rdb.XRange(ctx, q.DeadKey(), "-", "+").Result()
	if err != nil || len(dead) != 1 || dead[0].Values["request_id"] != "r1" ||
		!strings.Contains(dead[0].Values["reason"].(string), "unreachable") {
		t.Fatalf("dead letters = %+v, %v", dead, err)
	}
	if p := rdb.XPending(ctx, q.jobs, q.group).Val(); p.Count != 0 {
		t.Fatalf("still pending: %+v", p)
	}
}

func TestEventRoundTrip(t *testing.T) {
	// fixed date: a pure encoding round trip; no server sees it
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	tests := []Event{
		{RequestID: "r1", State: StateRunning, Phase: PhaseData, Table: "public.users", Bytes: 1 << 20, Rows: 10, Rate: 5000, Attempt: 1, At: at},
		{RequestID: "r1", State: StateFailed, Reason: "the backup is corrupt", Attempt: 3, At: at},
		{RequestID: "r1", State: StateReady, Attempt: 1, At: at},
	}
	for _, want := range tests {
		got, err := ParseEvent(want.fields())
		if err != nil || got != want {
			t.Errorf("ParseEvent(fields(%+v)) = %+v, %v", want, got, err)
		}
	}
	if _, err := ParseEvent(map[string]any{"state": "ready"}); err == nil {
		t.Error("event without request id accepted")
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"defaults", func(*Config) {}, ""},
		{"no consumer", func(c *Config) { c.Consumer = "" }, "agent.consumer"},
		{"no min idle", func(c *Config) { c.MinIdle = 0 }, "agent.min_idle"},
		{"heartbeat too slow", func(c *Config) { c.Heartbeat = c.MinIdle }, "agent.heartbeat"},
		{"no attempts", func(c *Config) { c.MaxAttempts = 0 }, "agent.max_attempts"},
		{"no parallelism", func(c *Config) { c.Parallelism = 0 }, "agent.parallelism"},
		{"server's sort memory", func(c *Config) { c.SortMemory = "" }, ""},
		{"sort memory in GB", func(c *Config) { c.SortMemory = "2GB" }, ""},
		{"sort memory without unit", func(c *Config) { c.SortMemory = "8" }, "agent.sort_memory"},
		{"sort memory injection", func(c *Config) { c.SortMemory = "8MB'; DROP TABLE x; --" }, "agent.sort_memory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig("a1")
			tt.change(&c)
			err := c.Validate()
			if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("Validate = %v, want %q", err, tt.want)
			}
		})
	}
}
