package lifecycle

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/clonebot/clonebot/approvals"
)

// metrics are what the loop tells Prometheus. A Manager without Deps.Metrics keeps them
// unregistered: observing them costs nothing and shows nowhere.
type metrics struct {
	revocation prometheus.Histogram     // expiry → credentials revoked
	outcomes   *prometheus.CounterVec   // clones by tier and how they ended up: ready, failed, expired (undecided)
	wait       *prometheus.HistogramVec // requested → approved, by tier
	toReady    *prometheus.HistogramVec // requested → ready, by tier
	expiries   *prometheus.CounterVec   // clones that reached their expiry, by tier
	destroyErr prometheus.Counter       // failed destroys (retried)
	rate       prometheus.Histogram     // restore throughput reported by the agents, bytes per second
}

// durations are the buckets of the request-time histograms: seconds to days.
var durations = []float64{1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 12 * 3600, 24 * 3600, 48 * 3600}

func newMetrics() metrics {
	return metrics{
		revocation: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "clonebot_revocation_latency_seconds",
			Help:    "Time from a clone's expiry to its credentials being revoked (new logins refused, sessions ended).",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800}}),
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "clonebot_clones_total",
			Help: "Approved requests by tier and outcome: ready (the clone was released), failed, or expired (never decided)."}, []string{"tier", "outcome"}),
		wait: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "clonebot_approval_wait_seconds",
			Help: "Time from request to approval, by tier (0 for automatic tiers).", Buckets: durations}, []string{"tier"}),
		toReady: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "clonebot_time_to_ready_seconds",
			Help: "Time from request to a ready clone (time-to-access), by tier.", Buckets: durations}, []string{"tier"}),
		expiries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "clonebot_expiries_total",
			Help: "Clones that reached their expiry, by tier."}, []string{"tier"}),
		destroyErr: prometheus.NewCounter(prometheus.CounterOpts{Name: "clonebot_destroy_failures_total",
			Help: "Destroys that failed (each is retried on the next pass)."}),
		rate: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "clonebot_restore_bytes_per_second",
			Help:    "Restore throughput the agents report while loading data.",
			Buckets: prometheus.ExponentialBuckets(1<<20, 2, 12)}),
	}
}

// register adds every metric, and the active clones by tier and status (read from the store
// at each scrape), to reg.
func (m *Manager) register(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.metrics.revocation, m.metrics.outcomes, m.metrics.wait, m.metrics.toReady,
		m.metrics.expiries, m.metrics.destroyErr, m.metrics.rate, activeCollector{m}} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("lifecycle: register metrics: %w", err)
		}
	}
	return nil
}

// activeCollector gives clonebot_active_clones{tier,status} at each scrape.
type activeCollector struct{ m *Manager }

var activeDesc = prometheus.NewDesc("clonebot_active_clones", "Active requests (pending, being made, ready, being destroyed) by tier and status.",
	[]string{"tier", "status"}, nil)

func (c activeCollector) Describe(ch chan<- *prometheus.Desc) { ch <- activeDesc }

func (c activeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	active, err := c.m.store.ListActive(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(activeDesc, err)
		return
	}
	type key struct{ tier, status string }
	n := map[key]int{}
	for _, r := range active {
		n[key{r.Tier, string(r.Status)}]++
	}
	for k, v := range n {
		ch <- prometheus.MustNewConstMetric(activeDesc, prometheus.GaugeValue, float64(v), k.tier, k.status)
	}
}

// approvedAfter is how long r waited for its approval, from its timeline.
func approvedAfter(r *approvals.Request) (time.Duration, bool) {
	at, ok := enteredAt(r, approvals.StatusApproved)
	return at.Sub(r.CreatedAt), ok
}
