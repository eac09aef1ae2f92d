package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/clonebot/clonebot/agent"
	"github.com/clonebot/clonebot/approvals"
	"github.com/clonebot/clonebot/handlers"
)

// eventsWait bounds one blocking read of the events stream, so Run stops soon after its
// context ends (a blocked read does not watch the context).
const eventsWait = time.Second

// maxEventRounds bounds the reads of new events in one pass, so a pass always ends.
const maxEventRounds = 10

// ensureGroup creates the replicas' consumer group on the events stream, reading from its
// start: an event published before the group existed is still handled (a stale one is
// ignored, as every event of a request no longer restoring is).
func (m *Manager) ensureGroup(ctx context.Context) error {
	if m.groupReady.Load() {
		return nil
	}
	err := m.rdb.XGroupCreateMkStream(ctx, m.queue.EventsKey(), m.cfg.EventsGroup, "0").Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return fmt.Errorf("create events group %s: %w", m.cfg.EventsGroup, err)
	}
	m.groupReady.Store(true)
	return nil
}

// drainEvents handles, without waiting for more, the events this replica holds unacknowledged
// (including those taken over from a replica that stopped) and then the new ones.
func (m *Manager) drainEvents(ctx context.Context) error {
	if err := m.ensureGroup(ctx); err != nil {
		return err
	}
	// step 1: events another consumer read and left unacknowledged for longer than a lease.
	err := m.rdb.XAutoClaimJustID(ctx, &redis.XAutoClaimArgs{
		Stream: m.queue.EventsKey(), Group: m.cfg.EventsGroup, Consumer: m.cfg.Owner,
		MinIdle: m.cfg.LeaseTTL, Start: "0-0", Count: int64(m.cfg.Batch),
	}).Err()
	if err != nil {
		return fmt.Errorf("claim idle events: %w", err)
	}
	// step 2: this consumer's pending events (a step held the request's lease last time).
	if _, _, err := m.readEvents(ctx, "0", -1); err != nil {
		return err
	}
	// step 3: new events.
	for range maxEventRounds {
		n, _, err := m.readEvents(ctx, ">", -1)
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
		err := m.ensureGroup(ctx)
		if err == nil && left > 0 {
			_, left, err = m.readEvents(ctx, "0", -1)
		}
		if err == nil {
			var more int
			_, more, err = m.readEvents(ctx, ">", min(m.cfg.Interval, eventsWait))
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

// readEvents reads up to Batch events after id from (">" new, "0" this consumer's pending),
// waiting up to block (negative: not at all), handles them and acknowledges the handled ones.
// It returns how many it read and how many it left unacknowledged.
func (m *Manager) readEvents(ctx context.Context, from string, block time.Duration) (read, left int, err error) {
	streams, err := m.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group: m.cfg.EventsGroup, Consumer: m.cfg.Owner, Streams: []string{m.queue.EventsKey(), from},
		Count: int64(m.cfg.Batch), Block: block,
	}).Result()
	if errors.Is(err, redis.Nil) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("read agent events: %w", err)
	}
	for _, s := range streams {
		for _, msg := range s.Messages {
			read++
			if !m.handleEvent(ctx, msg) {
				left++
				continue
			}
			if err := m.rdb.XAck(ctx, m.queue.EventsKey(), m.cfg.EventsGroup, msg.ID).Err(); err != nil {
				return read, left, fmt.Errorf("acknowledge event %s: %w", msg.ID, err)
			}
		}
	}
	return read, left, nil
}

// handleEvent applies one agent event and reports whether it is done with (to acknowledge).
// Progress goes to the thread; a result moves the request on under its lease, and waits
// (unacknowledged) while another step holds the lease.
func (m *Manager) handleEvent(ctx context.Context, msg redis.XMessage) bool {
	e, err := agent.ParseEvent(msg.Values)
	if err != nil {
		m.log.Warn("agent event dropped", zap.String("event_id", msg.ID), zap.Error(err))
		return true
	}
	log := m.log.With(zap.String("request_id", e.RequestID), zap.String("event_id", msg.ID))
	if e.State == agent.StateRunning {
		r, err := m.store.Get(ctx, e.RequestID)
		switch {
		case errors.Is(err, approvals.ErrNotFound):
			return true
		case err != nil:
			log.Warn("progress event not shown", zap.Error(err))
			return false
		case r.Status == approvals.StatusRestoring:
			m.progress(ctx, r, describe(e))
		}
		return true
	}
	if !m.claim(e.RequestID) {
		return false
	}
	defer m.unclaim(e.RequestID)
	ran, err := m.leased(ctx, e.RequestID, func(ctx context.Context, id string) error { return m.restored(ctx, id, e) })
	m.logStep(e.RequestID, err)
	return ran && (err == nil || errors.Is(err, approvals.ErrIllegalTransition))
}

// restored applies an agent's result to a restoring request: ready releases the clone,
// failed fails the request and leaves the teardown to the next pass. A result for a request
// no longer restoring (a duplicate, or destroyed meanwhile) changes nothing.
func (m *Manager) restored(ctx context.Context, id string, e agent.Event) error {
	r, err := m.store.Get(ctx, id)
	if errors.Is(err, approvals.ErrNotFound) {
		return nil
	}
	if err != nil || r.Status != approvals.StatusRestoring {
		return err
	}
	switch e.State {
	case agent.StateFailed:
		reason := e.Reason
		if reason == "" {
			reason = "the restore agent gave up without a reason"
		}
		if _, err := m.fail(ctx, r, reason); err != nil {
			return err
		}
		m.poke()
		return nil
	case agent.StateReady:
		// step 1: restoring → ready; the store sets ReadyAt and ExpiresAt = now + TTL.
		next, err := m.move(ctx, r, approvals.TransitionInput{To: approvals.StatusReady, Note: "restored and masked"})
		if err != nil {
			return err
		}
		// step 2: the credentials expire with the clone; if the backend cannot be told now,
		// the next pass tells it.
		if err := m.syncExpiry(ctx, next); err != nil {
			m.log.Warn("backend not told the expiry yet", zap.String("request_id", id), zap.Error(err))
		}
		// step 3: the requester hears.
		if err := m.notify.Ready(ctx, next); err != nil {
			m.log.Warn("ready message not posted", zap.String("request_id", id), zap.Error(err))
		}
		m.changed(ctx, next)
		return nil
	}
	m.log.Warn("agent event with unknown state ignored", zap.String("request_id", id), zap.String("state", string(e.State)))
	return nil
}

// describe is the progress line of a running event.
func describe(e agent.Event) string {
	s := "restoring: " + string(e.Phase)
	if e.Rows > 0 || e.Bytes > 0 {
		// Rows and Bytes count the whole job so far, not the table being loaded.
		s += fmt.Sprintf(", %d rows (%s) so far", e.Rows, handlers.FormatBytes(e.Bytes))
		if e.Rate > 0 {
			s += " at " + handlers.FormatBytes(int64(e.Rate)) + "/s"
		}
	}
	if e.Table != "" {
		s += ", now " + e.Table
	}
	return s
}
