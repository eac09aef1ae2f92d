package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"time"

	"go.uber.org/zap"

	"github.com/clonebot/clonebot/agent/mask"
	"github.com/clonebot/clonebot/internal/keepalive"
	"github.com/clonebot/clonebot/jobs"
	"github.com/clonebot/clonebot/provisioner"
)

// Config is the agent's configuration (the `agent:` section of the clonebot config).
type Config struct {
	Consumer    string        // this agent's consumer name, unique per agent (hostname-pid)
	MinIdle     time.Duration // visibility timeout: a job idle this long is reclaimed by another agent
	Heartbeat   time.Duration // how often a running job's idle time is reset; MinIdle/3 when zero
	Block       time.Duration // how long one poll for new jobs waits
	MaxAttempts int           // deliveries before a job goes to the dead-letter stream
	Parallelism int           // connections per job when the job does not say
	WorkDir     string        // where S3 backups are downloaded; os.TempDir() when empty
	GateSample  int           // original values sampled per masked column for the gate
	SSLMode     string        // sslmode of target connections; "prefer" when empty
	// SortMemory is maintenance_work_mem of the agent's sessions (a PostgreSQL size such as
	// "8MB"); the server's value when empty. See DefaultSortMemory.
	SortMemory string
}

// DefaultSortMemory is the agent's default maintenance_work_mem. Index builds sort in runs
// of this size and merge them; runs that fit the CPU's cache sorted fastest: in
// bench-restore, 2,000,000-row text indexes built in 2.1 s (email) and 1.5 s (name) with
// 4-8MB against 2.9 s and 2.7 s with PostgreSQL's default 64MB and 3.6 s and 2.9 s with 1GB.
// A foreign key's validation query runs with it as work_mem, and a small value also keeps it
// merging the two indexes rather than hashing every key (0.2 s against 1.4 s with 256MB).
// Tables of hundreds of millions of rows may want more, for fewer merge passes.
const DefaultSortMemory = "8MB"

// pgSize is a PostgreSQL memory size with an explicit unit.
var pgSize = regexp.MustCompile(`^[1-9][0-9]{0,8}(kB|MB|GB)$`)

// Validate names the first bad field.
func (c Config) Validate() error {
	switch {
	case c.Consumer == "":
		return errors.New("agent.consumer: empty")
	case c.MinIdle <= 0:
		return fmt.Errorf("agent.min_idle: %s, want > 0", c.MinIdle)
	case c.Heartbeat < 0 || (c.Heartbeat > 0 && c.Heartbeat >= c.MinIdle):
		return fmt.Errorf("agent.heartbeat: %s, want between 0 and min_idle (%s)", c.Heartbeat, c.MinIdle)
	case c.Block <= 0:
		return fmt.Errorf("agent.block: %s, want > 0", c.Block)
	case c.MaxAttempts < 1:
		return fmt.Errorf("agent.max_attempts: %d, want >= 1", c.MaxAttempts)
	case c.Parallelism < 1:
		return fmt.Errorf("agent.parallelism: %d, want >= 1", c.Parallelism)
	case c.GateSample < 1:
		return fmt.Errorf("agent.gate_sample: %d, want >= 1", c.GateSample)
	case c.SortMemory != "" && !pgSize.MatchString(c.SortMemory):
		return fmt.Errorf("agent.sort_memory: %q, want a size such as 8MB (kB, MB or GB)", c.SortMemory)
	}
	return nil
}

// DefaultConfig returns the defaults for consumer.
func DefaultConfig(consumer string) Config {
	return Config{
		Consumer: consumer,
		MinIdle:  2 * time.Minute, Block: 5 * time.Second, MaxAttempts: 3, Parallelism: 2,
		GateSample: gateSample, SortMemory: DefaultSortMemory,
	}
}

// Queue is where the agent takes jobs and publishes their progress and ends (the redisstore
// package's Queue). A job stays pending, and is reclaimed by another agent once idle for long
// enough, until Finish or DeadLetter.
type Queue interface {
	// EnsureGroup creates the agents' consumer group if it does not exist.
	EnsureGroup(ctx context.Context) error
	// Next returns a job abandoned by another agent for at least minIdle, else a new one,
	// waiting up to block; nil, nil when there is none.
	Next(ctx context.Context, consumer string, minIdle, block time.Duration) (*jobs.Delivery, error)
	// Heartbeat keeps the job consumer holds from being reclaimed; owned is false if another
	// agent took it over.
	Heartbeat(ctx context.Context, consumer string, d *jobs.Delivery) (owned bool, err error)
	// Publish appends a progress event.
	Publish(ctx context.Context, e jobs.Event) error
	// Finish publishes the job's final event and removes the job, atomically.
	Finish(ctx context.Context, d *jobs.Delivery, final jobs.Event) error
	// DeadLetter moves the job to the dead letters with reason and publishes its final event,
	// atomically.
	DeadLetter(ctx context.Context, d *jobs.Delivery, reason string, final jobs.Event) error
}

