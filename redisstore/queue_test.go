package redisstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/clonebot/clonebot/internal/testenv"
	"github.com/clonebot/clonebot/jobs"
	"github.com/clonebot/clonebot/provisioner"
)

func restoreJob(id, backup, target string) jobs.Job {
	return jobs.Job{RequestID: id, Backup: jobs.BackupRef{Location: backup}, Strategy: provisioner.StrategyRestore,
		TargetRef: target, MaskLevel: "full", Parallelism: 2}
}

// ageJobs makes every job consumer holds look idle for an hour, as if its agent had died.
func ageJobs(t *testing.T, rdb *redis.Client, q *Queue, consumer string) {
	t.Helper()
	ctx := context.Background()
	pend, err := rdb.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: q.jobs, Group: q.group, Start: "-", End: "+", Count: 100, Consumer: consumer}).Result()
	if err != nil || len(pend) == 0 {
		t.Fatalf("%s has no pending job (%v)", consumer, err)
	}
	for _, p := range pend {
		if err := rdb.Do(ctx, "XCLAIM", q.jobs, q.group, consumer, 0, p.ID, "IDLE", time.Hour.Milliseconds(), "JUSTID").Err(); err != nil {
			t.Fatal(err)
		}
	}
}

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
	if _, err := q.Enqueue(ctx, jobs.Job{RequestID: "r2"}); !errors.Is(err, jobs.ErrInvalidJob) {
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

func TestEventRoundTrip(t *testing.T) {
	// fixed date: a pure encoding round trip; no server sees it
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	tests := []jobs.Event{
		{RequestID: "r1", State: jobs.StateRunning, Phase: jobs.PhaseData, Table: "public.users", Bytes: 1 << 20, Rows: 10, Rate: 5000, Attempt: 1, At: at},
		{RequestID: "r1", State: jobs.StateRunning, Phase: jobs.PhasePreData, Attempt: 2, MaxAttempts: 3, At: at.Add(time.Nanosecond)},
		{RequestID: "r1", State: jobs.StateFailed, Reason: "the backup is corrupt", Attempt: 3, At: at},
		{RequestID: "r1", State: jobs.StateReady, Attempt: 1, At: at},
	}
	for _, want := range tests {
		got, err := ParseEvent(eventFields(want))
		if err != nil || got != want {
			t.Errorf("ParseEvent(eventFields(%+v)) = %+v, %v", want, got, err)
		}
	}
	if _, err := ParseEvent(map[string]any{"state": "ready"}); err == nil {
		t.Error("event without request id accepted")
	}
}
