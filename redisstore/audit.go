package redisstore

import (
	"context"
	"errors"
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

// Read returns up to count events after afterID ("" for the first), oldest first. When Redis
// lost the outbox (its data was flushed, or a failover promoted an empty replica) and the
// outbox's ids now stand behind afterID (a server clock behind the old one's), it returns the
// events the outbox holds from its first: after afterID there would be none until the clock
// caught up, and a consumer would trim the events it never read.
func (o AuditOutbox) Read(ctx context.Context, afterID string, count int) ([]audit.Event, error) {
	evs, err := o.s.ReadOutbox(ctx, afterID, count)
	if err != nil {
		return nil, err
	}
	if len(evs) == 0 && afterID != "" {
		behind, err := o.behind(ctx, afterID)
		if err != nil {
			return nil, err
		}
		if behind {
			if evs, err = o.s.ReadOutbox(ctx, "", count); err != nil {
				return nil, err
			}
		}
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
	id, err := parseStreamID(throughID)
	if err != nil {
		return fmt.Errorf("outbox id: %w", err)
	}
	return o.s.TrimOutbox(ctx, strconv.FormatUint(id.ms, 10)+"-"+strconv.FormatUint(id.seq+1, 10))
}

// Len is the number of events in the outbox: the audit backlog.
func (o AuditOutbox) Len(ctx context.Context) (int64, error) {
	n, err := o.s.c.XLen(ctx, o.s.k.outbox()).Result()
	if err != nil {
		return 0, fmt.Errorf("outbox length: %w", err)
	}
	return n, nil
}

// behind reports whether the outbox's last id is before id: a stream's ids only grow (trims
// included), so it lost its entries.
func (o AuditOutbox) behind(ctx context.Context, id string) (bool, error) {
	info, err := o.s.c.XInfoStream(ctx, o.s.k.outbox()).Result()
	if err != nil && strings.HasPrefix(err.Error(), "ERR no such key") {
		return false, nil // nothing written since: nothing to read
	}
	if err != nil {
		return false, fmt.Errorf("outbox's last id: %w", err)
	}
	last, err1 := parseStreamID(info.LastGeneratedID)
	want, err2 := parseStreamID(id)
	if err1 != nil || err2 != nil {
		return false, fmt.Errorf("outbox ids %q, %q: %w", info.LastGeneratedID, id, errors.Join(err1, err2))
	}
	return last.less(want), nil
}

// streamID is a stream entry id, ms-seq.
type streamID struct{ ms, seq uint64 }

func parseStreamID(s string) (streamID, error) {
	ms, seq, ok := strings.Cut(s, "-")
	if !ok {
		return streamID{}, fmt.Errorf("stream id %q: not ms-seq", s)
	}
	m, err1 := strconv.ParseUint(ms, 10, 64)
	n, err2 := strconv.ParseUint(seq, 10, 64)
	if err1 != nil || err2 != nil {
		return streamID{}, fmt.Errorf("stream id %q: not ms-seq", s)
	}
	return streamID{ms: m, seq: n}, nil
}

func (a streamID) less(b streamID) bool { return a.ms < b.ms || (a.ms == b.ms && a.seq < b.seq) }
