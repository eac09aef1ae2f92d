package audit

import (
	"cmp"
	"context"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/clonebot/clonebot/internal/clock"
)

// Outbox is the engine's stream of events, oldest first (on Redis: the request store's outbox).
type Outbox interface {
	// Read returns up to count events after the event afterID ("" for the first), oldest first.
	// An outbox that lost its events (Redis lost its data) and whose ids start again before
	// afterID returns what it holds from its first event, so nothing written since is skipped.
	Read(ctx context.Context, afterID string, count int) ([]Event, error)
	// Trim removes the events up to and including throughID.
	Trim(ctx context.Context, throughID string) error
	// Len is the number of events in the outbox.
	Len(ctx context.Context) (int64, error)
}

// Log is the audit log as the consumer writes it.
type Log interface {
	// Cursor returns the id of the last event appended under the cursor name ("" if none).
	Cursor(ctx context.Context, name string) (string, error)
	// RequestContext returns the tier, source and channel the log knows for each request, from
	// its earlier events (requests it knows nothing of are absent).
	RequestContext(ctx context.Context, requestIDs []string) (map[string]RequestContext, error)
	// Append adds the events whose ids are not in the log yet, in order, to the chain, and moves
	// the cursor to the last event's id if that event was not in yet (events read in order from
	// one stream: whenever it added any); one transaction, serialized with every other writer.
	// It returns what it added and the cursor after the commit.
	Append(ctx context.Context, cursor string, events []Event) (Appended, error)
}

// RequestContext is what every event of a request is filed under.
type RequestContext struct {
	Tier, Source, Channel string
}

// Appended is what one Append did.
type Appended struct {
	N      int    // events added (the others were in the log already)
	Cursor string // the cursor after the commit
	Head   Head   // the chain's head after the commit
}

// ConsumerConfig tunes the consumer; zero values take the defaults.
type ConsumerConfig struct {
	Cursor      string        // the log's cursor name for this outbox (default "outbox")
	Batch       int           // events per transaction (default 256)
	MaxBatches  int           // batches per pass, so a pass is bounded (default 64)
	Interval    time.Duration // wait between passes when the outbox is drained (default 1s)
	MinBackoff  time.Duration // wait after a failed pass, doubled after each failure in a row (default 1s)
	MaxBackoff  time.Duration // the longest wait (default 1m)
	PassTimeout time.Duration // bound of one pass, so a hung server cannot stall the loop (default 30s)
	Clock       clock.Clock   // default SystemClock
	// ActorName, when set, gives the display name of a Slack user ID ("" if unknown). It is called
	// once per actor per pass, for events that carry no name.
	ActorName func(ctx context.Context, userID string) string
}

