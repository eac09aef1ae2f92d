package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/clonebot/clonebot/approvals"
)

// ListWorking returns the requests the lifecycle has a step for whatever the time: those being
// made or torn down (approvals.Status.Working) and the ready ones whose backend has not been
// told their expiry (Told). It costs what the working requests cost, however many clones are
// ready and waiting for their expiry.
func (s *Store) ListWorking(ctx context.Context) ([]*approvals.Request, error) {
	reqs, err := s.list(ctx, s.k.working())
	if err != nil {
		return nil, fmt.Errorf("list working requests: %w", err)
	}
	return reqs, nil
}

// luaTold takes a ready request out of the working set once its backend was told its expiry
// (a request in another status stays: the lifecycle has other steps for it).
const luaTold = `
if redis.call('HGET', KEYS[1], 'status') == 'ready' then redis.call('SREM', KEYS[2], ARGV[1]) end
return 1
`

var toldScript = redis.NewScript(luaTold)

// Told records that request id's backend was told its current expiry.
func (s *Store) Told(ctx context.Context, id string) error {
	if err := toldScript.Run(ctx, s.c, []string{s.k.request(id), s.k.working()}, id).Err(); err != nil {
		return fmt.Errorf("told %s: %w", id, err)
	}
	return nil
}

// NextExpiry returns when the next ready clone expires (false when none is ready).
func (s *Store) NextExpiry(ctx context.Context) (time.Time, bool, error) {
	zs, err := s.c.ZRangeWithScores(ctx, s.k.expiry(), 0, 0).Result()
	if err != nil {
		return time.Time{}, false, fmt.Errorf("next expiry: %w", err)
	}
	if len(zs) == 0 {
		return time.Time{}, false, nil
	}
	return time.UnixMilli(int64(zs[0].Score)).UTC(), true, nil
}

// NextExpiryAfter returns the first expiry of a ready clone after t (false when there is none):
// when the next clone that is not expired yet at t expires.
func (s *Store) NextExpiryAfter(ctx context.Context, t time.Time) (time.Time, bool, error) {
	zs, err := s.c.ZRangeByScoreWithScores(ctx, s.k.expiry(), &redis.ZRangeBy{
		Min: "(" + strconv.FormatInt(t.UnixMilli(), 10), Max: "+inf", Count: 1,
	}).Result()
	if err != nil {
		return time.Time{}, false, fmt.Errorf("next expiry after %s: %w", t.UTC().Format(time.RFC3339), err)
	}
	if len(zs) == 0 {
		return time.Time{}, false, nil
	}
	return time.UnixMilli(int64(zs[0].Score)).UTC(), true, nil
}

// RecordEvent appends an audit event about request id that is no change of its state (the
// credentials revoked, a review reminder), with data, to the outbox.
func (s *Store) RecordEvent(ctx context.Context, id, typ, actor string, at time.Time, data map[string]string) error {
	if typ == "" || actor == "" {
		return errors.New("record event: a type and an actor are required")
	}
	a, err := outboxArgs{typ: typ, actor: actor, at: at, data: data}.args()
	if err != nil {
		return fmt.Errorf("record %s of %s: %w", typ, id, err)
	}
	if _, err := s.run(ctx, s.scripts.record, id, append([]any{id}, a...)...); err != nil {
		return fmt.Errorf("record %s of %s: %w", typ, id, err)
	}
	return nil
}
