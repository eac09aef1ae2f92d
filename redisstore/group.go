package redisstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// ensureGroup creates stream's consumer group, and the stream, if they do not exist. The
// group reads from the stream's start, so an entry added before the group existed is still
// delivered.
func ensureGroup(ctx context.Context, c redis.UniversalClient, stream, group string) error {
	err := c.XGroupCreateMkStream(ctx, stream, group, "0").Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return fmt.Errorf("create consumer group %s on %s: %w", group, stream, err)
	}
	return nil
}

// noGroup reports whether err is Redis saying the stream or its consumer group is gone (the
// data was flushed, or a failover promoted an empty replica): NOGROUP, or UNBLOCKED for a
// blocking read whose stream was deleted while it waited.
func noGroup(err error) bool {
	return err != nil && (strings.HasPrefix(err.Error(), "NOGROUP") || strings.HasPrefix(err.Error(), "UNBLOCKED"))
}

// withGroup runs op and, when Redis answers that the group is gone, creates it again and runs
// op once more: a long-lived reader carries on after Redis lost its data.
func withGroup(ctx context.Context, c redis.UniversalClient, stream, group string, op func() error) error {
	err := op()
	if !noGroup(err) {
		return err
	}
	if err := ensureGroup(ctx, c, stream, group); err != nil {
		return err
	}
	return op()
}
