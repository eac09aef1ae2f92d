package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/clonebot/clonebot/approvals"
	"github.com/clonebot/clonebot/jobs"
	"github.com/clonebot/clonebot/provisioner"
)

// Config tunes the loop.
type Config struct {
	Owner              string        // this replica's name: lease owner and events consumer; unique per replica
	Interval           time.Duration // between reconcile passes
	LeaseTTL           time.Duration // of a request's lease; renewed while a step runs
	Batch              int           // ids taken from an index, and events read, per pass
	RestoreParallelism int           // connections per restore job (agent.Job.Parallelism); 0: the agent's own setting
	CreateAttempts     int           // Provisioner.Create tries before the request fails
	RetryBackoff       time.Duration // wait after the first failed Create; doubles after each one
	Workers            int           // steps run at once
	// RestoreAllowance is added to the TTL for the first bound on a clone's credentials (set
	// when it is created), so a long restore never outlives them; at ready the bound becomes
	// ready + TTL.
	RestoreAllowance time.Duration
	// SystemMailbox is the store's mailbox of notices about no one request (handlers'
	// SystemMailbox): the orphan sweep's report to the security channel goes there.
	SystemMailbox string
}

// DefaultConfig returns the defaults for replica owner.
func DefaultConfig(owner string) Config {
	return Config{
		Owner: owner, Interval: 5 * time.Second, LeaseTTL: 30 * time.Second, Batch: 100,
		RestoreParallelism: 0, CreateAttempts: 5,
		RetryBackoff: 30 * time.Second, Workers: 8, RestoreAllowance: 12 * time.Hour, SystemMailbox: "system",
	}
}

// Validate names the first bad field.
func (c Config) Validate() error {
	switch {
	case c.Owner == "":
		return errors.New("lifecycle config: owner is required (a name unique to this replica)")
	case c.Interval <= 0:
		return fmt.Errorf("lifecycle config: interval %s: must be positive", c.Interval)
	case c.LeaseTTL < time.Second:
		return fmt.Errorf("lifecycle config: lease_ttl %s: must be at least 1s", c.LeaseTTL)
	case c.Batch <= 0:
		return fmt.Errorf("lifecycle config: batch %d: must be positive", c.Batch)
	case c.RestoreParallelism < 0:
		return fmt.Errorf("lifecycle config: restore_parallelism %d: must not be negative", c.RestoreParallelism)
	case c.CreateAttempts <= 0:
		return fmt.Errorf("lifecycle config: create_attempts %d: must be positive", c.CreateAttempts)
	case c.RetryBackoff <= 0:
		return fmt.Errorf("lifecycle config: retry_backoff %s: must be positive", c.RetryBackoff)
	case c.Workers <= 0:
		return fmt.Errorf("lifecycle config: workers %d: must be positive", c.Workers)
	case c.RestoreAllowance < 0:
		return fmt.Errorf("lifecycle config: restore_allowance %s: must not be negative", c.RestoreAllowance)
	case c.SystemMailbox == "":
		return errors.New("lifecycle config: system_mailbox is required (where the sweep's reports go)")
	}
	return nil
}

