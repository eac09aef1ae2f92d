package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/clonebot/clonebot/approvals"
	"github.com/clonebot/clonebot/jobs"
)

// eventsWait bounds one blocking read of the events stream, so Run stops soon after its
// context ends (a blocked read does not watch the context).
const eventsWait = time.Second

// maxEventRounds bounds the reads of new events in one pass, so a pass always ends.
const maxEventRounds = 10

// drainEvents handles, without waiting for more, the events this replica holds unacknowledged
// (including those taken over from a replica that stopped) and then the new ones.
func (m *Manager) drainEvents(ctx context.Context) error {
	// step 1: events another consumer read and left unacknowledged for longer than a lease.
	if err := m.events.ClaimIdle(ctx, m.cfg.Owner, m.cfg.LeaseTTL, m.cfg.Batch); err != nil {
		return err
	}
	// step 2: this consumer's pending events (a step held the request's lease last time).
	if _, _, err := m.readEvents(ctx, true, -1); err != nil {
		return err
	}
	// step 3: new events.
	for range maxEventRounds {
		n, _, err := m.readEvents(ctx, false, -1)
		if err != nil || n < m.cfg.Batch {
			return err
		}
	}
	return nil
}

// consumeEvents handles new events as they arrive until ctx ends. Events left
// unacknowledged (their request's lease was busy) are read again before each wait.
func (m *Manager) consumeEvents(ctx context.Context) {
	left := 0
	for ctx.Err() == nil {
		var err error
		if left > 0 {
			_, left, err = m.readEvents(ctx, true, -1)
		}
		if err == nil {
			var more int
			_, more, err = m.readEvents(ctx, false, min(m.cfg.Interval, eventsWait))
			left += more
		}
		if err != nil && ctx.Err() == nil {
			m.log.Error("read agent events", zap.Error(err))
			select {
			case <-ctx.Done():
			case <-time.After(m.cfg.Interval):
			}
		}
	}
}

// readEvents reads up to Batch of this consumer's pending events, or new ones waiting up to
// block (negative: not at all), handles them and acknowledges the handled ones. It returns how
// many it read and how many it left unacknowledged.
func (m *Manager) readEvents(ctx context.Context, pending bool, block time.Duration) (read, left int, err error) {
	got, err := m.events.Read(ctx, m.cfg.Owner, pending, m.cfg.Batch, block)
	if err != nil {
		return 0, 0, err
	}
	var done []string
	for _, rec := range got {
		if m.handleEvent(ctx, rec) {
			done = append(done, rec.ID)
		} else {
			left++
		}
	}
	return len(got), left, m.events.Ack(ctx, done...)
}

// handleEvent applies one agent event and reports whether it is done with (to acknowledge).
// Progress goes to the thread; a result moves the request on under its lease, and waits
// (unacknowledged) while another step holds the lease.
func (m *Manager) handleEvent(ctx context.Context, rec jobs.Received) bool {
	if rec.Bad != nil {
		m.log.Warn("agent event dropped", zap.String("event_id", rec.ID), zap.Error(rec.Bad))
		return true
	}
	e := rec.Event
	if approvals.IsGoldenID(e.RequestID) {
		return m.goldenEvent(ctx, e)
	}
	log := m.log.With(zap.String("request_id", e.RequestID), zap.String("event_id", rec.ID))
	if e.State == jobs.StateRunning {
		r, err := m.store.Get(ctx, e.RequestID)
		switch {
		case errors.Is(err, approvals.ErrNotFound):
			return true
		case err != nil:
			log.Warn("progress event not shown", zap.Error(err))
			return false
		case r.Status == approvals.StatusRestoring:
			if e.Phase == jobs.PhaseData && e.Rate > 0 {
				m.metrics.rate.Observe(e.Rate)
			}
			// The agent's time and attempt order its reports, whichever replica records them.
			m.say(ctx, r, "", approvals.Notice{Kind: approvals.NoticeProgress, Text: describe(e), Attempt: e.Attempt, At: e.At})
		}
		return true
	}
	return m.settle(ctx, e.RequestID, func(ctx context.Context, id string) error { return m.restored(ctx, id, e) })
}

// settle applies a job's result to id with fn under id's lease, and reports whether the event
// is done with: false while another step holds the lease (it is read again later).
func (m *Manager) settle(ctx context.Context, id string, fn func(context.Context, string) error) bool {
	if !m.claim(id) {
		return false
	}
	defer m.unclaim(id)
	ran, err := m.leased(ctx, id, fn)
	m.logStep(id, err)
	return ran && (err == nil || errors.Is(err, approvals.ErrIllegalTransition))
}

// restored applies an agent's result to a restoring request: ready releases the clone,
// failed fails the request and leaves the teardown to the next pass. A result for a request
// no longer restoring (a duplicate, or destroyed meanwhile) changes nothing.
func (m *Manager) restored(ctx context.Context, id string, e jobs.Event) error {
	r, err := m.store.Get(ctx, id)
	if errors.Is(err, approvals.ErrNotFound) {
		return nil
	}
	if err != nil || r.Status != approvals.StatusRestoring {
		return err
	}
	switch e.State {
	case jobs.StateFailed:
		reason := e.Reason
		if reason == "" {
			reason = "the restore agent gave up without a reason"
		}
		if _, err := m.fail(ctx, r, reason); err != nil {
			return err
		}
		m.poke()
		return nil
	case jobs.StateReady:
		// step 1: restoring → ready; the store sets ReadyAt and ExpiresAt = now + TTL, and
		// records that the requester is to hear where the clone is.
		next, err := m.move(ctx, r, approvals.TransitionInput{To: approvals.StatusReady, Note: "restored and masked",
			Say: []approvals.Notice{{Kind: approvals.NoticeReady}}})
		if err != nil {
			return err
		}
		m.metrics.outcomes.WithLabelValues(next.Tier, "ready").Inc()
		m.metrics.toReady.WithLabelValues(next.Tier).Observe(next.ReadyAt.Sub(next.CreatedAt).Seconds())
		// step 2: the credentials expire with the clone; if the backend cannot be told now,
		// the next pass tells it.
		if err := m.syncExpiry(ctx, next); err != nil {
			m.log.Warn("backend not told the expiry yet", zap.String("request_id", id), zap.Error(err))
		}
		return nil
	}
	m.log.Warn("agent event with unknown state ignored", zap.String("request_id", id), zap.String("state", string(e.State)))
	return nil
}

// describe is the progress line of a running event. From the second attempt on it says which
// attempt it is: each starts over from an empty clone, so its counts start from zero.
func describe(e jobs.Event) string {
	s := "restoring"
	if e.Attempt > 1 {
		s += fmt.Sprintf(" (attempt %d", e.Attempt)
		if e.MaxAttempts >= e.Attempt {
			s += fmt.Sprintf(" of %d", e.MaxAttempts)
		}
		s += ", started over)"
	}
	s += ": " + string(e.Phase)
	if e.Rows > 0 || e.Bytes > 0 {
		// Rows and Bytes count the whole job so far, not the table being loaded.
		s += fmt.Sprintf(", %d rows (%s) so far", e.Rows, approvals.FormatBytes(e.Bytes))
		if e.Rate > 0 {
			s += " at " + approvals.FormatBytes(int64(e.Rate)) + "/s"
		}
	}
	if e.Table != "" {
		s += ", now " + e.Table
	}
	return s
}
