package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/clonebot/clonebot/approvals"
)

// marksTTL bounds how long a request's marks outlive it if its clean-up is missed; longer
// than any tier's maximum lifetime.
const marksTTL = 14 * 24 * time.Hour

// Fields of a request's marks hash. The once-fields of Announce (a TTL warning, the pending
// reminder) live in the same hash.
const (
	mAttempts = "attempts"
	mRetryAt  = "retry_at_ms"
	mEnqueued = "enqueued"
	mTold     = "told_ms"
	mRevoked  = "revoked_ms"
)

var markFields = []string{mAttempts, mRetryAt, mEnqueued, mTold, mRevoked}

func parseMarks(v []any) approvals.Marks {
	str := func(i int) string { s, _ := v[i].(string); return s }
	var mk approvals.Marks
	mk.Attempts, _ = strconv.Atoi(str(0))
	mk.RetryAt, _ = parseMS(str(1))
	mk.Enqueued = str(2) == "1"
	mk.Told, _ = parseMS(str(3))
	mk.Revoked, _ = parseMS(str(4))
	return mk
}

// Marks returns the marks of each request in ids, in one round trip.
func (s *Store) Marks(ctx context.Context, ids ...string) ([]approvals.Marks, error) {
	cmds := make([]*redis.SliceCmd, len(ids))
	if _, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HMGet(ctx, s.k.marks(id), markFields...)
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read marks: %w", err)
	}
	out := make([]approvals.Marks, len(ids))
	for i, c := range cmds {
		out[i] = parseMarks(c.Val())
	}
	return out, nil
}

// SetMarks stores request id's marks.
func (s *Store) SetMarks(ctx context.Context, id string, mk approvals.Marks) error {
	enq := "0"
	if mk.Enqueued {
		enq = "1"
	}
	_, err := s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, s.k.marks(id), mAttempts, mk.Attempts, mRetryAt, ms(mk.RetryAt), mEnqueued, enq, mTold, ms(mk.Told), mRevoked, ms(mk.Revoked))
		p.PExpire(ctx, s.k.marks(id), marksTTL)
		return nil
	})
	if err != nil {
		return fmt.Errorf("mark %s: %w", id, err)
	}
	return nil
}

// AddTeardown puts request id among the failed ones whose clone is still to destroy: failed is
// not an active status, so without it a crash right after a request failed would leave its
// clone behind.
func (s *Store) AddTeardown(ctx context.Context, id string) error {
	if err := s.c.SAdd(ctx, s.k.teardown(), id).Err(); err != nil {
		return fmt.Errorf("add %s to the teardown set: %w", id, err)
	}
	return nil
}

// Teardowns returns the requests of AddTeardown not yet forgotten.
func (s *Store) Teardowns(ctx context.Context) ([]string, error) {
	ids, err := s.c.SMembers(ctx, s.k.teardown()).Result()
	if err != nil {
		return nil, fmt.Errorf("read the teardown set: %w", err)
	}
	return ids, nil
}

// Forget drops the marks of a request that reached its end, and takes it out of the teardown
// set. Its notices stay until they are sent.
func (s *Store) Forget(ctx context.Context, id string) error {
	_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, s.k.marks(id))
		p.SRem(ctx, s.k.teardown(), id)
		return nil
	})
	if err != nil {
		return fmt.Errorf("forget %s: %w", id, err)
	}
	return nil
}
