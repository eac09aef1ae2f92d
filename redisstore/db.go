package redisstore

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// DB is one Redis (a single server, or a Cluster) and the key prefix every clonebot process
// shares on it; it makes the adapters that live there.
type DB struct {
	c      redis.UniversalClient
	prefix string
}

// Open connects to the Redis of url (redis:// or rediss://) and checks that it answers. The
// error never quotes the URL, which may hold a password.
func Open(ctx context.Context, url, prefix string) (*DB, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis.url: not a redis:// or rediss:// URL")
	}
	c := redis.NewClient(opts)
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		return nil, fmt.Errorf("redis at %s: %w", opts.Addr, err)
	}
	return &DB{c: c, prefix: prefix}, nil
}

// NewDB wraps a client someone else made (tests, the demo's embedded Redis).
func NewDB(c redis.UniversalClient, prefix string) *DB { return &DB{c: c, prefix: prefix} }

// Store returns the request store.
func (db *DB) Store(opts ...Option) *Store { return New(db.c, db.prefix, opts...) }

// Queue returns the restore job queue of the agents' consumer group.
func (db *DB) Queue() *Queue { return NewQueue(db.c, db.prefix, DefaultGroup) }

// Events returns the reader of the agents' events stream.
func (db *DB) Events() *Events { return NewEvents(db.c, db.prefix) }

// Deduper returns the Slack event dedupe, remembering each event id for ttl.
func (db *DB) Deduper(ttl time.Duration) *Deduper { return NewDeduper(db.c, db.prefix, ttl) }

// Ping checks that Redis answers.
func (db *DB) Ping(ctx context.Context) error { return db.c.Ping(ctx).Err() }

// Close closes the connections.
func (db *DB) Close() error { return db.c.Close() }

// Purge deletes every key under the prefix: what one clonebot (a demo run, say) kept in a
// Redis it shares with others.
func (db *DB) Purge(ctx context.Context) error {
	iter := db.c.Scan(ctx, 0, db.prefix+"*", 500).Iterator()
	for iter.Next(ctx) {
		if err := db.c.Del(ctx, iter.Val()).Err(); err != nil {
			return fmt.Errorf("purge %s: %w", db.prefix, err)
		}
	}
	if err := iter.Err(); err != nil {
		return fmt.Errorf("purge %s: %w", db.prefix, err)
	}
	return nil
}
