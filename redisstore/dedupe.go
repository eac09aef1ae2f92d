package redisstore

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Deduper remembers the Slack Events API event ids every bot replica has handled (SET NX with
// a TTL), so a delivery Slack retries is handled once (transport.Deduper).
type Deduper struct {
	rdb redis.Cmdable
	k   keys
	ttl time.Duration
}

// NewDeduper remembers each event id for ttl, under prefix (keys.go).
func NewDeduper(rdb redis.Cmdable, prefix string, ttl time.Duration) *Deduper {
	return &Deduper{rdb: rdb, k: newKeys(prefix), ttl: ttl}
}

// FirstSeen records eventID and reports whether this is its first delivery.
func (d *Deduper) FirstSeen(ctx context.Context, eventID string) (bool, error) {
	first, err := d.rdb.SetNX(ctx, d.k.slackEvent(eventID), 1, d.ttl).Result()
	if err != nil {
		return false, fmt.Errorf("dedupe event %s: %w", eventID, err)
	}
	return first, nil
}
