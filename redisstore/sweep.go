package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/clonebot/clonebot/approvals"
)

// AcquireSweep takes (or renews) the orphan sweep's lease for owner for ttl: one replica
// sweeps at a time, and a lease kept for the sweep interval makes it one sweep per interval
// among the replicas. approvals.ErrLeaseHeld if another owner holds it.
func (s *Store) AcquireSweep(ctx context.Context, owner string, ttl time.Duration) error {
	if owner == "" || ttl < time.Millisecond {
		return fmt.Errorf("sweep lease: an owner and a ttl of at least 1ms are required")
	}
	got, err := s.scripts.acquireLease.Run(ctx, s.c, []string{s.k.sweepLease()}, owner, ttl.Milliseconds()).Int()
	if err != nil {
		return fmt.Errorf("sweep lease for %s: %w", owner, err)
	}
	if got != 1 {
		return fmt.Errorf("sweep lease for %s: %w", owner, approvals.ErrLeaseHeld)
	}
	return nil
}

// ReleaseSweep gives the sweep's lease up if owner holds it (a sweep that failed, so another
// replica may try before the interval is over).
func (s *Store) ReleaseSweep(ctx context.Context, owner string) error {
	if err := s.scripts.releaseLease.Run(ctx, s.c, []string{s.k.sweepLease()}, owner).Err(); err != nil {
		return fmt.Errorf("release sweep lease for %s: %w", owner, err)
	}
	return nil
}

// PlantSentinel sets the sentinel key if it is absent and reports whether it did. The key is
// never deleted nor given a TTL, so after the first call against a Redis, planted is true only
// when Redis lost its data (a restart without persistence, FLUSHALL, a failover to an empty
// replica): every request, index, lease and stream is gone with it.
func (s *Store) PlantSentinel(ctx context.Context) (planted bool, err error) {
	planted, err = s.c.SetNX(ctx, s.k.sentinel(), strconv.FormatInt(s.now().UnixMilli(), 10), 0).Result()
	if err != nil {
		return false, fmt.Errorf("sentinel: %w", err)
	}
	return planted, nil
}
