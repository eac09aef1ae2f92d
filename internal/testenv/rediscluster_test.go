package testenv

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"
)

// The helper's cluster spreads keys over its masters, and its client follows the redirects.
func TestRedisClusterSpreadsKeysOverMasters(t *testing.T) {
	c, prefix := RedisCluster(t)
	ctx := context.Background()
	for i := range 30 {
		if err := c.Set(ctx, fmt.Sprintf("%s%d", prefix, i), i, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	var holding atomic.Int32 // ForEachMaster asks the masters at once
	err := c.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
		n, err := node.DBSize(ctx).Result()
		if n > 0 {
			holding.Add(1)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if holding.Load() != ClusterMasters {
		t.Errorf("keys on %d masters, want all %d", holding.Load(), ClusterMasters)
	}
}