// Store is what the loop needs of the request store (redisstore.Store). Errors are
// approvals' sentinels.
type Store interface {
	// Get returns a request. ErrNotFound.
	Get(ctx context.Context, id string) (*approvals.Request, error)
	// Transition moves a request along the state machine and records t.Say with it; moving to
	// the status it is in is a no-op. An *IllegalTransitionError when the move is not legal
	// from its current status.
	Transition(ctx context.Context, t approvals.TransitionInput) (*approvals.Request, error)
	// ListActive returns every active request (for the active-clones metric, read at scrapes).
	ListActive(ctx context.Context) ([]*approvals.Request, error)
	// ListWorking returns the requests with a step to take whatever the time (being made or
	// torn down, or ready with an expiry the backend was not told); Told takes a ready one out.
	ListWorking(ctx context.Context) ([]*approvals.Request, error)
	Told(ctx context.Context, id string) error
	// NextExpiry returns when the next ready clone expires (false when none is ready).
	NextExpiry(ctx context.Context) (time.Time, bool, error)
	// DueReviews returns up to limit ids of ended break-glass clones whose review is due at or
	// before t and not done.
	DueReviews(ctx context.Context, t time.Time, limit int) ([]string, error)
	// RecordEvent appends an audit event that is no change of state.
	RecordEvent(ctx context.Context, id, typ, actor string, at time.Time, data map[string]string) error
	// DuePending and DueExpiry return up to limit ids of pending requests whose approval
	// window, and of ready clones whose TTL, ends at or before t, soonest first.
	DuePending(ctx context.Context, t time.Time, limit int) ([]string, error)
	DueExpiry(ctx context.Context, t time.Time, limit int) ([]string, error)
	// AcquireLease takes (or renews) the request's lease for owner; ErrLeaseHeld if another
	// owner holds it. ReleaseLease gives it up.
	AcquireLease(ctx context.Context, id, owner string, ttl time.Duration) error
	ReleaseLease(ctx context.Context, id, owner string) error
	// Announce records notices no state change carries; with once (a marks field), only the
	// first time, and reports whether it did.
	Announce(ctx context.Context, id, once string, say ...approvals.Notice) (bool, error)
	// Marks and SetMarks read and write what the loop remembers of requests between passes.
	Marks(ctx context.Context, ids ...string) ([]approvals.Marks, error)
	SetMarks(ctx context.Context, id string, mk approvals.Marks) error
	// AddTeardown and Teardowns keep the failed requests whose clone is still to destroy.
	AddTeardown(ctx context.Context, id string) error
	Teardowns(ctx context.Context) ([]string, error)
	// Forget drops the marks of a request that reached its end.
	Forget(ctx context.Context, id string) error
	// AcquireSweep takes (or renews) the orphan sweep's lease for owner; ErrLeaseHeld if
	// another owner holds it. ReleaseSweep gives it up.
	AcquireSweep(ctx context.Context, owner string, ttl time.Duration) error
	ReleaseSweep(ctx context.Context, owner string) error
	// PlantSentinel sets a key that is never deleted if it is absent, and reports whether it
	// did: after the first call, only when Redis lost its data.
	PlantSentinel(ctx context.Context) (planted bool, err error)
}

// JobQueue is where restore jobs go (redisstore.Queue).
type JobQueue interface {
	// Enqueue adds the restore job; a second call for the same request adds nothing.
	Enqueue(ctx context.Context, job jobs.Job) (added bool, err error)
}

// Events is the agents' events stream, read through the replicas' consumer group
// (redisstore.Events).
type Events interface {
	// ClaimIdle takes over events another replica left unacknowledged for minIdle.
	ClaimIdle(ctx context.Context, consumer string, minIdle time.Duration, count int) error
	// Read returns up to count of this consumer's pending events, or new ones waiting up to
	// block (negative: not at all).
	Read(ctx context.Context, consumer string, pending bool, count int, block time.Duration) ([]jobs.Received, error)
	// Ack acknowledges handled events.
	Ack(ctx context.Context, ids ...string) error
}

// Revoker ends a clone's access at once, ahead of its destroy: no new login, every open session
// ended (provisioner/local: NOLOGIN and pg_terminate_backend). It returns the sessions it ended;
// revoking what is revoked or gone is no error.
type Revoker interface {
	Revoke(ctx context.Context, requestID string) (sessionsEnded int, err error)
}

// Extender moves the credential expiry of a clone (VALID UNTIL, delete-after tags). The
// provisioners of provisioner/local and provisioner/aws implement it; a backend without it
// is not told about extensions.
type Extender interface {
	Extend(ctx context.Context, requestID string, expiresAt time.Time) error
}

// Deps are what the Manager drives.
type Deps struct {
	Store    Store
	Policy   *approvals.Policy
	Backends provisioner.Backends
	Queue    JobQueue
	Events   Events
	// Goldens, optional, keeps the golden copies: without it none is built or served.
	Goldens GoldenStore
	Logger  *zap.Logger
	Now     func() time.Time      // default time.Now
	Metrics prometheus.Registerer // optional: the revocation latency histogram is registered here
}

func (d Deps) validate() error {
	switch {
	case d.Store == nil:
		return errors.New("lifecycle: no Store")
	case d.Policy == nil:
		return errors.New("lifecycle: no Policy")
	case len(d.Backends) == 0:
		return errors.New("lifecycle: no Backends")
	case d.Queue == nil:
		return errors.New("lifecycle: no Queue")
	case d.Events == nil:
		return errors.New("lifecycle: no Events")
	case d.Logger == nil:
		return errors.New("lifecycle: no Logger")
	}
	return nil
}