// Deps are the agent's collaborators, built by the caller.
type Deps struct {
	Queue   Queue
	Secrets SecretStore
	Rules   *mask.Rules
	MaskKey provisioner.Password // HMAC key of the keyed masking strategies
	S3      ObjectGetter         // nil when no S3 backups are used
	Log     *zap.Logger
	Now     func() time.Time // time.Now when nil
}

// Agent takes restore jobs from the queue and runs them one at a time.
type Agent struct {
	cfg  Config
	deps Deps
	log  *zap.Logger
	now  func() time.Time
}

// New returns an agent; cfg must be valid.
func New(cfg Config, deps Deps) (*Agent, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Queue == nil || deps.Secrets == nil || deps.Rules == nil || deps.Log == nil {
		return nil, errors.New("agent: Queue, Secrets, Rules and Log are required")
	}
	if cfg.Heartbeat == 0 {
		cfg.Heartbeat = cfg.MinIdle / 3
	}
	if cfg.WorkDir == "" {
		cfg.WorkDir = os.TempDir()
	}
	now := deps.Now
	if now == nil {
		now = time.Now
	}
	return &Agent{cfg: cfg, deps: deps, log: deps.Log.With(zap.String("consumer", cfg.Consumer)), now: now}, nil
}

// Run consumes jobs until ctx is cancelled. Each poll first reclaims a job another agent
// abandoned (idle for MinIdle), then waits up to Block for a new one.
func (a *Agent) Run(ctx context.Context) error {
	if err := a.deps.Queue.EnsureGroup(ctx); err != nil {
		return err
	}
	for ctx.Err() == nil {
		if _, err := a.RunOnce(ctx); err != nil && ctx.Err() == nil {
			a.log.Error("job loop", zap.Error(err))
			// A Redis outage: wait one poll interval rather than spin.
			select {
			case <-ctx.Done():
			case <-time.After(a.cfg.Block):
			}
		}
	}
	return nil
}

// RunOnce takes at most one job (reclaimed or new) and runs it to its end. It reports whether
// there was a job.
func (a *Agent) RunOnce(ctx context.Context) (bool, error) {
	d, err := a.deps.Queue.Next(ctx, a.cfg.Consumer, a.cfg.MinIdle, a.cfg.Block)
	if err != nil || d == nil {
		return false, err
	}
	return true, a.handle(ctx, d)
}

// handle runs one delivery and publishes its end: ready (ack), failed (ack, or dead-letter once
// MaxAttempts is reached), or nothing when the job must be retried (left pending, reclaimed
// after MinIdle).
func (a *Agent) handle(ctx context.Context, d *jobs.Delivery) error {
	log := a.log.With(zap.String("request_id", d.Job.RequestID), zap.String("entry", d.ID), zap.Int("attempt", d.Job.Attempt))
	final := jobs.Event{RequestID: d.Job.RequestID, Attempt: d.Job.Attempt}
	if d.Bad != nil {
		log.Error("bad job entry", zap.Error(d.Bad))
		final.State, final.Reason, final.At = jobs.StateFailed, "the restore job could not be read", a.now()
		return a.deps.Queue.DeadLetter(ctx, d, d.Bad.Error(), final)
	}
	if d.Job.Attempt > a.cfg.MaxAttempts {
		reason := fmt.Sprintf("the restore was attempted %d times and did not finish", a.cfg.MaxAttempts)
		final.State, final.Reason, final.At = jobs.StateFailed, reason, a.now()
		log.Error("job dead-lettered", zap.String("reason", reason))
		return a.deps.Queue.DeadLetter(ctx, d, reason, final)
	}

	jobCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := keepalive.Start(jobCtx, a.cfg.Heartbeat, func(ctx context.Context) bool {
		owned, err := a.deps.Queue.Heartbeat(ctx, a.cfg.Consumer, d)
		if err != nil {
			log.Warn("heartbeat", zap.Error(err))
			return true // Redis unreachable: keep the job and try again
		}
		return owned
	}, cancel) // another agent took the job over: stop it
	start := a.now()
	err := a.runJob(jobCtx, d.Job, log)
	stop()
	if ctx.Err() != nil {
		return ctx.Err() // shutting down: leave the job pending for another agent
	}
	if err == nil {
		final.State, final.At = jobs.StateReady, a.now()
		log.Info("job ready", zap.Duration("took", final.At.Sub(start)))
		return a.deps.Queue.Finish(ctx, d, final)
	}
	var f *Failure
	if errors.As(err, &f) && f.Permanent {
		final.State, final.Reason, final.At = jobs.StateFailed, f.Reason, a.now()
		log.Warn("job failed", zap.Error(err))
		return a.deps.Queue.Finish(ctx, d, final)
	}
	if jobCtx.Err() != nil {
		log.Warn("job lost to another agent", zap.Error(err))
		return nil
	}
	if d.Job.Attempt >= a.cfg.MaxAttempts {
		final.State, final.At = jobs.StateFailed, a.now()
		final.Reason = fmt.Sprintf("the restore failed %d times; the last error is in the agent log under entry %s", d.Job.Attempt, d.ID)
		log.Error("job dead-lettered", zap.Error(err))
		return a.deps.Queue.DeadLetter(ctx, d, err.Error(), final)
	}
	log.Warn("job attempt failed, will be retried", zap.Error(err))
	return nil
}
