package redisstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/clonebot/clonebot/jobs"
)

// Events reads the agents' events stream through one consumer group shared by the bot
// replicas: each event is handled by one replica, and one a stopped replica left
// unacknowledged is taken over by another.
type Events struct {
	rdb    redis.UniversalClient
	stream string
	group  string
}

// EventsGroup is the bot replicas' consumer group on the events stream.
const EventsGroup = "clonebot-lifecycle"

// NewEvents returns the reader of the events stream under prefix.
func NewEvents(rdb redis.UniversalClient, prefix string) *Events {
	return &Events{rdb: rdb, stream: newKeys(prefix).events(), group: EventsGroup}
}

// EnsureGroup creates the consumer group if it does not exist, reading from the stream's start:
// an event published before the group existed is still handled.
func (e *Events) EnsureGroup(ctx context.Context) error {
	return ensureGroup(ctx, e.rdb, e.stream, e.group)
}

// ClaimIdle gives consumer up to count events another consumer read and left unacknowledged
// for at least minIdle; Read(pending) returns them.
func (e *Events) ClaimIdle(ctx context.Context, consumer string, minIdle time.Duration, count int) error {
	err := withGroup(ctx, e.rdb, e.stream, e.group, func() error {
		return e.rdb.XAutoClaimJustID(ctx, &redis.XAutoClaimArgs{
			Stream: e.stream, Group: e.group, Consumer: consumer, MinIdle: minIdle, Start: "0-0", Count: int64(count),
		}).Err()
	})
	if err != nil {
		return fmt.Errorf("claim idle events: %w", err)
	}
	return nil
}

// Read returns up to count events for consumer: those it holds unacknowledged (pending) or new
// ones, waiting up to block for new ones (negative: not at all). A group Redis lost is created
// again.
func (e *Events) Read(ctx context.Context, consumer string, pending bool, count int, block time.Duration) ([]jobs.Received, error) {
	from := ">"
	if pending {
		from = "0"
	}
	var streams []redis.XStream
	err := withGroup(ctx, e.rdb, e.stream, e.group, func() (err error) {
		streams, err = e.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group: e.group, Consumer: consumer, Streams: []string{e.stream, from}, Count: int64(count), Block: block,
		}).Result()
		return err
	})
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read agent events: %w", err)
	}
	var out []jobs.Received
	for _, s := range streams {
		for _, m := range s.Messages {
			ev, err := ParseEvent(m.Values)
			out = append(out, jobs.Received{ID: m.ID, Event: ev, Bad: err})
		}
	}
	return out, nil
}

// Ack acknowledges handled events.
func (e *Events) Ack(ctx context.Context, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	if err := e.rdb.XAck(ctx, e.stream, e.group, ids...).Err(); err != nil {
		return fmt.Errorf("acknowledge events: %w", err)
	}
	return nil
}
