package agent

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/clonebot/clonebot/agent/mask"
	"github.com/clonebot/clonebot/internal/testenv"
	"github.com/clonebot/clonebot/jobs"
	"github.com/clonebot/clonebot/redisstore"
)

// helperEnv makes the test binary run as a real agent process (see TestMain).
const helperEnv = "CLONEBOT_AGENT_HELPER"

// helperAgent runs an agent until it is killed, on the Redis and key prefix given in the
// environment.
func helperAgent() int {
	opts, err := redis.ParseURL(os.Getenv("CLONEBOT_AGENT_REDIS"))
	if err != nil {
		return 2
	}
	rules, err := mask.ParseRules([]byte(fullRules))
	if err != nil {
		return 2
	}
	cfg := DefaultConfig("doomed")
	cfg.MinIdle, cfg.Block = time.Hour, 50*time.Millisecond
	q := newQueue(redis.NewClient(opts), os.Getenv("CLONEBOT_AGENT_PREFIX"))
	a, err := New(cfg, Deps{Queue: q, Secrets: urlSecrets{}, Rules: rules, MaskKey: testKey, Log: zap.NewNop()})
	if err != nil {
		return 2
	}
	if err := a.Run(context.Background()); err != nil {
		return 1
	}
	return 0
}

// slowTable makes loading data slow on the restore side only: its check constraint sleeps
// 2 ms per row unless the session set clonebot.fast (the source's does), so the agent is
// surely killed in the middle of the data phase.
const slowTable = `
CREATE FUNCTION public.slow_ok(i int) RETURNS boolean LANGUAGE sql IMMUTABLE AS
  $$ SELECT true FROM pg_catalog.pg_sleep(CASE WHEN pg_catalog.current_setting('clonebot.fast', true) = 'on' THEN 0 ELSE 0.002 END) $$;
CREATE TABLE public.slow (id int PRIMARY KEY CHECK (public.slow_ok(id)), payload text);
SET clonebot.fast = 'on';
INSERT INTO public.slow SELECT g, md5(g::text) FROM generate_series(1, 1500) g;
`

func TestCrashedAgentJobIsReclaimed(t *testing.T) {
	src := newSource(t, 2000)
	execURL(t, src, slowTable)
	file := dump(t, src, "prod.dump", "-Fc")
	ref := pgRestore(t, file)
	rdb, prefix := testenv.Redis(t)
	b, q := newTestAgent(t, rdb, prefix, "survivor", agentOpts{})
	target := testenv.Postgres(t)
	ctx := context.Background()
	if _, err := q.Enqueue(ctx, restoreJob("crash", file, target)); err != nil {
		t.Fatal(err)
	}

	// step 1: a real agent process takes the job; kill it once the data phase has begun.
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=1", "CLONEBOT_AGENT_REDIS="+testenv.RedisURL(t), "CLONEBOT_AGENT_PREFIX="+prefix)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitForPhase(t, rdb, q, "crash", jobs.PhaseData)
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if n := query(t, target, "SELECT count(*) FROM public.slow")[0]; n == "1500" {
		t.Fatal("the agent finished before it was killed; the test proves nothing")
	}

	// step 2: the visibility timeout passes; the surviving agent reclaims the job.
	ageJobs(t, rdb, q, "doomed")
	e := func() jobs.Event {
		got, err := b.RunOnce(ctx)
		if err != nil || !got {
			t.Fatalf("RunOnce = %v, %v", got, err)
		}
		return finalEvent(t, q, "crash")
	}()
	if e.State != jobs.StateReady || e.Attempt != 2 {
		t.Fatalf("final = %+v, want ready on attempt 2", e)
	}
	// Every report says its attempt, the delivery count Redis kept through the takeover, and
	// how many there may be: the progress line can say "attempt 2 of 3" (issue 13).
	seen := map[int]int{}
	for _, ev := range events(t, q, "crash") {
		if ev.State != jobs.StateRunning {
			continue
		}
		seen[ev.Attempt]++
		if ev.MaxAttempts != 3 {
			t.Errorf("report %+v: max attempts %d, want 3", ev, ev.MaxAttempts)
		}
	}
	if len(seen) != 2 || seen[1] == 0 || seen[2] == 0 {
		t.Errorf("reports per attempt: %v, want reports of attempts 1 and 2 only", seen)
	}
	compareWithReference(t, ref, target)
	if w, g := digest(t, ref, "public.slow", []string{"id", "payload"}), digest(t, target, "public.slow", []string{"id", "payload"}); w != g {
		t.Fatal("public.slow differs after the reclaimed restore")
	}
}

// waitForPhase blocks on the events stream until requestID reports phase.
func waitForPhase(t *testing.T, rdb *redis.Client, q *testQueue, requestID string, phase jobs.Phase) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	last := "0-0"
	for {
		res, err := rdb.XRead(ctx, &redis.XReadArgs{Streams: []string{q.EventsKey(), last}, Block: time.Second}).Result()
		if err != nil && err != redis.Nil {
			t.Fatalf("waiting for %s: %v", phase, err)
		}
		for _, s := range res {
			for _, m := range s.Messages {
				last = m.ID
				e, err := redisstore.ParseEvent(m.Values)
				if err != nil {
					t.Fatal(err)
				}
				if e.RequestID == requestID && e.Phase == phase {
					return
				}
				if e.RequestID == requestID && e.State != jobs.StateRunning {
					t.Fatalf("job ended before %s: %+v", phase, e)
				}
			}
		}
	}
}

// ageJobs makes consumer's pending jobs look idle for an hour, as if the visibility timeout
// had passed (XCLAIM ... IDLE), instead of sleeping.
func ageJobs(t *testing.T, rdb *redis.Client, q *testQueue, consumer string) {
	t.Helper()
	ctx := context.Background()
	pend, err := rdb.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: q.JobsKey(), Group: q.Group(), Start: "-", End: "+", Count: 100, Consumer: consumer}).Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(pend) == 0 {
		t.Fatalf("%s has no pending job", consumer)
	}
	for _, p := range pend {
		err := rdb.Do(ctx, "XCLAIM", q.JobsKey(), q.Group(), consumer, 0, p.ID, "IDLE", time.Hour.Milliseconds(), "JUSTID").Err()
		if err != nil {
			t.Fatal(err)
		}
	}
}
