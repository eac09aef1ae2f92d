package redisstore

import (
	"context"
	"fmt"
	neturl "net/url"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// DB is one Redis (a single server, or a Cluster) and the key prefix every clonebot process
// shares on it; it makes the adapters that live there.
type DB struct {
	c      redis.UniversalClient
	prefix string
}

// Open connects to the Redis of url (redis:// or rediss://) and checks that it answers. With
// cluster, url names one or more nodes of a Redis Cluster (redis://:pw@h1:6379?addr=h2:6379,
// or a cluster's configuration endpoint) and the client follows the cluster's redirects; every
// group of keys one script or transaction touches shares a hash tag (keys.go), so all of them
// work on a cluster. The error never quotes the URL, which may hold a password.
func Open(ctx context.Context, url, prefix string, cluster bool) (*DB, error) {
	var c redis.UniversalClient
	var addr string
	if cluster {
		opts, err := redis.ParseClusterURL(url)
		if err != nil {
			return nil, fmt.Errorf("redis.url: not a redis:// or rediss:// URL of cluster nodes")
		}
		if db := dbNumber(url); db != 0 {
			return nil, fmt.Errorf("redis.url: a Redis Cluster has only database 0, not %d", db)
		}
		c, addr = redis.NewClusterClient(opts), strings.Join(opts.Addrs, ",")
	} else {
		opts, err := redis.ParseURL(url)
		if err != nil {
			return nil, fmt.Errorf("redis.url: not a redis:// or rediss:// URL")
		}
		c, addr = redis.NewClient(opts), opts.Addr
	}
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		return nil, fmt.Errorf("redis at %s: %w", addr, err)
	}
	return &DB{c: c, prefix: prefix}, nil
}

// dbNumber is the database a redis:// URL names in its path (0 when none).
func dbNumber(raw string) int {
	u, err := neturl.Parse(raw)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.Trim(u.Path, "/"))
	return n
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
	purge := func(ctx context.Context, c redis.Cmdable) error {
		iter := c.Scan(ctx, 0, db.prefix+"*", 500).Iterator()
		for iter.Next(ctx) {
			if err := c.Del(ctx, iter.Val()).Err(); err != nil {
				return fmt.Errorf("purge %s: %w", db.prefix, err)
			}
		}
		if err := iter.Err(); err != nil {
			return fmt.Errorf("purge %s: %w", db.prefix, err)
		}
		return nil
	}
	if cc, ok := db.c.(*redis.ClusterClient); ok { // each master holds its own slots
		return cc.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error { return purge(ctx, node) })
	}
	return purge(ctx, db.c)
}
