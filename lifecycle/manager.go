package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/clonebot/clonebot/approvals"
	"github.com/clonebot/clonebot/internal/keepalive"
	"github.com/clonebot/clonebot/provisioner"
)

// Manager runs the lifecycle of every request. It is safe for concurrent use, and any number
// of Managers (with distinct owners) may share one Store.
type Manager struct {
	cfg      Config
	store    Store
	policy   *approvals.Policy
	backends provisioner.Backends
	queue    JobQueue
	events   Events
	goldens  GoldenStore // nil: no golden copies
	log      *zap.Logger
	now      func() time.Time

	metrics metrics

	wake     chan struct{}
	sem      chan struct{} // bounds the steps running at once
	mu       sync.Mutex
	inflight map[string]bool // request ids with a step running in this process → another was refused meanwhile
	running  sync.WaitGroup  // every step started, for Run's exit
}

// New checks cfg and d and returns a Manager.
func New(cfg Config, d Deps) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := d.validate(); err != nil {
		return nil, err
	}
	m := &Manager{
		cfg: cfg, store: d.Store, policy: d.Policy, backends: d.Backends, queue: d.Queue, events: d.Events, goldens: d.Goldens,
		log: d.Logger.With(zap.String("owner", cfg.Owner)), now: d.Now,
		wake: make(chan struct{}, 1), sem: make(chan struct{}, cfg.Workers), inflight: map[string]bool{},
		metrics: newMetrics(),
	}
	if m.now == nil {
		m.now = time.Now
	}
	if d.Metrics != nil {
		if err := m.register(d.Metrics); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Approved starts making the clone of an approved request: it wakes the loop, which finds the
// request in the Store. It never blocks.
func (m *Manager) Approved(_ context.Context, r *approvals.Request) error {
	m.log.Info("approved; waking the loop", zap.String("request_id", r.ID))
	m.poke()
	return nil
}

// destroyFrom are the statuses destroy-now interrupts.
var destroyFrom = []approvals.Status{
	approvals.StatusApproved, approvals.StatusProvisioning, approvals.StatusRestoring,
	approvals.StatusReady, approvals.StatusFailed,
}

// DestroyNow marks the request destroying, with by as who asked and say recorded with it, and
// wakes the loop to tear it down. It does not wait for the lease: the guarded transition is atomic on its own, and a step
// running under the lease finds the request destroying at its next transition and stops.
// An already destroying request is no error.
func (m *Manager) DestroyNow(ctx context.Context, r *approvals.Request, by string, say ...approvals.Notice) error {
	_, err := m.store.Transition(ctx, approvals.TransitionInput{
		RequestID: r.ID, To: approvals.StatusDestroying, From: destroyFrom, By: by,
		Note: "destroy now", At: m.now(), Say: say,
	})
	if err != nil {
		return fmt.Errorf("destroy %s now: %w", r.ID, err)
	}
	m.log.Info("destroy now", zap.String("request_id", r.ID), zap.String("by", by))
	m.poke()
	return nil
}

func (m *Manager) poke() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// Tick runs one reconcile pass at m.now() and waits for every step it started.
func (m *Manager) Tick(ctx context.Context) error {
	var wg sync.WaitGroup
	err := m.pass(ctx, &wg)
	wg.Wait()
	return err
}

// Run reconciles every Interval, at once when Approved or DestroyNow wake it, and reads the
// agents' events as they come. Steps run in the background, so a slow Create never delays an
// expiry. It returns when ctx ends, after the running steps have stopped.
func (m *Manager) Run(ctx context.Context) error {
	defer m.running.Wait()
	events := make(chan struct{})
	go func() {
		defer close(events)
		m.consumeEvents(ctx)
	}()
	defer func() { <-events }()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		case <-m.wake:
		}
		if err := m.pass(ctx, &sync.WaitGroup{}); err != nil && ctx.Err() == nil {
			m.log.Error("reconcile pass", zap.Error(err))
		}
		timer.Reset(m.untilNextPass(ctx))
	}
}

