package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/clonebot/clonebot/approvals"
	"github.com/clonebot/clonebot/provisioner"
)

// GuardStore is what the expiry guard needs of the request store (redisstore.Store). Errors
// are approvals' sentinels.
type GuardStore interface {
	// Get returns a request. ErrNotFound.
	Get(ctx context.Context, id string) (*approvals.Request, error)
	// DueExpiry returns up to limit ids (≤ 0: all) of ready clones whose TTL ends at or before t.
	DueExpiry(ctx context.Context, t time.Time, limit int) ([]string, error)
	// NextExpiryAfter returns the first expiry of a ready clone after t (false when none).
	NextExpiryAfter(ctx context.Context, t time.Time) (time.Time, bool, error)
	// AcquireLease takes the request's lease for owner; ErrLeaseHeld if another owner holds
	// it. ReleaseLease gives it up.
	AcquireLease(ctx context.Context, id, owner string, ttl time.Duration) error
	ReleaseLease(ctx context.Context, id, owner string) error
	revokeStore
}

// revokeStore is what revoking a clone at expiry records in the store.
type revokeStore interface {
	Marks(ctx context.Context, ids ...string) ([]approvals.Marks, error)
	SetMarks(ctx context.Context, id string, mk approvals.Marks) error
	RecordEvent(ctx context.Context, id, typ, actor string, at time.Time, data map[string]string) error
}

// GuardConfig tunes the expiry guard.
type GuardConfig struct {
	Owner    string        // this process's name: the owner of the requests' leases it takes
	Interval time.Duration // the longest wait between passes; a pass also runs at each expiry
	LeaseTTL time.Duration // of the request's lease while its access is revoked
}

// ExpiryGuard ends the access of clones whose time is up without the reconcile loop, so that
// a clone's open sessions end within moments of its expiry even while no serve replica runs
// (VALID UNTIL alone refuses new logins only). It reads the store's expiry index, and for each
// expired ready clone not revoked yet takes the request's lease (the loop's, so the two never
// act on one request at once) and revokes it as the loop does at expiry: the backend's Revoker
// (no login, sessions ended), credentials_revoked in the audit outbox, and the request's
// Revoked mark, which the loop then finds and does not revoke again. The destroy is left to
// the loop. Backends without a Revoker are left alone. Any process that reaches Redis and the
// backends can run one (the agents do); any number may run at once.
type ExpiryGuard struct {
	cfg      GuardConfig
	store    GuardStore
	backends provisioner.Backends
	log      *zap.Logger
	now      func() time.Time
	settled  map[string]bool // due requests with nothing left to do: revoked, or on a backend without a Revoker
}

// NewExpiryGuard returns a guard; now defaults to time.Now.
func NewExpiryGuard(cfg GuardConfig, store GuardStore, backends provisioner.Backends, log *zap.Logger, now func() time.Time) (*ExpiryGuard, error) {
	switch {
	case cfg.Owner == "" || cfg.Interval <= 0 || cfg.LeaseTTL < time.Second:
		return nil, fmt.Errorf("expiry guard config %+v: an owner, a positive interval and a lease of at least 1s are required", cfg)
	case store == nil || backends == nil || log == nil:
		return nil, errors.New("expiry guard: a store, backends and a logger are required")
	}
	if now == nil {
		now = time.Now
	}
	return &ExpiryGuard{cfg: cfg, store: store, backends: backends, log: log.With(zap.String("owner", cfg.Owner)), now: now,
		settled: map[string]bool{}}, nil
}

