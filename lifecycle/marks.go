package lifecycle

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

// Fields of a request's marks hash.
const (
	fieldAttempts = "attempts"    // failed Create calls so far
	fieldRetryAt  = "retry_at_ms" // no Create before this time
	fieldEnqueued = "enqueued"    // the restore job is on the queue
	fieldTold     = "told_ms"     // the expiry the backend was last told
	fieldReminded = "reminded"    // the pending reminder went out
)

// warnedField marks the TTL warning at offset before expiry expiresAt: an extension moves the
// expiry, so the warnings of the new expiry are sent again.
func warnedField(offset time.Duration, expiresAt time.Time) string {
	return "warned:" + strconv.FormatInt(offset.Milliseconds(), 10) + ":" + strconv.FormatInt(expiresAt.UnixMilli(), 10)
}

type keys struct{ base string }

func newKeys(prefix string) keys { return keys{base: prefix + "{lifecycle}:"} }

func (k keys) marks(id string) string { return k.base + "req:" + id }
func (k keys) teardown() string       { return k.base + "teardown" }

// marks is what the Manager remembers of a request besides the Store.
type marks struct {
	attempts int
	retryAt  time.Time
	enqueued bool
	told     time.Time
}

func parseMarks(v []any) marks {
	str := func(i int) string { s, _ := v[i].(string); return s }
	var mk marks
	mk.attempts, _ = strconv.Atoi(str(0))
	if n, err := strconv.ParseInt(str(1), 10, 64); err == nil {
		mk.retryAt = time.UnixMilli(n)
	}
	mk.enqueued = str(2) == "1"
	if n, err := strconv.ParseInt(str(3), 10, 64); err == nil {
		mk.told = time.UnixMilli(n)
	}
	return mk
}

var markFields = []string{fieldAttempts, fieldRetryAt, fieldEnqueued, fieldTold}

func (m *Manager) marks(ctx context.Context, id string) (marks, error) {
	v, err := m.rdb.HMGet(ctx, m.keys.marks(id), markFields...).Result()
	if err != nil {
		return marks{}, fmt.Errorf("read marks of %s: %w", id, err)
	}
	return parseMarks(v), nil
}

func (m *Manager) mark(ctx context.Context, id string, fieldValues ...any) error {
	_, err := m.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, m.keys.marks(id), fieldValues...)
		p.Expire(ctx, m.keys.marks(id), marksTTL)
		return nil
	})
	if err != nil {
		return fmt.Errorf("mark %s: %w", id, err)
	}
	return nil
}

// once sets field on request id and reports whether it was not set before.
func (m *Manager) once(ctx context.Context, id, field string) (bool, error) {
	var set *redis.BoolCmd
	_, err := m.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		set = p.HSetNX(ctx, m.keys.marks(id), field, "1")
		p.Expire(ctx, m.keys.marks(id), marksTTL)
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("mark %s %s: %w", id, field, err)
	}
	return set.Val(), nil
}

// forget drops the marks of a request that reached its end.
func (m *Manager) forget(ctx context.Context, id string) error {
	_, err := m.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, m.keys.marks(id))
		p.SRem(ctx, m.keys.teardown(), id)
		return nil
	})
	if err != nil {
		return fmt.Errorf("forget %s: %w", id, err)
	}
	return nil
}

// working returns the active requests with a step to take at now: approved and destroying
// ones, provisioning ones whose retry is due, restoring ones whose job is not known to be
// queued, ready ones whose backend was not told the current expiry. Their marks are read in
// one round trip.
func (m *Manager) working(ctx context.Context, now time.Time) ([]string, error) {
	active, err := m.store.ListActive(ctx)
	if err != nil {
		return nil, err
	}
	cmds := make([]*redis.SliceCmd, len(active))
	if _, err := m.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, r := range active {
			cmds[i] = p.HMGet(ctx, m.keys.marks(r.ID), markFields...)
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read marks: %w", err)
	}
	var ids []string
	for i, r := range active {
		mk := parseMarks(cmds[i].Val())
		switch r.Status {
		case approvals.StatusApproved, approvals.StatusDestroying:
		case approvals.StatusProvisioning:
			if now.Before(mk.retryAt) {
				continue
			}
		case approvals.StatusRestoring:
			if mk.enqueued && !m.restoreOverdue(r, now) {
				continue
			}
		case approvals.StatusReady:
			if !mk.told.Before(r.ExpiresAt) {
				continue
			}
		default:
			continue
		}
		ids = append(ids, r.ID)
	}
	return ids, nil
}
