package bot

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// ProgressRefs remembers where each request's progress line is in Slack, so that every bot
// replica (and a restarted one) edits the same message rather than posting a second line.
type ProgressRefs interface {
	// Get returns the ts of the request's progress line, or "" if none was posted.
	Get(ctx context.Context, requestID string) (string, error)
	// Set records the ts of the request's progress line.
	Set(ctx context.Context, requestID, ts string) error
	// Forget drops it once the request's progress is over.
	Forget(ctx context.Context, requestID string) error
}

// RedisProgressRefs keeps ProgressRefs in Redis, one small key per request that expires after
// ttl (a request's progress never lasts that long).
type RedisProgressRefs struct {
	rdb    redis.Cmdable
	prefix string
	ttl    time.Duration
}

// NewRedisProgressRefs returns ProgressRefs under prefix (shared with the rest of clonebot).
func NewRedisProgressRefs(rdb redis.Cmdable, prefix string, ttl time.Duration) *RedisProgressRefs {
	return &RedisProgressRefs{rdb: rdb, prefix: prefix + "{clonebot}:progress:", ttl: ttl}
}

// Get implements ProgressRefs.
func (p *RedisProgressRefs) Get(ctx context.Context, requestID string) (string, error) {
	ts, err := p.rdb.Get(ctx, p.prefix+requestID).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	return ts, err
}

// Set implements ProgressRefs.
func (p *RedisProgressRefs) Set(ctx context.Context, requestID, ts string) error {
	return p.rdb.Set(ctx, p.prefix+requestID, ts, p.ttl).Err()
}

// Forget implements ProgressRefs.
func (p *RedisProgressRefs) Forget(ctx context.Context, requestID string) error {
	return p.rdb.Del(ctx, p.prefix+requestID).Err()
}
