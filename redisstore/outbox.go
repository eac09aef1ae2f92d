package redisstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// OutboxEvent is one audit event, appended by the same script as the change it records.
//
// Types: "requested", "voted", "extended", "message" (the card was posted), and the status a
// request entered ("approved", "denied", "cancelled", "ready", ...). Data holds the details as
// strings: voted has decision, slot, slot_name, reason and, when the approval moved earlier
// approvers to other slots, reassigned ("U1 now counts as security"); a status event has
// from, to and, where there is one, note, failure, expires_at_ms (approved: approvers, each
// slot with who fills it); extended has from_expires_at_ms and expires_at_ms; requested has
// tier, source, mode, ttl_ms, reason, team and, when its actor is an API key ("api:<key id>")
// rather than the requester, requester; message has channel and message_ts. Times in Data are
// unix milliseconds.
type OutboxEvent struct {
	ID        string // stream entry id: the cursor to pass to ReadOutbox for the events after this one
	Type      string
	RequestID string
	Actor     string // Slack user ID, a service identity, "api:<key id>" (through the REST API), or "clonebot"
	At        time.Time
	Data      map[string]string
}

// ReadOutbox returns up to count events (count ≤ 0: all) after the entry afterID ("" for the first), oldest
// first. A consumer keeps the ID of the last event it stored durably and passes it next time;
// events stay in the stream until TrimOutbox removes them.
func (s *Store) ReadOutbox(ctx context.Context, afterID string, count int) ([]OutboxEvent, error) {
	start := "-"
	if afterID != "" {
		start = "(" + afterID
	}
	var cmd *redis.XMessageSliceCmd
	if count > 0 {
		cmd = s.c.XRangeN(ctx, s.k.outbox(), start, "+", int64(count))
	} else {
		cmd = s.c.XRange(ctx, s.k.outbox(), start, "+")
	}
	msgs, err := cmd.Result()
	if err != nil {
		return nil, fmt.Errorf("read outbox after %q: %w", afterID, err)
	}
	out := make([]OutboxEvent, 0, len(msgs))
	for _, m := range msgs {
		e, err := outboxEvent(m)
		if err != nil {
			return nil, fmt.Errorf("read outbox entry %s: %w", m.ID, err)
		}
		out = append(out, e)
	}
	return out, nil
}

// TrimOutbox removes the events before the entry minID (minID itself stays). Call it with the
// ID after the last event stored durably, or with that event's own ID to keep one behind.
func (s *Store) TrimOutbox(ctx context.Context, minID string) error {
	if err := s.c.XTrimMinID(ctx, s.k.outbox(), minID).Err(); err != nil {
		return fmt.Errorf("trim outbox before %s: %w", minID, err)
	}
	return nil
}

func outboxEvent(m redis.XMessage) (OutboxEvent, error) {
	str := func(k string) string { v, _ := m.Values[k].(string); return v }
	at, err := parseMS(str("at"))
	if err != nil {
		return OutboxEvent{}, err
	}
	e := OutboxEvent{ID: m.ID, Type: str("type"), RequestID: str("request_id"), Actor: str("actor"), At: at}
	if d := str("data"); d != "" {
		if err := json.Unmarshal([]byte(d), &e.Data); err != nil {
			return OutboxEvent{}, fmt.Errorf("data: %w", err)
		}
	}
	return e, nil
}
