package app

import (
	"context"
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/clonebot/clonebot/agent"
	"github.com/clonebot/clonebot/jobs"
)

// failingPublish is a queue whose Publish fails once it is told to; the rest is the embedded nil
// interface (never called here).
type failingPublish struct {
	agent.Queue
	fail bool
}

func (q *failingPublish) Publish(context.Context, jobs.Event) error {
	if q.fail {
		return errors.New("redis down")
	}
	return nil
}
func (q *failingPublish) Finish(context.Context, *jobs.Delivery, jobs.Event) error { return nil }
func (q *failingPublish) DeadLetter(context.Context, *jobs.Delivery, string, jobs.Event) error {
	return nil
}

func TestAgentMetricsCountWhatWasPublished(t *testing.T) {
	ctx := context.Background()
	inner := &failingPublish{}
	m, err := newMeteredQueue(inner, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	run := func(id string, rows, bytes int64) jobs.Event {
		return jobs.Event{RequestID: id, State: jobs.StateRunning, Phase: jobs.PhaseData, Rows: rows, Bytes: bytes}
	}
	steps := []struct {
		name              string
		do                func() error
		rows, bytes, jobs float64
		running           float64
	}{
		{"first progress", func() error { return m.Publish(ctx, run("cl-a", 100, 1000)) }, 100, 1000, 0, 1},
		{"more of the same job", func() error { return m.Publish(ctx, run("cl-a", 250, 2500)) }, 250, 2500, 0, 1},
		{"a second job", func() error { return m.Publish(ctx, run("cl-b", 10, 50)) }, 260, 2550, 0, 2},
		{"a publish that failed counts nothing", func() error {
			inner.fail = true
			defer func() { inner.fail = false }()
			if err := m.Publish(ctx, run("cl-b", 999, 9999)); err == nil {
				t.Fatal("the failing publish did not fail")
			}
			return nil
		}, 260, 2550, 0, 2},
		{"a takeover starts the job over from zero", func() error { return m.Publish(ctx, run("cl-a", 40, 400)) }, 300, 2950, 0, 2},
		{"the job ends", func() error {
			return m.Finish(ctx, nil, jobs.Event{RequestID: "cl-a", State: jobs.StateReady, Rows: 300, Bytes: 3000})
		}, 560, 5550, 1, 1},
		{"the other is dead-lettered", func() error {
			return m.DeadLetter(ctx, nil, "corrupt", jobs.Event{RequestID: "cl-b", State: jobs.StateFailed, Rows: 10, Bytes: 50})
		}, 560, 5550, 2, 0},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		got := []float64{testutil.ToFloat64(m.rows), testutil.ToFloat64(m.bytes),
			testutil.ToFloat64(m.jobs.WithLabelValues("ready")) + testutil.ToFloat64(m.jobs.WithLabelValues("dead_letter")), testutil.ToFloat64(m.running)}
		want := []float64{s.rows, s.bytes, s.jobs, s.running}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("%s: rows, bytes, jobs ended, running = %v, want %v", s.name, got, want)
			}
		}
	}
}
