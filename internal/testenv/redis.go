package testenv

import (
	"context"
	"fmt"
	"testing"

	"github.com/redis/go-redis/v9"
)

var redisURL once

// RedisURL returns the URL of a real Redis for this test binary (see the package doc for
// the order in which one is found). It fails the test if none can be had.
func RedisURL(t testing.TB) string {
	t.Helper()
	u, err := redisURL.get(findRedis)
	if err != nil {
		t.Fatalf("testenv: no Redis: %v", err)
	}
	return u
}

// Redis returns a client on a real Redis and a key prefix unique to this test. The test must
// put every key under that prefix; the keys are deleted when the test ends.
func Redis(t testing.TB) (*redis.Client, string) {
	t.Helper()
	opts, err := redis.ParseURL(RedisURL(t))
	if err != nil {
		t.Fatalf("testenv: redis url: %v", err)
	}
	c := redis.NewClient(opts)
	prefix := UniqueName("t") + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		iter := c.Scan(ctx, 0, prefix+"*", 500).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
		c.Close()
	})
	return c, prefix
}

func findRedis() (string, error) {
	if u := envOr("CLONEBOT_TEST_REDIS_URL"); u != "" {
		return u, pingRedis(u)
	}
	if dialable("127.0.0.1:6379") {
		u := "redis://127.0.0.1:6379/0"
		if pingRedis(u) == nil {
			return u, nil
		}
	}
	return startRedis()
}

func pingRedis(u string) error {
	opts, err := redis.ParseURL(u)
	if err != nil {
		return err
	}
	c := redis.NewClient(opts)
	defer c.Close()
	return c.Ping(context.Background()).Err()
}

func startRedis() (string, error) {
	port, stop, err := startRedisServer(tempDir("redis"))
	if err != nil {
		return "", err
	}
	onStop(stop)
	return fmt.Sprintf("redis://127.0.0.1:%d/0", port), nil
}
