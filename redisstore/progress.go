package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/clonebot/clonebot/approvals"
)

// progressTTL bounds how long the position of a request's progress line is kept: a request's
// progress never lasts that long.
const progressTTL = 48 * time.Hour

// progressDTO is a stored progress line: where it is in Slack and the report it shows.
type progressDTO struct {
	TS      string `json:"ts"`
	Attempt int    `json:"attempt,omitempty"`
	At      string `json:"at_ms,omitempty"`
}

// ProgressLine returns the ts of request id's progress line in Slack ("" if none was posted)
// and the progress notice it shows (its attempt and time). Every bot replica edits that one
// message rather than posting a second line, and none shows a report older than it shows.
func (s *Store) ProgressLine(ctx context.Context, id string) (string, approvals.Notice, error) {
	v, err := s.c.Get(ctx, s.k.progress(id)).Result()
	if errors.Is(err, redis.Nil) {
		return "", approvals.Notice{}, nil
	}
	if err != nil {
		return "", approvals.Notice{}, fmt.Errorf("progress line of %s: %w", id, err)
	}
	if !strings.HasPrefix(v, "{") {
		return v, approvals.Notice{}, nil // written before the line kept what it shows: a ts alone
	}
	var d progressDTO
	if err := json.Unmarshal([]byte(v), &d); err != nil {
		return "", approvals.Notice{}, fmt.Errorf("progress line of %s: %w", id, err)
	}
	at, err := parseMS(d.At)
	if err != nil {
		return "", approvals.Notice{}, fmt.Errorf("progress line of %s: %w", id, err)
	}
	return d.TS, approvals.Notice{Kind: approvals.NoticeProgress, Attempt: d.Attempt, At: at}, nil
}

// SetProgressLine records the ts of request id's progress line and the notice it now shows.
func (s *Store) SetProgressLine(ctx context.Context, id, ts string, shown approvals.Notice) error {
	b, err := json.Marshal(progressDTO{TS: ts, Attempt: shown.Attempt, At: ms(shown.At)})
	if err != nil {
		return fmt.Errorf("record progress line of %s: %w", id, err)
	}
	if err := s.c.Set(ctx, s.k.progress(id), string(b), progressTTL).Err(); err != nil {
		return fmt.Errorf("record progress line of %s: %w", id, err)
	}
	return nil
}
