package agent

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/clonebot/clonebot/internal/testenv"
	"github.com/clonebot/clonebot/jobs"
	"github.com/clonebot/clonebot/provisioner"
)

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
				if e.State != jobs.StateRunning {
					t.Fatalf("a retryable failure published an end: %+v", e)
				}
			}
			ageJobs(t, rdb, q, "a")
		}
	}
	e := finalEvent(t, q, "r1")
	if e.State != jobs.StateFailed || !strings.Contains(e.Reason, "failed 2 times") {
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
	if p := rdb.XPending(ctx, q.JobsKey(), q.Group()).Val(); p.Count != 0 {
		t.Fatalf("still pending: %+v", p)
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
