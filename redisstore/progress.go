package redisstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// progressTTL bounds how long the position of a request's progress line is kept: a request's
// progress never lasts that long.
const progressTTL = 48 * time.Hour

// ProgressTS returns the ts of request id's progress line in Slack, or "" if none was posted.
// Every bot replica edits that one message rather than posting a second line.
func (s *Store) ProgressTS(ctx context.Context, id string) (string, error) {
	ts, err := s.c.Get(ctx, s.k.progress(id)).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("progress line of %s: %w", id, err)
	}
	return ts, nil
}

// SetProgressTS records the ts of request id's progress line.
func (s *Store) SetProgressTS(ctx context.Context, id, ts string) error {
	if err := s.c.Set(ctx, s.k.progress(id), ts, progressTTL).Err(); err != nil {
		return fmt.Errorf("record progress line of %s: %w", id, err)
	}
	return nil
}