// pass reads what is due and starts a step for each request that needs one; wg counts them.
func (m *Manager) pass(ctx context.Context, wg *sync.WaitGroup) error {
	now := m.now()
	var errs []error
	// step 1: the agents' results, so a restore that just finished is ready before the sweeps.
	if err := m.drainEvents(ctx); err != nil {
		errs = append(errs, err)
	}
	// step 2: working states (and ready clones whose expiry the backend has not been told).
	ids, err := m.working(ctx, now)
	errs = append(errs, err)
	// step 3: ready clones due a TTL warning or expiry.
	due, err := m.store.DueExpiry(ctx, now.Add(m.maxWarning()), m.cfg.Batch)
	ids, errs = append(ids, due...), append(errs, err)
	// step 4: pending requests due a reminder or expiry.
	pending, err := m.store.DuePending(ctx, now.Add(time.Duration(m.policy.PendingReminder)), m.cfg.Batch)
	ids, errs = append(ids, pending...), append(errs, err)
	// step 5: failed requests whose clone is still to destroy.
	failed, err := m.store.Teardowns(ctx)
	ids, errs = append(ids, failed...), append(errs, err)
	// step 6: ended break-glass clones whose review is overdue.
	reviews, err := m.store.DueReviews(ctx, now, m.cfg.Batch)
	ids, errs = append(ids, reviews...), append(errs, err)
	// step 7: golden copies: the builds the schedules make due, and the copies with a step.
	goldens, err := m.goldenWork(ctx, now)
	ids, errs = append(ids, goldens...), append(errs, err)
	seen := map[string]bool{}
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			m.spawn(ctx, wg, id)
		}
	}
	return errors.Join(errs...)
}

func (m *Manager) maxWarning() time.Duration {
	var d time.Duration
	for _, w := range m.policy.TTLWarnings {
		d = max(d, time.Duration(w))
	}
	return d
}

