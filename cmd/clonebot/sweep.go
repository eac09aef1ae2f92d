package main

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/clonebot/clonebot/approvals"
)

// sweeper is the AWS backend's orphan reaper (provisioner/aws.Provisioner.Sweep).
type sweeper interface {
	Sweep(ctx context.Context, known func(requestID string) bool) ([]string, error)
}

// knownClone reports whether a clone of request id should still exist: its request is active
// or failed (being torn down). Unknown and finished requests' clones are orphans. When the
// store cannot answer, the clone is kept: a lookup error must never destroy anything.
func knownClone(ctx context.Context, store approvals.Store, log *zap.Logger) func(string) bool {
	return func(id string) bool {
		r, err := store.Get(ctx, id)
		switch {
		case errors.Is(err, approvals.ErrNotFound):
			return false
		case err != nil:
			log.Warn("sweep: request lookup failed; keeping its clone", zap.String("request_id", id), zap.Error(err))
			return true
		}
		return r.Status.Active() || r.Status == approvals.StatusFailed
	}
}

// runSweeps reaps orphaned clones every interval until ctx ends.
func runSweeps(ctx context.Context, s sweeper, store approvals.Store, interval time.Duration, log *zap.Logger) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		destroyed, err := s.Sweep(ctx, knownClone(ctx, store, log))
		if len(destroyed) > 0 {
			log.Warn("sweep destroyed orphaned clones", zap.Strings("request_ids", destroyed))
		}
		if err != nil && ctx.Err() == nil {
			log.Error("sweep", zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
