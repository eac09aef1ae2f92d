package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/clonebot/clonebot/audit"
)

// AuditOutbox is the request store's outbox as the audit log's consumer reads it
// (audit.Outbox): the events every change of a request appended in the same step.
type AuditOutbox struct{ s *Store }

// AuditOutbox returns the store's outbox for the audit consumer.
func (s *Store) AuditOutbox() AuditOutbox { return AuditOutbox{s: s} }

// Read returns up to count events after afterID ("" for the first), oldest first.
func (o AuditOutbox) Read(ctx context.Context, afterID string, count int) ([]audit.Event, error) {
	evs, err := o.s.ReadOutbox(ctx, afterID, count)
	if err != nil {
		return nil, err
	}
	out := make([]audit.Event, len(evs))
	for i, e := range evs {
		out[i] = audit.Event{ID: e.ID, Action: e.Type, RequestID: e.RequestID, Actor: e.Actor, At: e.At, Details: e.Data}
	}
	return out, nil
}

// Trim removes the events up to and including throughID (TrimOutbox keeps its argument, so it
// is given the next possible entry id).
func (o AuditOutbox) Trim(ctx context.Context, throughID string) error {
	ms, seq, ok := strings.Cut(throughID, "-")
	n, err := strconv.ParseUint(seq, 10, 64)
	if !ok || err != nil {
		return fmt.Errorf("outbox id %q: not ms-seq", throughID)
	}
	return o.s.TrimOutbox(ctx, ms+"-"+strconv.FormatUint(n+1, 10))
}

// Len is the number of events in the outbox: the audit backlog.
func (o AuditOutbox) Len(ctx context.Context) (int64, error) {
	n, err := o.s.c.XLen(ctx, o.s.k.outbox()).Result()
	if err != nil {
		return 0, fmt.Errorf("outbox length: %w", err)
	}
	return n, nil
}