// spawn runs the step of request id in the background, unless one is running in this process
// already; the step takes the request's lease, so no other replica runs one at the same time.
func (m *Manager) spawn(ctx context.Context, wg *sync.WaitGroup, id string) {
	if !m.claim(id) {
		return
	}
	wg.Add(1)
	m.running.Add(1)
	go func() {
		defer m.running.Done()
		defer wg.Done()
		defer m.unclaim(id)
		select {
		case m.sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		defer func() { <-m.sem }()
		_, err := m.leased(ctx, id, m.reconcile)
		m.logStep(id, err)
	}()
}

// logStep logs the outcome of a step: an error once, here; a transition refused because the
// request moved on (destroy-now) is expected.
func (m *Manager) logStep(id string, err error) {
	switch {
	case err == nil:
	case errors.Is(err, approvals.ErrIllegalTransition):
		m.log.Info("request moved on during a step", zap.String("request_id", id), zap.Error(err))
	case errors.Is(err, context.Canceled):
		m.log.Info("step stopped", zap.String("request_id", id))
	default:
		m.log.Error("lifecycle step", zap.String("request_id", id), zap.Error(err))
	}
}

// claim marks id in flight in this process; false if it already is. A refused claim is
// remembered, and the loop woken when the running step ends, so what was due then (a
// destroy-now, say) waits for that step and not for the next interval.
func (m *Manager) claim(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, busy := m.inflight[id]; busy {
		m.inflight[id] = true
		return false
	}
	m.inflight[id] = false
	return true
}

func (m *Manager) unclaim(id string) {
	m.mu.Lock()
	wanted := m.inflight[id]
	delete(m.inflight, id)
	m.mu.Unlock()
	if wanted {
		m.poke()
	}
}

// leased runs fn with the request's lease, renewed while fn runs; fn's context ends if the
// lease is lost. ran is false when another replica holds the lease.
func (m *Manager) leased(ctx context.Context, id string, fn func(context.Context, string) error) (ran bool, err error) {
	err = m.store.AcquireLease(ctx, id, m.cfg.Owner, m.cfg.LeaseTTL)
	if errors.Is(err, approvals.ErrLeaseHeld) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := keepalive.Start(ctx, m.cfg.LeaseTTL/3, func(ctx context.Context) bool {
		err := m.store.AcquireLease(ctx, id, m.cfg.Owner, m.cfg.LeaseTTL)
		if err != nil && ctx.Err() == nil {
			m.log.Warn("lease lost; stopping the step", zap.String("request_id", id), zap.Error(err))
		}
		return err == nil
	}, cancel)
	err = fn(ctx, id)
	stop()
	if rerr := m.store.ReleaseLease(context.WithoutCancel(ctx), id, m.cfg.Owner); rerr != nil {
		m.log.Warn("lease not released", zap.String("request_id", id), zap.Error(rerr))
	}
	return true, err
}

// reconcile does what request (or golden copy) id needs now, under its lease.
func (m *Manager) reconcile(ctx context.Context, id string) error {
	if approvals.IsGoldenID(id) && m.goldens != nil {
		return m.reconcileGolden(ctx, id)
	}
	r, err := m.store.Get(ctx, id)
	if errors.Is(err, approvals.ErrNotFound) {
		return m.store.Forget(ctx, id)
	}
	if err != nil {
		return err
	}
	switch r.Status {
	case approvals.StatusPending:
		return m.pending(ctx, r)
	case approvals.StatusApproved, approvals.StatusProvisioning:
		return m.provision(ctx, r)
	case approvals.StatusRestoring:
		return m.ensureJob(ctx, r)
	case approvals.StatusReady:
		return m.ready(ctx, r)
	case approvals.StatusFailed:
		return m.teardown(ctx, r)
	case approvals.StatusDestroying:
		return m.destroy(ctx, r)
	case approvals.StatusDestroyed:
		if r.NeedsReview() {
			return m.remindReview(ctx, r)
		}
	}
	if r.Status.Terminal() {
		return m.store.Forget(ctx, id)
	}
	return nil
}

// move makes one guarded transition from r's current status.
func (m *Manager) move(ctx context.Context, r *approvals.Request, t approvals.TransitionInput) (*approvals.Request, error) {
	t.RequestID, t.From, t.At = r.ID, []approvals.Status{r.Status}, m.now()
	if t.By == "" {
		t.By = "clonebot"
	}
	next, err := m.store.Transition(ctx, t)
	if err != nil {
		return nil, err
	}
	m.log.Info("transition", zap.String("request_id", r.ID), zap.String("from", string(r.Status)), zap.String("to", string(t.To)))
	return next, nil
}

// say records notices about r that no transition carries; a failure is logged, never
// returned: the state change stands without them.
func (m *Manager) say(ctx context.Context, r *approvals.Request, once string, say ...approvals.Notice) bool {
	sent, err := m.store.Announce(ctx, r.ID, once, say...)
	if err != nil {
		m.log.Warn("notice not recorded", zap.String("request_id", r.ID), zap.String("kind", string(say[0].Kind)), zap.Error(err))
	}
	return sent
}

// progress sets r's progress line.
func (m *Manager) progress(ctx context.Context, r *approvals.Request, status string) {
	m.say(ctx, r, "", approvals.Notice{Kind: approvals.NoticeProgress, Text: status})
}

// working returns the requests with a step to take at now: approved and destroying ones,
// provisioning ones whose retry is due, restoring ones whose job is not known to be queued (or
// whose restore is overdue), ready ones whose backend was not told the current expiry. It reads
// only the store's working set, not every active request, so a pass costs the same with ten
// thousand clones waiting for their expiry as with a hundred; their marks come in one round trip.
func (m *Manager) working(ctx context.Context, now time.Time) ([]string, error) {
	active, err := m.store.ListWorking(ctx)
	if err != nil || len(active) == 0 {
		return nil, err
	}
	ids := make([]string, len(active))
	for i, r := range active {
		ids[i] = r.ID
	}
	mks, err := m.store.Marks(ctx, ids...)
	if err != nil {
		return nil, err
	}
	var out []string
	for i, r := range active {
		mk := mks[i]
		switch r.Status {
		case approvals.StatusApproved, approvals.StatusDestroying:
		case approvals.StatusProvisioning:
			if now.Before(mk.RetryAt) {
				continue
			}
		case approvals.StatusRestoring:
			if mk.Enqueued && !m.restoreOverdue(r, now) {
				continue
			}
		case approvals.StatusReady: // its backend is to be told the expiry
		default:
			continue
		}
		out = append(out, r.ID)
	}
	return out, nil
}

// untilNextPass is the wait before the next pass: the interval, or less when a clone expires
// sooner, so that its revocation does not wait for the interval.
func (m *Manager) untilNextPass(ctx context.Context) time.Duration {
	next, ok, err := m.store.NextExpiry(ctx)
	if err != nil || !ok {
		return m.cfg.Interval
	}
	return min(m.cfg.Interval, max(next.Sub(m.now()), 0)+time.Millisecond)
}
