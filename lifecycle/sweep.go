package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/clonebot/clonebot/approvals"
)

// Sweeper is a backend that can find the clones it made and destroy those no live request
// owns (provisioner/aws: by their tags; provisioner/local: by their role comments and
// credentials files).
type Sweeper interface {
	// Sweep destroys every clone whose request known says should not exist, and returns the
	// request ids of what it destroyed.
	Sweep(ctx context.Context, known func(requestID string) bool) ([]string, error)
}

// Swept is what one sweep did.
type Swept struct {
	Ran       bool     // false: another replica holds the sweep (it swept within the interval)
	Destroyed []string // request ids whose clones were destroyed, sorted
	Lost      []string // of those, the requests the store does not know: their state was lost
}

// maxListed bounds the request ids the security channel's report names.
const maxListed = 20

// Sweep runs one orphan sweep of every sweeper unless another replica swept within every:
// the clones no live request owns are destroyed, the audit outbox records each one's end, and
// the security channel is told what was destroyed and which requests the store had lost. A
// sweep that succeeded keeps the sweep's lease for every, so that the replicas sweep once per
// interval between them; one that failed gives it up, for any replica's next try.
func (m *Manager) Sweep(ctx context.Context, every time.Duration, sweepers ...Sweeper) (Swept, error) {
	err := m.store.AcquireSweep(ctx, m.cfg.Owner, every)
	if errors.Is(err, approvals.ErrLeaseHeld) {
		m.log.Debug("sweep skipped: another replica swept within the interval")
		return Swept{}, nil
	}
	if err != nil {
		return Swept{}, err
	}
	// step 1: every backend's clones, checked against the store.
	lost := map[string]bool{}
	var mu sync.Mutex
	known := func(id string) bool {
		keep, gone := m.known(ctx, id)
		mu.Lock()
		lost[id] = gone
		mu.Unlock()
		return keep
	}
	out := Swept{Ran: true}
	var errs []error
	for _, s := range sweepers {
		destroyed, err := s.Sweep(ctx, known)
		out.Destroyed = append(out.Destroyed, destroyed...)
		errs = append(errs, err)
	}
	slices.Sort(out.Destroyed)
	for _, id := range out.Destroyed {
		if lost[id] {
			out.Lost = append(out.Lost, id)
		}
	}
	// step 2: the audit log and the security channel hear of what was destroyed.
	m.log.Info("orphan sweep", zap.Int("sweepers", len(sweepers)), zap.Int("destroyed", len(out.Destroyed)), zap.Int("lost", len(out.Lost)))
	if len(out.Destroyed) > 0 {
		m.log.Warn("sweep destroyed orphaned clones", zap.Strings("request_ids", out.Destroyed), zap.Strings("lost_requests", out.Lost))
		m.recordSwept(ctx, out, lost)
		if _, err := m.store.Announce(ctx, m.cfg.SystemMailbox, "", approvals.Notice{Kind: approvals.NoticeAlert, Text: sweptAlert(out)}); err != nil {
			errs = append(errs, fmt.Errorf("report the sweep to security: %w", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		if rerr := m.store.ReleaseSweep(context.WithoutCancel(ctx), m.cfg.Owner); rerr != nil {
			m.log.Warn("sweep lease not released", zap.Error(rerr))
		}
		return out, err
	}
	return out, nil
}

// known reports whether a clone of request id should still exist (keep: its request is active,
// or failed and being torn down; a golden copy's, until it is retired), and whether the store does not know the request at all
// (lost). Finished requests' clones, and unknown ones', are orphans. When the store cannot
// answer, the clone is kept: a lookup error must never destroy anything.
func (m *Manager) known(ctx context.Context, id string) (keep, lost bool) {
	if approvals.IsGoldenID(id) { // a golden copy: kept until retired
		return m.goldenKnown(ctx, id), false
	}
	r, err := m.store.Get(ctx, id)
	switch {
	case errors.Is(err, approvals.ErrNotFound):
		return false, true
	case err != nil:
		m.log.Warn("sweep: request lookup failed; keeping its clone", zap.String("request_id", id), zap.Error(err))
		return true, false
	}
	return r.Status.Active() || r.Status == approvals.StatusFailed, false
}

// recordSwept appends to the audit outbox, for each clone the sweep destroyed, that it was
// destroyed and why, so the log does not keep a lost request's clone alive forever. A failure
// is logged: the clone is gone either way.
func (m *Manager) recordSwept(ctx context.Context, s Swept, lost map[string]bool) {
	now := m.now()
	for _, id := range s.Destroyed {
		why := "orphan sweep: the request had ended but its clone was still there"
		if lost[id] {
			why = "orphan sweep: the store does not know the request (its state was lost)"
		}
		for _, typ := range []approvals.Status{approvals.StatusDestroying, approvals.StatusDestroyed} {
			if err := m.store.RecordEvent(ctx, id, string(typ), "clonebot", now, map[string]string{"to": string(typ), "note": why}); err != nil {
				m.log.Warn("sweep not recorded in the audit outbox", zap.String("request_id", id), zap.Error(err))
			}
		}
	}
}

// sweptAlert is the security channel's report of a sweep that destroyed clones.
func sweptAlert(s Swept) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Orphan sweep destroyed %d clone(s) that no live request owned: %s.", len(s.Destroyed), listIDs(s.Destroyed))
	if len(s.Lost) > 0 {
		fmt.Fprintf(&b, " The store had lost %d of these requests (%s): their state is gone, e.g. Redis lost its data, so their requesters were not told; the audit log holds their history.",
			len(s.Lost), listIDs(s.Lost))
	}
	return b.String()
}

func listIDs(ids []string) string {
	if len(ids) <= maxListed {
		return strings.Join(ids, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(ids[:maxListed], ", "), len(ids)-maxListed)
}

// RunSweeps sweeps the sweepers' orphans at start, every interval (one replica per interval,
// through Sweep's lease), and at once when it finds that Redis lost its data (the store's
// sentinel is gone: checked every Config.Interval, and logged as an error whether or not a
// backend can sweep). It returns when ctx ends.
func (m *Manager) RunSweeps(ctx context.Context, every time.Duration, sweepers ...Sweeper) error {
	if every <= 0 {
		return fmt.Errorf("sweep interval %s: must be positive", every)
	}
	sweep := func() {
		if len(sweepers) == 0 {
			return
		}
		if _, err := m.Sweep(ctx, every, sweepers...); err != nil && ctx.Err() == nil {
			m.log.Warn("sweep failed; the next one tries again", zap.Error(err))
		}
	}
	if _, err := m.store.PlantSentinel(ctx); err != nil && ctx.Err() == nil {
		m.log.Warn("sentinel not planted", zap.Error(err))
	}
	sweep()
	sweeps, checks := time.NewTicker(every), time.NewTicker(m.cfg.Interval)
	defer sweeps.Stop()
	defer checks.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-sweeps.C:
			sweep()
		case <-checks.C:
			planted, err := m.store.PlantSentinel(ctx)
			if err != nil || !planted {
				continue
			}
			m.log.Error("Redis lost its data: the requests, leases, notices and streams it held are gone; sweeping the backends for the clones they owned")
			sweep()
		}
	}
}
