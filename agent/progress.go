package agent

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/clonebot/clonebot/jobs"
)

// progressEvery throttles progress events of one job (the bot edits one Slack message with them).
const progressEvery = time.Second

// reporter publishes a job's progress: at once on each phase change, then at most once per
// progressEvery. Publishing errors are logged; progress never fails a job.
type reporter struct {
	mu         sync.Mutex
	ctx        context.Context
	publish    func(context.Context, jobs.Event) error // the queue's Publish, or RestoreOnce's Progress
	log        *zap.Logger
	now        func() time.Time
	job        jobs.Job
	attempts   int // the agents' max attempts, for the events
	phase      jobs.Phase
	phaseStart time.Time
	last       time.Time
	bytes      int64            // bytes done in the phase by finished tables
	live       map[string]int64 // bytes read so far of the tables in flight
	rows       int64
}

func (p *reporter) send(e jobs.Event) {
	e.RequestID, e.State, e.Attempt, e.MaxAttempts, e.At = p.job.RequestID, jobs.StateRunning, p.job.Attempt, p.attempts, p.now()
	if err := p.publish(p.ctx, e); err != nil {
		p.log.Warn("progress not published", zap.Error(err))
	}
}

// start begins a phase and publishes it.
func (p *reporter) start(ph jobs.Phase) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.phase != "" {
		p.log.Info("phase done", zap.String("phase", string(p.phase)), zap.Duration("took", p.now().Sub(p.phaseStart)))
	}
	p.phase, p.phaseStart, p.last = ph, p.now(), p.now()
	p.bytes, p.rows, p.live = 0, 0, map[string]int64{}
	p.send(jobs.Event{Phase: ph})
}

// done ends the last phase.
func (p *reporter) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.log.Info("phase done", zap.String("phase", string(p.phase)), zap.Duration("took", p.now().Sub(p.phaseStart)))
	p.phase = ""
}

// data records that table has streamed n bytes so far.
func (p *reporter) data(table string, n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.live[table] = n
	p.maybe(table)
}

// tableDone records a finished table and publishes it.
func (p *reporter) tableDone(table string, n, rows int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.live, table)
	p.bytes += n
	p.rows += rows
	p.last = time.Time{}
	p.maybe(table)
}

func (p *reporter) maybe(table string) {
	now := p.now()
	if now.Sub(p.last) < progressEvery {
		return
	}
	p.last = now
	total := p.bytes
	for _, n := range p.live {
		total += n
	}
	p.send(jobs.Event{Phase: p.phase, Table: table, Bytes: total, Rows: p.rows, Rate: rate(total, p.phaseStart, now)})
}
