package app

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/clonebot/clonebot/approvals"
	"github.com/clonebot/clonebot/audit"
	"github.com/clonebot/clonebot/audit/pgstore"
	"github.com/clonebot/clonebot/handlers"
	"github.com/clonebot/clonebot/internal/clock"
	"github.com/clonebot/clonebot/redisstore"
)

// auditLog runs the audit log of a serve replica: it opens the audit database (retrying while
// it is unreachable: the events wait in the Redis outbox meanwhile), then moves the outbox into
// the hash chain and publishes the chain's head to the security channel every day.
type auditLog struct {
	url      string
	outbox   redisstore.AuditOutbox
	sink     audit.AnchorSink
	clock    clock.Clock
	log      *zap.Logger
	actorOf  func(ctx context.Context, userID string) string
	anchorAt time.Duration // after midnight UTC

	mu       sync.Mutex
	store    *pgstore.Store // nil until opened
	consumer *audit.Consumer
	anchorer *audit.Anchorer
	openErr  error
}

// anchorSink posts a chain head as a security alert: the notice is recorded in Redis at once
// and the notifier delivers it to the security channel, outside the audit database.
type anchorSink struct{ store *redisstore.Store }

func (s anchorSink) PublishAnchor(ctx context.Context, head audit.Head, at time.Time) error {
	_, err := s.store.Announce(ctx, handlers.SystemMailbox, "", approvals.Notice{Kind: approvals.NoticeAlert, At: at, Text: fmt.Sprintf(
		"Audit log head at %s: %s. Keep this line: `clonebot audit verify --anchor %s` proves no row up to it was changed, deleted or cut off.",
		approvals.FormatTime(at), head, head)})
	return err
}

// Run opens the database, then runs the consumer and the daily anchor until ctx ends.
func (l *auditLog) Run(ctx context.Context) error {
	for failures := 1; ctx.Err() == nil; failures++ {
		s, err := pgstore.Open(ctx, l.url)
		if err == nil {
			l.opened(s)
			break
		}
		l.mu.Lock()
		l.openErr = err
		l.mu.Unlock()
		wait := audit.Backoff(failures, time.Second, time.Minute)
		l.log.Warn("audit database unavailable; the events wait in the outbox", zap.Duration("retry_in", wait), zap.Error(err))
		select {
		case <-ctx.Done():
			return nil
		case <-l.clock.After(wait):
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	defer l.store.Close()
	return runAll(ctx, l.consumer.Run, func(ctx context.Context) error { return l.anchorer.Run(ctx, time.Minute) })
}

func (l *auditLog) opened(s *pgstore.Store) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.store, l.openErr = s, nil
	l.consumer = audit.NewConsumer(l.outbox, s, audit.ConsumerConfig{Clock: l.clock, ActorName: l.actorOf}, l.log.Named("consumer"))
	a, err := audit.NewAnchorer(s, l.sink, l.clock, l.anchorAt, l.log.Named("anchor"))
	if err != nil { // only for a bad argument, which New checked
		panic(err)
	}
	l.anchorer = a
	l.log.Info("audit log open")
}

// AuditNow does at once what serve's audit loop does over time: it opens the audit database
// (the first time), moves every event waiting in the outbox into the chain, and verifies the
// whole chain. The demo runs it; serve runs the loop.
func (a *App) AuditNow(ctx context.Context) (appended int, v audit.Verified, err error) {
	l := a.audit
	if l == nil {
		return 0, audit.Verified{}, errors.New("audit: no audit.url configured")
	}
	l.mu.Lock()
	s := l.store
	l.mu.Unlock()
	if s == nil {
		if s, err = pgstore.Open(ctx, l.url); err != nil {
			return 0, audit.Verified{}, err
		}
		l.opened(s)
		a.closers = append(a.closers, func() error { s.Close(); return nil })
	}
	for more := true; more; {
		var n int
		n, more, err = l.consumer.Drain(ctx)
		appended += n
		if err != nil {
			return appended, audit.Verified{}, err
		}
	}
	v, err = audit.Verify(ctx, s)
	return appended, v, err
}

// status says how the audit log is doing, for /readyz: the outbox backlog and the consumer's
// last failure, or why the database is not open.
func (l *auditLog) status(ctx context.Context) string {
	l.mu.Lock()
	c, openErr := l.consumer, l.openErr
	l.mu.Unlock()
	backlog, err := l.outbox.Len(ctx)
	if err != nil {
		return "audit: backlog unknown: " + err.Error()
	}
	switch {
	case c == nil && openErr != nil:
		return fmt.Sprintf("audit: database unavailable (%v); %d events wait in the outbox", openErr, backlog)
	case c == nil:
		return fmt.Sprintf("audit: opening; %d events wait in the outbox", backlog)
	}
	st := c.Status()
	s := fmt.Sprintf("audit: %d events in the outbox; %d appended since start", backlog, st.Appended)
	if st.Failures > 0 {
		s += fmt.Sprintf("; the last %d passes failed: %s", st.Failures, st.LastError)
	}
	return s
}

// backlog is the outbox length, for the metric (-1 when unknown).
func (l *auditLog) backlog() float64 {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	n, err := l.outbox.Len(ctx)
	if err != nil {
		return -1
	}
	return float64(n)
}

// anchorAge is how long ago the last anchor was published, for the metric (-1 when none).
func (l *auditLog) anchorAge() float64 {
	l.mu.Lock()
	a := l.anchorer
	l.mu.Unlock()
	if a == nil {
		return -1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	age, ok, err := a.Age(ctx)
	if err != nil || !ok {
		return -1
	}
	return age.Seconds()
}

// reports is the governance report from the audit log, for /clone report (handlers.Reports).
type reports struct {
	l      *auditLog
	policy *approvals.Policy
}

func (r reports) Build(ctx context.Context, now time.Time, window time.Duration, scope audit.Scope) (audit.Report, error) {
	r.l.mu.Lock()
	s := r.l.store
	r.l.mu.Unlock()
	if s == nil {
		return audit.Report{}, fmt.Errorf("the audit database is not open yet")
	}
	return audit.Reports{History: s, Policy: r.policy}.Build(ctx, now, window, scope)
}
