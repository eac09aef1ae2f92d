package lifecycle

import (
	"context"
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/clonebot/clonebot/approvals"
)

// ready looks after a ready clone: destroyed once expired, warned before that, and its
// backend told of its current expiry.
func (m *Manager) ready(ctx context.Context, r *approvals.Request) error {
	now := m.now()
	// step 1: expired: destroy it.
	if !now.Before(r.ExpiresAt) {
		next, err := m.move(ctx, r, approvals.TransitionInput{To: approvals.StatusDestroying, Note: "expired"})
		if err != nil {
			return err
		}
		return m.destroy(ctx, next)
	}
	// step 2: the TTL warnings that are due.
	if err := m.warn(ctx, r, now); err != nil {
		return err
	}
	// step 3: the backend follows /clone extend.
	return m.syncExpiry(ctx, r)
}

// warn sends the TTL warning whose offset before expiry has been reached, once per offset and
// expiry. When several are due at once (a pass was missed), one warning covers them. An offset
// whose moment came before the clone was ready is skipped: the ready message gave the TTL.
func (m *Manager) warn(ctx context.Context, r *approvals.Request, now time.Time) error {
	send := false
	for _, w := range m.policy.TTLWarnings {
		off := time.Duration(w)
		at := r.ExpiresAt.Add(-off)
		if now.Before(at) {
			continue
		}
		first, err := m.once(ctx, r.ID, warnedField(off, r.ExpiresAt))
		if err != nil {
			return err
		}
		send = send || (first && !at.Before(r.ReadyAt))
	}
	if !send {
		return nil
	}
	left := r.TimeLeft(now)
	m.log.Info("ttl warning", zap.String("request_id", r.ID), zap.Duration("left", left))
	if err := m.notify.TTLWarning(ctx, r, left); err != nil {
		m.log.Warn("ttl warning not posted", zap.String("request_id", r.ID), zap.Error(err))
	}
	return nil
}

// syncExpiry tells r's backend its expiry (credential VALID UNTIL, delete-after tags) when it
// was last told an earlier one. A backend that cannot be told is marked told, so it is not
// asked again.
func (m *Manager) syncExpiry(ctx context.Context, r *approvals.Request) error {
	mk, err := m.marks(ctx, r.ID)
	if err != nil || !mk.told.Before(r.ExpiresAt) {
		return err
	}
	be, err := m.backends.For(r.Source)
	if err != nil {
		return err
	}
	if ext, ok := be.Provisioner.(Extender); ok {
		if err := ext.Extend(ctx, r.ID, r.ExpiresAt); err != nil {
			return fmt.Errorf("tell backend the expiry of %s: %w", r.ID, err)
		}
		m.log.Info("backend told the expiry", zap.String("request_id", r.ID), zap.Time("expires_at", r.ExpiresAt))
	}
	return m.mark(ctx, r.ID, fieldTold, r.ExpiresAt.UnixMilli())
}

// destroy destroys a destroying request's clone, credentials included, and marks it
// destroyed. A failed Destroy is retried on the next pass (the request stays destroying).
func (m *Manager) destroy(ctx context.Context, r *approvals.Request) error {
	// step 1: everything the backend made.
	be, err := m.backends.For(r.Source)
	if err != nil {
		return fmt.Errorf("destroy %s: %w", r.ID, err)
	}
	if err := be.Provisioner.Destroy(ctx, r.ID); err != nil {
		return err
	}
	now := m.now()
	// step 2: destroying → destroyed; the Manager's marks of it go at once.
	next, err := m.move(ctx, r, approvals.TransitionInput{To: approvals.StatusDestroyed})
	if err != nil {
		return err
	}
	if err := m.forget(ctx, r.ID); err != nil {
		return err
	}
	// step 3: how long credentials outlived the expiry (a clone destroyed before its
	// expiry, on request or after a failure, has no latency to report).
	log := m.log.With(zap.String("request_id", r.ID))
	if !r.ExpiresAt.IsZero() && !now.Before(r.ExpiresAt) {
		latency := now.Sub(r.ExpiresAt)
		log = log.With(zap.Duration("revocation_latency", latency))
		if m.revocation != nil {
			m.revocation.Observe(latency.Seconds())
		}
	}
	log.Info("clone destroyed")
	// step 4: the thread and the card.
	by, why := destroyAsk(r)
	switch {
	case why == "expired":
		m.note(ctx, next, "", "destroyed the clone at expiry; credentials revoked")
	case by != "clonebot" && by != "":
		m.note(ctx, next, by, "had the clone destroyed; credentials revoked")
	default:
		m.note(ctx, next, "", "destroyed the clone; credentials revoked")
	}
	m.changed(ctx, next)
	return nil
}

// destroyAsk returns who moved r to destroying and why (the timeline event's note).
func destroyAsk(r *approvals.Request) (by, why string) {
	for _, e := range slices.Backward(r.History) {
		if e.To == approvals.StatusDestroying {
			return e.By, e.Note
		}
	}
	return "", ""
}

// pending expires a pending request whose approval window closed, and reminds its approvers
// once, PendingReminder before that.
func (m *Manager) pending(ctx context.Context, r *approvals.Request) error {
	now := m.now()
	if !now.Before(r.PendingExpiresAt) {
		next, err := m.move(ctx, r, approvals.TransitionInput{To: approvals.StatusExpired, Note: "no decision in time"})
		if err != nil {
			return err
		}
		if err := m.forget(ctx, r.ID); err != nil {
			return err
		}
		m.note(ctx, next, "", "expired the request: it was not decided within its approval window")
		m.changed(ctx, next)
		return nil
	}
	remind := time.Duration(m.policy.PendingReminder)
	if remind <= 0 || now.Before(r.PendingExpiresAt.Add(-remind)) {
		return nil
	}
	first, err := m.once(ctx, r.ID, fieldReminded)
	if err != nil || !first {
		return err
	}
	if err := m.notify.PendingReminder(ctx, r, r.PendingExpiresAt.Sub(now)); err != nil {
		m.log.Warn("pending reminder not posted", zap.String("request_id", r.ID), zap.Error(err))
	}
	return nil
}
