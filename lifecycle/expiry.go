package lifecycle

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
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

// warn records the TTL warning whose offset before expiry has been reached, once per offset
// and expiry (an extension moves the expiry, so the warnings of the new one are given again).
// When several are due at once (a pass was missed), one warning covers them. An offset whose
// moment came before the clone was ready is skipped: the ready message gave the TTL.
func (m *Manager) warn(ctx context.Context, r *approvals.Request, now time.Time) error {
	var due []time.Duration
	for _, w := range m.policy.TTLWarnings {
		if off := time.Duration(w); !now.Before(r.ExpiresAt.Add(-off)) {
			due = append(due, off)
		}
	}
	slices.SortFunc(due, func(a, b time.Duration) int { return cmp.Compare(b, a) }) // the earliest moment first
	for i, off := range due {
		var say []approvals.Notice
		if i == len(due)-1 && !r.ExpiresAt.Add(-off).Before(r.ReadyAt) {
			say = append(say, approvals.Notice{Kind: approvals.NoticeTTLWarning})
		}
		sent, err := m.store.Announce(ctx, r.ID, warnedField(off, r.ExpiresAt), say...)
		if err != nil {
			return err
		}
		if sent && len(say) > 0 {
			m.log.Info("ttl warning", zap.String("request_id", r.ID), zap.Duration("left", r.TimeLeft(now)))
		}
	}
	return nil
}

// warnedField is the marks field of the TTL warning at offset before expiresAt.
func warnedField(offset time.Duration, expiresAt time.Time) string {
	return "warned:" + strconv.FormatInt(offset.Milliseconds(), 10) + ":" + strconv.FormatInt(expiresAt.UnixMilli(), 10)
}

// syncExpiry tells r's backend its expiry (credential VALID UNTIL, delete-after tags) when it
// was last told an earlier one. A backend that cannot be told is marked told, so it is not
// asked again.
func (m *Manager) syncExpiry(ctx context.Context, r *approvals.Request) error {
	mk, err := m.marks(ctx, r.ID)
	if err != nil || !mk.Told.Before(r.ExpiresAt) {
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
	mk.Told = r.ExpiresAt
	return m.store.SetMarks(ctx, r.ID, mk)
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
	// step 2: destroying → destroyed, with the thread told; the marks of it go at once.
	next, err := m.move(ctx, r, approvals.TransitionInput{To: approvals.StatusDestroyed, Say: []approvals.Notice{destroyedNote(r)}})
	if err != nil {
		return err
	}
	if err := m.store.Forget(ctx, r.ID); err != nil {
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
	log.Info("clone destroyed", zap.String("status", string(next.Status)))
	return nil
}

// destroyedNote is the thread's line for r's clone destroyed: at expiry, on someone's ask, or
// after a failure.
func destroyedNote(r *approvals.Request) approvals.Notice {
	by, why := destroyAsk(r)
	switch {
	case why == "expired":
		return approvals.Note("", "destroyed the clone at expiry; credentials revoked")
	case by != "clonebot" && by != "":
		return approvals.Note(by, "had the clone destroyed; credentials revoked")
	}
	return approvals.Note("", "destroyed the clone; credentials revoked")
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
		_, err := m.move(ctx, r, approvals.TransitionInput{To: approvals.StatusExpired, Note: "no decision in time",
			Say: []approvals.Notice{approvals.Note("", "expired the request: it was not decided within its approval window")}})
		if err != nil {
			return err
		}
		return m.store.Forget(ctx, r.ID)
	}
	remind := time.Duration(m.policy.PendingReminder)
	if remind <= 0 || now.Before(r.PendingExpiresAt.Add(-remind)) {
		return nil
	}
	_, err := m.store.Announce(ctx, r.ID, "reminded", approvals.Notice{Kind: approvals.NoticeReminder})
	return err
}
