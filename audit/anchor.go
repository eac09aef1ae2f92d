package audit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/clonebot/clonebot/internal/clock"
)

// AnchorSink publishes the chain head where whoever can rewrite the database cannot reach it
// (the security channel in Slack).
type AnchorSink interface {
	// PublishAnchor posts head, taken at at. An error means it was not published.
	PublishAnchor(ctx context.Context, head Head, at time.Time) error
}

// AnchorLog keeps the record of published anchors, so that replicas publish one daily anchor
// between them and the anchor's age can be reported. It is bookkeeping, not evidence: Verify
// trusts only the anchors it is given from outside.
type AnchorLog interface {
	// ClaimAnchor takes slot for this caller and returns the chain head to publish. It returns
	// false when the slot is published or claimed less than lease ago, or the chain is empty.
	ClaimAnchor(ctx context.Context, slot time.Time, kind string, at time.Time, lease time.Duration) (Head, bool, error)
	// AnchorPublished marks the slot's anchor published at at.
	AnchorPublished(ctx context.Context, slot time.Time, at time.Time) error
	// ReleaseAnchor gives up an unpublished claim, so the next tick tries again.
	ReleaseAnchor(ctx context.Context, slot time.Time) error
	// LastAnchor returns the newest published anchor (false if none).
	LastAnchor(ctx context.Context) (Anchor, bool, error)
}

// Anchor kinds.
const (
	AnchorDaily    = "daily"
	AnchorOnDemand = "on_demand"
)

// Anchor is a published head.
type Anchor struct {
	Head
	Kind        string
	Slot        time.Time // the daily slot, or the moment it was asked for
	PublishedAt time.Time
}

// ErrEmptyChain is returned when there is no head to anchor.
var ErrEmptyChain = errors.New("the audit log is empty: nothing to anchor")

// DailySlot returns the latest daily anchor moment at or before now: at after midnight UTC.
func DailySlot(now time.Time, at time.Duration) time.Time {
	now = now.UTC()
	y, m, d := now.Date()
	slot := time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Add(at)
	if slot.After(now) {
		slot = slot.AddDate(0, 0, -1)
	}
	return slot
}

// Anchorer publishes the chain head daily and on demand.
type Anchorer struct {
	log   AnchorLog
	sink  AnchorSink
	clock clock.Clock
	at    time.Duration // daily, this long after midnight UTC
	lease time.Duration // a claim not published within this is taken over
	zl    *zap.Logger
}

// NewAnchorer returns an Anchorer publishing daily at `at` after midnight UTC (0 ≤ at < 24h).
func NewAnchorer(log AnchorLog, sink AnchorSink, c clock.Clock, at time.Duration, zl *zap.Logger) (*Anchorer, error) {
	if at < 0 || at >= 24*time.Hour {
		return nil, fmt.Errorf("daily anchor time %s: must be within one day after midnight UTC", at)
	}
	if c == nil {
		c = clock.System{}
	}
	return &Anchorer{log: log, sink: sink, clock: c, at: at, lease: 10 * time.Minute, zl: zl}, nil
}

// Publish publishes the head now (`clonebot audit anchor`). ErrEmptyChain when there is none.
func (a *Anchorer) Publish(ctx context.Context) (Anchor, error) {
	now := a.clock.Now().UTC()
	anc, ok, err := a.publish(ctx, AnchorOnDemand, now, now)
	if err == nil && !ok {
		err = ErrEmptyChain
	}
	return anc, err
}

// Tick publishes today's daily anchor if its moment has come and no replica has published it.
// It returns whether this call published it.
func (a *Anchorer) Tick(ctx context.Context) (Anchor, bool, error) {
	now := a.clock.Now().UTC()
	return a.publish(ctx, AnchorDaily, DailySlot(now, a.at), now)
}

func (a *Anchorer) publish(ctx context.Context, kind string, slot, now time.Time) (Anchor, bool, error) {
	// step 1: claim the slot; another replica's claim or an empty chain leaves nothing to do.
	head, ok, err := a.log.ClaimAnchor(ctx, slot, kind, now, a.lease)
	if err != nil || !ok {
		return Anchor{}, false, err
	}
	// step 2: publish; a failure gives the claim back for the next tick.
	if err := a.sink.PublishAnchor(ctx, head, now); err != nil {
		if rerr := a.log.ReleaseAnchor(ctx, slot); rerr != nil {
			a.zl.Warn("anchor claim not released; it lapses after the lease", zap.Error(rerr))
		}
		return Anchor{}, false, fmt.Errorf("publish anchor %s: %w", head, err)
	}
	// step 3: record it; the anchor is out, so a failure here only ages the metric.
	if err := a.log.AnchorPublished(ctx, slot, now); err != nil {
		a.zl.Warn("anchor published but not recorded", zap.Stringer("head", head), zap.Error(err))
	}
	a.zl.Info("audit anchor published", zap.String("kind", kind), zap.Stringer("head", head))
	return Anchor{Head: head, Kind: kind, Slot: slot, PublishedAt: now}, true, nil
}

// Age is how long ago the last anchor was published (false if never): the "last anchor age" metric.
func (a *Anchorer) Age(ctx context.Context) (time.Duration, bool, error) {
	last, ok, err := a.log.LastAnchor(ctx)
	if err != nil || !ok {
		return 0, false, err
	}
	return a.clock.Now().Sub(last.PublishedAt), true, nil
}

// Run ticks every interval (a minute is plenty) until ctx ends; failures are logged and retried
// at the next tick. It runs in the caller's goroutine.
func (a *Anchorer) Run(ctx context.Context, interval time.Duration) error {
	for {
		if _, _, err := a.Tick(ctx); err != nil && ctx.Err() == nil {
			a.zl.Warn("daily audit anchor not published; retrying", zap.Error(err), zap.Duration("retry_in", interval))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-a.clock.After(interval):
		}
	}
}
