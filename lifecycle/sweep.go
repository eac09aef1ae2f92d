package lifecycle

import (
	"context"
	"errors"

	"go.uber.org/zap"

	"github.com/clonebot/clonebot/approvals"
)

// Sweeper is a backend that can find the clones it made and destroy those no live request
// owns (provisioner/aws: by their tags).
type Sweeper interface {
	// Sweep destroys every clone whose request known says should not exist, and returns the
	// request ids of what it destroyed.
	Sweep(ctx context.Context, known func(requestID string) bool) ([]string, error)
}

// Sweep reaps s's orphaned clones: those of requests that are unknown or finished.
func (m *Manager) Sweep(ctx context.Context, s Sweeper) ([]string, error) {
	destroyed, err := s.Sweep(ctx, m.known(ctx))
	if len(destroyed) > 0 {
		m.log.Warn("sweep destroyed orphaned clones", zap.Strings("request_ids", destroyed))
	}
	return destroyed, err
}

// known reports whether a clone of request id should still exist: its request is active or
// failed (being torn down). Unknown and finished requests' clones are orphans. When the store
// cannot answer, the clone is kept: a lookup error must never destroy anything.
func (m *Manager) known(ctx context.Context) func(string) bool {
	return func(id string) bool {
		if approvals.IsGoldenID(id) {
			return m.goldenKnown(ctx, id)
		}
		r, err := m.store.Get(ctx, id)
		switch {
		case errors.Is(err, approvals.ErrNotFound):
			return false
		case err != nil:
			m.log.Warn("sweep: request lookup failed; keeping its clone", zap.String("request_id", id), zap.Error(err))
			return true
		}
		return r.Status.Active() || r.Status == approvals.StatusFailed
	}
}
