package redisstore

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/clonebot/clonebot/approvals"
	"github.com/clonebot/clonebot/internal/testenv"
	"github.com/clonebot/clonebot/jobs"
)

// lose deletes every key of prefix, as FLUSHALL (or a failover to an empty replica) does to
// the keys of a Redis shared with other tests.
func lose(t *testing.T, rdb redis.UniversalClient, prefix string) {
	t.Helper()
	if err := NewDB(rdb, prefix).Purge(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// blockedIn returns once the client named name is blocked in cmd: a read is waiting on Redis.
func blockedIn(t *testing.T, rdb redis.UniversalClient, name, cmd string) {
	t.Helper()
	for range 500 {
		list, err := rdb.ClientList(context.Background()).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(list, "\n") {
			if strings.Contains(line, " name="+name+" ") && strings.Contains(line, " cmd="+cmd+" ") {
				return
			}
		}
		time.Sleep(10 * time.Millisecond) // polls Redis's own view of the client; asserts nothing by time
	}
	t.Fatalf("client %s never blocked in %s", name, cmd)
}

// named is a second connection to the test's Redis, named so CLIENT LIST shows it.
func named(t *testing.T, name string) *redis.Client {
	t.Helper()
	opts, err := redis.ParseURL(testenv.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	opts.ClientName = name
	c := redis.NewClient(opts)
	t.Cleanup(func() { c.Close() })
	return c
}

// TestReadersCarryOnWhenRedisLosesItsData: the agents' job reads and the replicas' event reads,
// waiting on their streams or not, go on without an error when Redis loses the streams and
// their groups, and see what is written afterwards; a job's heartbeat says it is gone.
func TestReadersCarryOnWhenRedisLosesItsData(t *testing.T) {
	ctx := context.Background()
	rdb, prefix := testenv.Redis(t)
	agentName, botName := testenv.UniqueName("agent-"), testenv.UniqueName("bot-")
	q := NewQueue(named(t, agentName), prefix, "")
	ev := NewEvents(named(t, botName), prefix)
	if err := q.EnsureGroup(ctx); err != nil {
		t.Fatal(err)
	}
	if err := ev.EnsureGroup(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Enqueue(ctx, restoreJob("r1", "/b.dump", "ref")); err != nil {
		t.Fatal(err)
	}
	running, err := q.Next(ctx, "a", time.Minute, -1)
	if err != nil || running == nil {
		t.Fatalf("first job: %+v, %v", running, err)
	}

	// step 1: an agent and a replica wait on their streams when the data goes.
	type result struct {
		what string
		err  error
	}
	results := make(chan result, 2)
	go func() {
		_, err := q.Next(ctx, "a", time.Minute, 300*time.Millisecond)
		results <- result{"waiting job read", err}
	}()
	go func() {
		_, err := ev.Read(ctx, "bot-1", false, 10, 300*time.Millisecond)
		results <- result{"waiting event read", err}
	}()
	blockedIn(t, rdb, agentName, "xreadgroup")
	blockedIn(t, rdb, botName, "xreadgroup")
	lose(t, rdb, prefix)
	for range 2 {
		if r := <-results; r.err != nil {
			t.Errorf("%s: %v", r.what, r.err)
		}
	}

	// step 2: the job that ran is gone, and its agent is told so.
	if owned, err := q.Heartbeat(ctx, "a", running); err != nil || owned {
		t.Errorf("heartbeat of a job Redis lost: owned %v, %v; want false, nil", owned, err)
	}

	// step 3: every read without waiting, and what is written after the loss is delivered.
	lose(t, rdb, prefix)
	if err := ev.ClaimIdle(ctx, "bot-1", time.Minute, 10); err != nil {
		t.Errorf("claim idle events after the loss: %v", err)
	}
	lose(t, rdb, prefix)
	if d, err := q.Next(ctx, "a", time.Minute, -1); err != nil || d != nil {
		t.Errorf("job read after the loss: %+v, %v", d, err)
	}
	if _, err := q.Enqueue(ctx, restoreJob("r2", "/b.dump", "ref")); err != nil {
		t.Fatal(err)
	}
	if d, err := q.Next(ctx, "b", time.Minute, -1); err != nil || d == nil || d.Job.RequestID != "r2" {
		t.Errorf("job enqueued after the loss: %+v, %v", d, err)
	}
	lose(t, rdb, prefix)
	if _, err := ev.Read(ctx, "bot-1", true, 10, -1); err != nil {
		t.Errorf("pending events after the loss: %v", err)
	}
	if err := q.Publish(ctx, jobs.Event{RequestID: "r2", State: jobs.StateReady, At: t0}); err != nil {
		t.Fatal(err)
	}
	got, err := ev.Read(ctx, "bot-1", false, 10, -1)
	if err != nil || len(got) != 1 || got[0].Event.RequestID != "r2" {
		t.Errorf("event published after the loss: %+v, %v", got, err)
	}
}

// TestSweepLeaseAndSentinel: the sweep's lease is one owner's for its ttl; the sentinel is
// planted once, and again only after Redis lost its data.
func TestSweepLeaseAndSentinel(t *testing.T) {
	ctx := context.Background()
	rdb, prefix := testenv.Redis(t)
	s := New(rdb, prefix)
	if err := s.AcquireSweep(ctx, "bot-1", time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.AcquireSweep(ctx, "bot-2", time.Minute); !errors.Is(err, approvals.ErrLeaseHeld) {
		t.Fatalf("a second owner took the sweep: %v", err)
	}
	if err := s.ReleaseSweep(ctx, "bot-2"); err != nil {
		t.Fatal(err)
	}
	if err := s.AcquireSweep(ctx, "bot-2", time.Minute); !errors.Is(err, approvals.ErrLeaseHeld) {
		t.Fatalf("another owner's release freed the sweep: %v", err)
	}
	if err := s.ReleaseSweep(ctx, "bot-1"); err != nil {
		t.Fatal(err)
	}
	if err := s.AcquireSweep(ctx, "bot-2", time.Minute); err != nil {
		t.Fatalf("released sweep not taken: %v", err)
	}
	for i, want := range []bool{true, false, false} {
		if planted, err := s.PlantSentinel(ctx); err != nil || planted != want {
			t.Fatalf("sentinel %d: planted %v, %v; want %v", i, planted, err, want)
		}
	}
	lose(t, rdb, prefix)
	if planted, err := s.PlantSentinel(ctx); err != nil || !planted {
		t.Fatalf("sentinel after the loss: planted %v, %v; want true", planted, err)
	}
}