func (c ConsumerConfig) withDefaults() ConsumerConfig {
	if c.Cursor == "" {
		c.Cursor = "outbox"
	}
	if c.Batch <= 0 {
		c.Batch = 256
	}
	if c.MaxBatches <= 0 {
		c.MaxBatches = 64
	}
	c.Interval = orDefault(c.Interval, time.Second)
	c.MinBackoff = orDefault(c.MinBackoff, time.Second)
	c.MaxBackoff = max(orDefault(c.MaxBackoff, time.Minute), c.MinBackoff)
	c.PassTimeout = orDefault(c.PassTimeout, 30*time.Second)
	if c.Clock == nil {
		c.Clock = clock.System{}
	}
	return c
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Consumer moves the outbox into the log: at least once, idempotent by event id, trimming the
// outbox only after the events are committed. Any number of consumers (one per replica) may run
// on the same outbox and log: the log serializes their appends into one chain and drops the
// events another consumer appended first.
type Consumer struct {
	out Outbox
	log Log
	cfg ConsumerConfig
	zl  *zap.Logger

	mu      sync.Mutex // serializes passes
	cursor  string     // the last event known to be in the log
	loaded  bool       // cursor was read from the log
	trimmed string     // the cursor the outbox was last trimmed through

	statusMu sync.Mutex
	status   ConsumerStatus
}

// ConsumerStatus is what /readyz and the metrics report about the consumer.
type ConsumerStatus struct {
	Appended    int64     // events appended since start
	LastSuccess time.Time // end of the last pass that succeeded
	Failures    int       // failed passes in a row (0 after a success)
	LastError   string    // the last pass's error, "" after a success
}

// NewConsumer returns a consumer of out into log.
func NewConsumer(out Outbox, log Log, cfg ConsumerConfig, zl *zap.Logger) *Consumer {
	return &Consumer{out: out, log: log, cfg: cfg.withDefaults(), zl: zl}
}

// Status returns the consumer's counters.
func (c *Consumer) Status() ConsumerStatus {
	c.statusMu.Lock()
	defer c.statusMu.Unlock()
	return c.status
}

// Backlog is the number of events waiting in the outbox (those appended but not yet trimmed
// included, until the next pass trims them).
func (c *Consumer) Backlog(ctx context.Context) (int64, error) {
	n, err := c.out.Len(ctx)
	if err != nil {
		return 0, fmt.Errorf("audit backlog: %w", err)
	}
	return n, nil
}

// Drain runs one pass: up to MaxBatches batches of Batch events are read, appended and trimmed
// from the outbox. It returns the events appended and whether the outbox may hold more.
func (c *Consumer) Drain(ctx context.Context) (appended int, more bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.loaded {
		if c.cursor, err = c.log.Cursor(ctx, c.cfg.Cursor); err != nil {
			return 0, false, fmt.Errorf("audit cursor: %w", err)
		}
		c.loaded = true
	}
	names := map[string]string{}
	for range c.cfg.MaxBatches {
		// step 1: the next events after what the log holds.
		events, err := c.out.Read(ctx, c.cursor, c.cfg.Batch)
		if err != nil {
			return appended, false, fmt.Errorf("read outbox after %q: %w", c.cursor, err)
		}
		if len(events) == 0 {
			return appended, false, c.trim(ctx)
		}
		// step 2: file them under their request's tier, source and channel.
		if err := c.prepare(ctx, events, names); err != nil {
			return appended, false, err
		}
		// step 3: one transaction; then the outbox may forget them.
		res, err := c.log.Append(ctx, c.cfg.Cursor, events)
		if err != nil {
			return appended, false, fmt.Errorf("append %d events after %q: %w", len(events), c.cursor, err)
		}
		appended += res.N
		c.statusMu.Lock()
		c.status.Appended += int64(res.N)
		c.statusMu.Unlock()
		// The log's cursor is ahead of this batch when another replica appended further; it
		// cannot lag behind it (every event of the batch is in the log now), but if it did, the
		// batch's last event is where to go on from, so a pass always makes progress.
		next := res.Cursor
		if next == "" || next == c.cursor {
			next = events[len(events)-1].ID
		}
		c.cursor = next
		if err := c.trim(ctx); err != nil {
			return appended, false, err
		}
		if len(events) < c.cfg.Batch {
			return appended, false, nil
		}
	}
	return appended, true, nil
}

func (c *Consumer) trim(ctx context.Context) error {
	if c.cursor == "" || c.cursor == c.trimmed {
		return nil
	}
	if err := c.out.Trim(ctx, c.cursor); err != nil {
		return fmt.Errorf("trim outbox through %s: %w", c.cursor, err)
	}
	c.trimmed = c.cursor
	return nil
}

// prepare normalizes events in place and fills in what the outbox left out: tier, source and
// channel from the event's details, else from the request's earlier events (in this batch, then
// in the log), and the actor's name.
func (c *Consumer) prepare(ctx context.Context, events []Event, names map[string]string) error {
	var missing []string
	seen := map[string]bool{}
	for i := range events {
		e := Normalize(events[i])
		e.Tier = cmp.Or(e.Tier, e.Details[DetailTier])
		e.Source = cmp.Or(e.Source, e.Details[DetailSource])
		e.Channel = cmp.Or(e.Channel, e.Details[DetailChannel])
		if (e.Tier == "" || e.Source == "" || e.Channel == "") && e.RequestID != "" && !seen[e.RequestID] {
			seen[e.RequestID] = true
			missing = append(missing, e.RequestID)
		}
		if e.ActorName == "" && c.cfg.ActorName != nil && e.Actor != SystemActor && e.Actor != "" {
			name, ok := names[e.Actor]
			if !ok {
				name = cleanText(c.cfg.ActorName(ctx, e.Actor))
				names[e.Actor] = name
			}
			e.ActorName = name
		}
		events[i] = e
	}
	if len(missing) == 0 {
		return nil
	}
	known, err := c.log.RequestContext(ctx, missing)
	if err != nil {
		return fmt.Errorf("request context of %d requests: %w", len(missing), err)
	}
	if known == nil {
		known = map[string]RequestContext{}
	}
	for i := range events {
		e := &events[i]
		k := known[e.RequestID]
		e.Tier, e.Source, e.Channel = cmp.Or(e.Tier, k.Tier), cmp.Or(e.Source, k.Source), cmp.Or(e.Channel, k.Channel)
		if e.RequestID != "" {
			known[e.RequestID] = RequestContext{Tier: e.Tier, Source: e.Source, Channel: e.Channel}
		}
	}
	return nil
}

// Backoff is the wait after the failures-th failed pass in a row: first doubled per failure,
// at most limit.
func Backoff(failures int, first, limit time.Duration) time.Duration {
	d := first
	for i := 1; i < failures && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

// Run drains the outbox until ctx ends: a pass every Interval while it is drained, at once while
// it holds more, and after Backoff when a pass fails (a PostgreSQL outage: the events wait in the
// outbox, which is trimmed only after they are committed, so none is lost). It runs in the
// caller's goroutine and starts none.
func (c *Consumer) Run(ctx context.Context) error {
	for {
		pass, cancel := context.WithTimeout(ctx, c.cfg.PassTimeout)
		n, more, err := c.Drain(pass)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		wait := c.record(n, err)
		if more && err == nil {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-c.cfg.Clock.After(wait):
		}
	}
}

// record keeps the pass's outcome and returns the wait before the next pass.
func (c *Consumer) record(n int, err error) time.Duration {
	c.statusMu.Lock()
	defer c.statusMu.Unlock()
	if err == nil {
		if c.status.Failures > 0 {
			c.zl.Info("audit log reachable again", zap.Int("failed_passes", c.status.Failures), zap.Int("appended", n))
		}
		c.status.Failures, c.status.LastError, c.status.LastSuccess = 0, "", c.cfg.Clock.Now()
		return c.cfg.Interval
	}
	c.status.Failures++
	c.status.LastError = err.Error()
	wait := Backoff(c.status.Failures, c.cfg.MinBackoff, c.cfg.MaxBackoff)
	c.zl.Warn("audit pass failed; the events stay in the outbox", zap.Error(err),
		zap.Int("failures", c.status.Failures), zap.Duration("retry_in", wait))
	return wait
}
