package redisstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/clonebot/clonebot/approvals"
)

// noticeDTO is a stored notice. Lua writes the card and vote notices itself, with string
// values only; at_ms is unix milliseconds as a string.
type noticeDTO struct {
	Kind    string `json:"kind"`
	By      string `json:"by,omitempty"`
	Text    string `json:"text,omitempty"`
	To      string `json:"to,omitempty"`
	Outcome string `json:"outcome,omitempty"`
	At      string `json:"at_ms"`
	Attempt int    `json:"attempt,omitempty"`
}

// encodeNotices encodes say for a script, stamping those without a time with at.
func encodeNotices(say []approvals.Notice, at time.Time) ([]any, error) {
	out := make([]any, 0, len(say))
	for _, n := range say {
		if n.Kind == "" {
			return nil, fmt.Errorf("notice without a kind: %+v", n)
		}
		if n.At.IsZero() {
			n.At = at
		}
		b, err := json.Marshal(noticeDTO{Kind: string(n.Kind), By: n.By, Text: n.Text, To: n.To, Outcome: string(n.Outcome), At: ms(n.At),
			Attempt: n.Attempt})
		if err != nil {
			return nil, fmt.Errorf("encode %s notice: %w", n.Kind, err)
		}
		out = append(out, string(b))
	}
	return out, nil
}

func decodeNotice(s string) (approvals.Notice, error) {
	var d noticeDTO
	if err := json.Unmarshal([]byte(s), &d); err != nil {
		return approvals.Notice{}, fmt.Errorf("decode notice: %w", err)
	}
	at, err := parseMS(d.At)
	if err != nil {
		return approvals.Notice{}, fmt.Errorf("decode notice: %w", err)
	}
	return approvals.Notice{Kind: approvals.NoticeKind(d.Kind), By: d.By, Text: d.Text, To: d.To,
		Outcome: approvals.VoteOutcome(d.Outcome), At: at, Attempt: d.Attempt}, nil
}

// Announce records notices about request id that no state change carries (progress, a TTL
// warning, a reminder, an alert). With once, a marks field of the request, they are recorded
// only the first time: it reports whether they were. Notices of a request that does not
// exist are recorded too (a kill switch's summary, say).
func (s *Store) Announce(ctx context.Context, id, once string, say ...approvals.Notice) (bool, error) {
	now := s.now()
	items, err := encodeNotices(say, now)
	if err != nil {
		return false, fmt.Errorf("announce on %s: %w", id, err)
	}
	rep, err := s.run(ctx, s.scripts.announce, id, append([]any{id, ms(now), once}, items...)...)
	if err != nil {
		return false, fmt.Errorf("announce on %s: %w", id, err)
	}
	return rep.code == "ok", nil
}

// NoticesDue returns up to limit ids of requests with notices to send, those waiting longest
// first.
func (s *Store) NoticesDue(ctx context.Context, limit int) ([]string, error) {
	ids, err := s.c.ZRange(ctx, s.k.notify(), 0, int64(limit)-1).Result()
	if err != nil {
		return nil, fmt.Errorf("notices due: %w", err)
	}
	return ids, nil
}

// TakeNotices takes (or renews) owner's lease on request id's notices for ttl and returns up
// to max of them, oldest first. ErrLeaseHeld if another sender holds them: the notices of one
// request are sent by one sender at a time, in order.
func (s *Store) TakeNotices(ctx context.Context, id, owner string, ttl time.Duration, max int) ([]approvals.Notice, error) {
	rep, err := s.run(ctx, s.scripts.takeNotices, id, id, owner, ttl.Milliseconds(), max)
	if err != nil {
		return nil, fmt.Errorf("take notices of %s: %w", id, err)
	}
	if rep.code == "held" {
		return nil, fmt.Errorf("take notices of %s: %w", id, approvals.ErrLeaseHeld)
	}
	out := make([]approvals.Notice, 0, len(rep.list))
	for _, item := range rep.list {
		n, err := decodeNotice(item)
		if err != nil {
			return nil, fmt.Errorf("notices of %s: %w", id, err)
		}
		out = append(out, n)
	}
	return out, nil
}

// AckNotices drops the first n notices of request id, once sent, and gives owner's lease up
// when release is set. It returns how many are left. ErrLeaseHeld if owner lost the lease
// (another sender took over; nothing was dropped).
func (s *Store) AckNotices(ctx context.Context, id, owner string, n int, release bool) (int, error) {
	rel := "0"
	if release {
		rel = "1"
	}
	rep, err := s.run(ctx, s.scripts.ackNotices, id, id, owner, n, rel)
	if err != nil {
		return 0, fmt.Errorf("acknowledge notices of %s: %w", id, err)
	}
	if rep.code == "lost" {
		return 0, fmt.Errorf("acknowledge notices of %s: %w", id, approvals.ErrLeaseHeld)
	}
	left, _ := strconv.Atoi(rep.detail)
	return left, nil
}