// Run revokes what expires until ctx ends: a pass at start, at each expiry and at least every
// Interval.
func (g *ExpiryGuard) Run(ctx context.Context) error {
	g.log.Info("expiry guard started", zap.Duration("interval", g.cfg.Interval))
	for {
		passed := g.now()
		if _, err := g.pass(ctx, passed); err != nil && ctx.Err() == nil {
			g.log.Warn("expiry guard pass", zap.Error(err))
		}
		t := time.NewTimer(g.untilNext(ctx, passed))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// untilNext is the wait before the next pass after one that looked at the expiries up to
// passed: until the first expiry after passed (at once if that is past already, as when it
// came while the pass ran), at most the interval.
func (g *ExpiryGuard) untilNext(ctx context.Context, passed time.Time) time.Duration {
	next, ok, err := g.store.NextExpiryAfter(ctx, passed)
	if err != nil || !ok {
		return g.cfg.Interval
	}
	return min(g.cfg.Interval, max(next.Sub(g.now()), 0)+time.Millisecond)
}

// Pass revokes every clone expired at now that is not revoked yet, and returns how many it
// revoked. A request whose lease the loop holds is left to the loop. Passes must not overlap
// (Run makes them one after another).
func (g *ExpiryGuard) Pass(ctx context.Context) (int, error) { return g.pass(ctx, g.now()) }

func (g *ExpiryGuard) pass(ctx context.Context, now time.Time) (int, error) {
	ids, err := g.store.DueExpiry(ctx, now, 0)
	if err != nil {
		return 0, err
	}
	// step 1: what was revoked already (by this guard, another, or the loop) is skipped.
	var todo []string
	due := make(map[string]bool, len(ids))
	for _, id := range ids {
		due[id] = true
		if !g.settled[id] {
			todo = append(todo, id)
		}
	}
	for id := range g.settled {
		if !due[id] {
			delete(g.settled, id) // destroyed meanwhile: out of the index
		}
	}
	if len(todo) == 0 {
		return 0, nil
	}
	mks, err := g.store.Marks(ctx, todo...)
	if err != nil {
		return 0, err
	}
	// step 2: the rest, each under its request's lease.
	n := 0
	var errs []error
	for i, id := range todo {
		if !mks[i].Revoked.IsZero() {
			g.settled[id] = true
			continue
		}
		fresh, err := g.revoke(ctx, id, now)
		if err != nil {
			errs = append(errs, err)
		}
		if fresh {
			n++
		}
	}
	return n, errors.Join(errs...)
}

// revoke revokes request id's clone if it is ready and expired at now, under its lease.
func (g *ExpiryGuard) revoke(ctx context.Context, id string, now time.Time) (bool, error) {
	err := g.store.AcquireLease(ctx, id, g.cfg.Owner, g.cfg.LeaseTTL)
	if errors.Is(err, approvals.ErrLeaseHeld) {
		return false, nil // a serve replica's loop is at it
	}
	if err != nil {
		return false, err
	}
	defer func() {
		if err := g.store.ReleaseLease(context.WithoutCancel(ctx), id, g.cfg.Owner); err != nil {
			g.log.Warn("lease not released", zap.String("request_id", id), zap.Error(err))
		}
	}()
	r, err := g.store.Get(ctx, id)
	if errors.Is(err, approvals.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if r.Status != approvals.StatusReady || now.Before(r.ExpiresAt) {
		return false, nil // extended, or moved on, since the index was read
	}
	if be, err := g.backends.For(r.Source); err == nil {
		if _, ok := be.Provisioner.(Revoker); !ok {
			g.settled[id] = true // revoked by its destroy, which is serve's
			return false, nil
		}
	}
	rv, err := revokeExpired(ctx, g.store, g.backends, r, now)
	if rv.done {
		g.settled[id] = true
	}
	if rv.fresh {
		g.log.Info("expired clone's access revoked by the expiry guard", zap.String("request_id", id),
			zap.Int("sessions_ended", rv.sessions), zap.Duration("after_expiry", now.Sub(r.ExpiresAt)))
	}
	return rv.fresh, err
}

// revocation is what revokeExpired did.
type revocation struct {
	done     bool // the clone's access is revoked (now or before)
	fresh    bool // revoked by this call
	sessions int  // sessions this call ended
}

// revokeExpired ends expired r's access at once where its backend can (no new login, every
// session ended), unless its Revoked mark says that was done, and records it: credentials_revoked
// in the audit outbox, then the mark. A backend without a Revoker is revoked by its destroy
// (done false).
func revokeExpired(ctx context.Context, store revokeStore, backends provisioner.Backends, r *approvals.Request, now time.Time) (revocation, error) {
	be, err := backends.For(r.Source)
	if err != nil {
		return revocation{}, err
	}
	rv, ok := be.Provisioner.(Revoker)
	if !ok {
		return revocation{}, nil
	}
	mks, err := store.Marks(ctx, r.ID)
	if err != nil {
		return revocation{}, err
	}
	mk := mks[0]
	if !mk.Revoked.IsZero() {
		return revocation{done: true}, nil
	}
	ended, err := rv.Revoke(ctx, r.ID)
	if err != nil {
		return revocation{}, fmt.Errorf("revoke %s: %w", r.ID, err)
	}
	out := revocation{done: true, fresh: true, sessions: ended}
	if err := store.RecordEvent(ctx, r.ID, "credentials_revoked", "clonebot", now, map[string]string{"sessions_ended": strconv.Itoa(ended)}); err != nil {
		return out, err
	}
	mk.Revoked = now
	return out, store.SetMarks(ctx, r.ID, mk)
}
