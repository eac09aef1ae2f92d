package lifecycle

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/clonebot/clonebot/approvals"
	"github.com/clonebot/clonebot/internal/testenv"
	"github.com/clonebot/clonebot/redisstore"
)

func TestKnownClone(t *testing.T) {
	f := newFixture(t)
	store, ctx, now := f.store, f.ctx, f.clock.Now()
	mk := func(status approvals.Status) string {
		r := &approvals.Request{ID: approvals.NewID(), Requester: "U1", Source: "prod", Tier: "dev", TTL: time.Hour,
			Status: approvals.StatusApproved, CreatedAt: now, PendingExpiresAt: now.Add(time.Hour)}
		if err := store.Create(ctx, r, approvals.Limits{}); err != nil {
			t.Fatal(err)
		}
		for _, to := range map[approvals.Status][]approvals.Status{
			approvals.StatusApproved:  nil,
			approvals.StatusRestoring: {approvals.StatusProvisioning, approvals.StatusRestoring},
			approvals.StatusFailed:    {approvals.StatusFailed},
			approvals.StatusDestroyed: {approvals.StatusDestroying, approvals.StatusDestroyed},
		}[status] {
			if _, err := store.Transition(ctx, approvals.TransitionInput{RequestID: r.ID, To: to, At: now, By: "test"}); err != nil {
				t.Fatal(err)
			}
		}
		return r.ID
	}
	known := f.manager("bot-1").known(ctx)
	tests := []struct {
		name string
		id   string
		want bool
	}{
		{"approved", mk(approvals.StatusApproved), true},
		{"restoring", mk(approvals.StatusRestoring), true},
		{"failed, being torn down", mk(approvals.StatusFailed), true},
		{"destroyed", mk(approvals.StatusDestroyed), false},
		{"unknown", approvals.NewID(), false},
	}
	for _, tt := range tests {
		if got := known(tt.id); got != tt.want {
			t.Errorf("%s: known = %v, want %v", tt.name, got, tt.want)
		}
	}

	// A store that cannot answer keeps every clone.
	opts, _ := redis.ParseURL(testenv.RedisURL(t))
	broken := redis.NewClient(opts)
	broken.Close()
	m := f.manager("bot-1", func(_ *Config, d *Deps) { d.Store = redisstore.New(broken, f.prefix) })
	if !m.known(ctx)(tests[0].id) {
		t.Fatal("a lookup error counted as unknown: the sweep would destroy a live clone")
	}
}
