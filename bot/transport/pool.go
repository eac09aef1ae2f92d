package transport

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// Kinds of Slack payloads, used as the "kind" metric label.
const (
	KindCommand     = "command"
	KindInteraction = "interaction"
	KindEvent       = "event"
)

// ErrPoolClosed is returned by Shutdown when the pool was already shut down.
var ErrPoolClosed = errors.New("worker pool already shut down")

// Pool runs Slack work on a fixed number of workers fed by a bounded queue. Submit never
// blocks: when the queue is full it refuses the work, and the transport answers "busy".
type Pool struct {
	log    *zap.Logger
	m      *metrics
	jobs   chan job
	wg     sync.WaitGroup
	ctx    context.Context // given to every job; cancelled when a drain runs out of time
	cancel context.CancelFunc

	mu     sync.RWMutex // guards closed against sends on a closed jobs channel
	closed bool
}

type job struct {
	kind string
	gate <-chan struct{} // closed once the ack was sent; nil when it already was
	fn   func(context.Context)
}

// NewPool starts workers goroutines reading a queue of queueSize jobs. Its metrics (and the
// transports' request metrics) are registered on reg.
func NewPool(workers, queueSize int, reg prometheus.Registerer, log *zap.Logger) (*Pool, error) {
	if workers < 1 || queueSize < 1 {
		return nil, fmt.Errorf("worker pool: workers (%d) and queue size (%d) must be at least 1", workers, queueSize)
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Pool{log: log, m: m, jobs: make(chan job, queueSize), ctx: ctx, cancel: cancel}
	p.wg.Add(workers)
	for range workers {
		go p.work()
	}
	return p, nil
}

// Submit queues fn; it returns false at once, counting a busy rejection, when the queue is
// full or the pool is shutting down.
func (p *Pool) Submit(kind string, fn func(context.Context)) bool {
	return p.submit(kind, nil, fn)
}

func (p *Pool) submit(kind string, gate <-chan struct{}, fn func(context.Context)) bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if !p.closed {
		select {
		case p.jobs <- job{kind: kind, gate: gate, fn: fn}:
			p.m.queued.Inc()
			return true
		default:
		}
	}
	p.m.busy.WithLabelValues(kind).Inc()
	return false
}

func (p *Pool) work() {
	defer p.wg.Done()
	for j := range p.jobs {
		p.m.queued.Dec()
		if j.gate != nil {
			select {
			case <-j.gate:
			case <-p.ctx.Done():
			}
		}
		p.run(j)
	}
}

func (p *Pool) run(j job) {
	p.m.working.Inc()
	defer p.m.working.Dec()
	defer func() {
		if r := recover(); r != nil {
			p.m.panics.WithLabelValues(j.kind).Inc()
			p.log.Error("slack handler panicked", zap.String("kind", j.kind), zap.Any("panic", r), zap.Stack("stack"))
		}
	}()
	j.fn(p.ctx)
	p.m.handled.WithLabelValues(j.kind).Inc()
}

// Shutdown stops accepting work and waits for the queued and running work to finish. When ctx
// ends first it cancels the context the jobs run with and returns ctx's error; the workers
// still drain the queue, quickly, with that cancelled context.
func (p *Pool) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrPoolClosed
	}
	p.closed = true
	close(p.jobs)
	p.mu.Unlock()

	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
		p.cancel()
		return nil
	case <-ctx.Done():
		p.cancel()
		return fmt.Errorf("drain slack worker pool: %w", ctx.Err())
	}
}

// metrics are the transport's Prometheus series.
type metrics struct {
	queued   prometheus.Gauge
	working  prometheus.Gauge
	busy     *prometheus.CounterVec
	handled  *prometheus.CounterVec
	panics   *prometheus.CounterVec
	rejected *prometheus.CounterVec // requests refused before parsing or dispatch, by reason
	dupes    prometheus.Counter
	dropped  *prometheus.CounterVec // acked payloads that were not handled, by kind
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		queued: prometheus.NewGauge(prometheus.GaugeOpts{Name: "clonebot_slack_queue_depth",
			Help: "Slack payloads acked and waiting for a worker."}),
		working: prometheus.NewGauge(prometheus.GaugeOpts{Name: "clonebot_slack_workers_busy",
			Help: "Workers running a Slack payload now."}),
		busy: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "clonebot_slack_busy_rejections_total",
			Help: "Slack payloads refused because the worker queue was full."}, []string{"kind"}),
		handled: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "clonebot_slack_handled_total",
			Help: "Slack payloads handled by a worker."}, []string{"kind"}),
		panics: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "clonebot_slack_handler_panics_total",
			Help: "Slack payloads whose handler panicked."}, []string{"kind"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "clonebot_slack_requests_rejected_total",
			Help: "HTTP requests refused before dispatch (oversize, stale, signature, malformed)."}, []string{"reason"}),
		dupes: prometheus.NewCounter(prometheus.CounterOpts{Name: "clonebot_slack_events_duplicate_total",
			Help: "Events API deliveries ignored because their event_id was already handled."}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "clonebot_slack_dropped_total",
			Help: "Acked Slack payloads that were not handled (pool full and no way to tell the user)."}, []string{"kind"}),
	}
	for _, c := range []prometheus.Collector{m.queued, m.working, m.busy, m.handled, m.panics, m.rejected, m.dupes, m.dropped} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register slack transport metrics: %w", err)
		}
	}
	return m, nil
}
