package app

import (
	"context"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/clonebot/clonebot/agent"
	"github.com/clonebot/clonebot/jobs"
)

// meteredQueue is the agent's queue seen by the agent's /metrics: every progress event and
// end the agent publishes passes through it, so the restore's rows and bytes per second (as
// rate() of the counters) and the jobs' outcomes are counted where the work is done.
type meteredQueue struct {
	agent.Queue
	jobs        *prometheus.CounterVec
	rows, bytes prometheus.Counter
	running     prometheus.Gauge

	mu   sync.Mutex
	seen map[string][2]int64 // request id → rows and bytes already counted for its running job
}

func newMeteredQueue(q agent.Queue, reg prometheus.Registerer) (*meteredQueue, error) {
	m := &meteredQueue{Queue: q, seen: map[string][2]int64{},
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "clonebot_agent_jobs_total",
			Help: "Restore jobs this agent ended, by result: ready, failed, dead_letter."}, []string{"result"}),
		rows: prometheus.NewCounter(prometheus.CounterOpts{Name: "clonebot_agent_restored_rows_total",
			Help: "Rows this agent loaded into clones (rate() is rows per second)."}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "clonebot_agent_restored_bytes_total",
			Help: "Bytes of table data this agent loaded into clones (rate() is bytes per second)."}),
		running: prometheus.NewGauge(prometheus.GaugeOpts{Name: "clonebot_agent_jobs_running",
			Help: "Restore jobs this agent is working on now."}),
	}
	for _, c := range []prometheus.Collector{m.jobs, m.rows, m.bytes, m.running} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// count adds what e reports beyond what its job reported before; a job's counts only grow, and a
// new attempt (after a takeover, from zero) starts over without taking anything back.
func (m *meteredQueue) count(e jobs.Event, end bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	prev, running := m.seen[e.RequestID]
	if e.Rows < prev[0] || e.Bytes < prev[1] {
		prev = [2]int64{}
	}
	m.rows.Add(float64(e.Rows - prev[0]))
	m.bytes.Add(float64(e.Bytes - prev[1]))
	switch {
	case end:
		if running {
			m.running.Dec()
		}
		delete(m.seen, e.RequestID)
	default:
		if !running {
			m.running.Inc()
		}
		m.seen[e.RequestID] = [2]int64{e.Rows, e.Bytes}
	}
}

func (m *meteredQueue) Publish(ctx context.Context, e jobs.Event) error {
	err := m.Queue.Publish(ctx, e)
	if err == nil {
		m.count(e, false)
	}
	return err
}

func (m *meteredQueue) Finish(ctx context.Context, d *jobs.Delivery, final jobs.Event) error {
	err := m.Queue.Finish(ctx, d, final)
	if err == nil {
		m.count(final, true)
		m.jobs.WithLabelValues(string(final.State)).Inc()
	}
	return err
}

func (m *meteredQueue) DeadLetter(ctx context.Context, d *jobs.Delivery, reason string, final jobs.Event) error {
	err := m.Queue.DeadLetter(ctx, d, reason, final)
	if err == nil {
		m.count(final, true)
		m.jobs.WithLabelValues("dead_letter").Inc()
	}
	return err
}
