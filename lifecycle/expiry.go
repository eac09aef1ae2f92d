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

// ready looks after a ready clone: its credentials revoked once expired (and the clone
// destroyed by the next step), warned before that, and its backend told of its current expiry.
func (m *Manager) ready(ctx context.Context, r *approvals.Request) error {
	now := m.now()
	// step 1: expired: revoke, then leave the slower destroy to its own step, so that revoking
	// every clone that expired at once is not queued behind their destroys.
	if !now.Before(r.ExpiresAt) {
		m.metrics.expiries.WithLabelValues(r.Tier).Inc()
		revoked, err := m.revoke(ctx, r)
		if err != nil {
			return err
		}
		next, err := m.move(ctx, r, approvals.TransitionInput{To: approvals.StatusDestroying, Note: "expired"})
		if err != nil {
			return err
		}
		if !revoked {
			return m.destroy(ctx, next) // without a revoke, the destroy revokes
		}
		m.poke()
		return nil
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
// was last told another one (an extension, or an expiry brought forward). A backend that cannot
// be told is marked told, so it is not asked again.
func (m *Manager) syncExpiry(ctx context.Context, r *approvals.Request) error {
	mk, err := m.marks(ctx, r.ID)
	if err != nil {
		return err
	}
	if mk.Told.Equal(r.ExpiresAt) {
		return m.store.Told(ctx, r.ID)
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
	if err := m.store.SetMarks(ctx, r.ID, mk); err != nil {
		return err
	}
	return m.store.Told(ctx, r.ID)
}

// revoke ends r's access at once where its backend can (no new login, every session ended),
// ahead of the destroy, and records when; what the expiry guard revoked already is not revoked
// again. A backend without it is revoked by its destroy.
func (m *Manager) revoke(ctx context.Context, r *approvals.Request) (bool, error) {
	now := m.now()
	rv, err := revokeExpired(ctx, m.store, m.backends, r, now)
	if rv.fresh {
		m.observeRevocation(r, now)
		m.log.Info("credentials revoked", zap.String("request_id", r.ID), zap.Int("sessions_ended", rv.sessions))
	}
	return rv.done, err
}

// observeRevocation records how long r's credentials outlived its expiry, once.
func (m *Manager) observeRevocation(r *approvals.Request, now time.Time) {
	if !r.ExpiresAt.IsZero() && !now.Before(r.ExpiresAt) {
		m.metrics.revocation.Observe(now.Sub(r.ExpiresAt).Seconds())
	}
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
		m.metrics.destroyErr.Inc()
		return err
	}
	now := m.now()
	// step 2: destroying → destroyed, with the thread told (and, for break-glass, the
	// post-incident review task posted to security); the marks of it go at once.
	t := approvals.TransitionInput{To: approvals.StatusDestroyed, Say: []approvals.Notice{destroyedNote(r)}}
	if r.Mode == approvals.ModeBreakGlass {
		t.ReviewDueAt = now.Add(m.reviewWithin(r))
		t.Say = append(t.Say, approvals.Notice{Kind: approvals.NoticeReviewTask})
	}
	next, err := m.move(ctx, r, t)
	if err != nil {
		return err
	}
	if err := m.store.Forget(ctx, r.ID); err != nil {
		return err
	}
	if err := m.releaseAfterCopy(ctx, next); err != nil {
		m.log.Warn("golden copy's dependant not released; the retirement step will", zap.String("request_id", r.ID), zap.Error(err))
	}
	// step 3: how long credentials outlived the expiry, when no revoke ahead of the destroy
	// measured it (a clone destroyed before its expiry, on request or after a failure, has no
	// latency to report).
	if !m.revokes(r.Source) {
		m.observeRevocation(r, now)
	}
	m.log.Info("clone destroyed", zap.String("request_id", r.ID), zap.String("status", string(next.Status)))
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
		m.metrics.outcomes.WithLabelValues(r.Tier, "expired").Inc()
		return m.store.Forget(ctx, r.ID)
	}
	remind := time.Duration(m.policy.PendingReminder)
	if remind <= 0 || now.Before(r.PendingExpiresAt.Add(-remind)) {
		return nil
	}
	_, err := m.store.Announce(ctx, r.ID, "reminded", approvals.Notice{Kind: approvals.NoticeReminder})
	return err
}

// revokes reports whether source's backend revokes ahead of the destroy.
func (m *Manager) revokes(source string) bool {
	be, err := m.backends.For(source)
	if err != nil {
		return false
	}
	_, ok := be.Provisioner.(Revoker)
	return ok
}

// DefaultReviewWithin is the post-incident review deadline when the tier sets none.
const DefaultReviewWithin = 48 * time.Hour

// reviewWithin is how long security has to review r once its break-glass clone ended.
func (m *Manager) reviewWithin(r *approvals.Request) time.Duration {
	if d := time.Duration(m.policy.Tiers[r.Tier].ReviewWithin); d > 0 {
		return d
	}
	return DefaultReviewWithin
}

// remindReview reminds security, once a day, of an ended break-glass clone whose review is
// overdue, and records the reminder in the audit log.
func (m *Manager) remindReview(ctx context.Context, r *approvals.Request) error {
	now := m.now()
	if !r.NeedsReview() || now.Before(r.ReviewDueAt) {
		return nil
	}
	day := strconv.FormatInt(int64(now.Sub(r.ReviewDueAt)/(24*time.Hour)), 10)
	sent, err := m.store.Announce(ctx, r.ID, "review_reminded:"+day, approvals.Notice{Kind: approvals.NoticeReviewDue})
	if err != nil || !sent {
		return err
	}
	m.log.Info("break-glass review overdue; security reminded", zap.String("request_id", r.ID))
	return m.store.RecordEvent(ctx, r.ID, "review_reminded", "clonebot", now, map[string]string{"due_at_ms": strconv.FormatInt(r.ReviewDueAt.UnixMilli(), 10)})
}
