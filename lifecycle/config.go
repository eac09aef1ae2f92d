package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/clonebot/clonebot/agent"
	"github.com/clonebot/clonebot/approvals"
	"github.com/clonebot/clonebot/handlers"
	"github.com/clonebot/clonebot/provisioner"
)

// Config tunes the loop.
type Config struct {
	Owner              string        // this replica's name: lease owner and events consumer; unique per replica
	Interval           time.Duration // between reconcile passes
	LeaseTTL           time.Duration // of a request's lease; renewed while a step runs
	Batch              int           // ids taken from an index, and events read, per pass
	RestoreParallelism int           // connections per restore job (agent.Job.Parallelism); 0: the agent's own setting
	EventsGroup        string        // consumer group of the bot replicas on the agents' events stream
	CreateAttempts     int           // Provisioner.Create tries before the request fails
	RetryBackoff       time.Duration // wait after the first failed Create; doubles after each one
	Workers            int           // steps run at once
	// RestoreAllowance is added to the TTL for the first bound on a clone's credentials (set
	// when it is created), so a long restore never outlives them; at ready the bound becomes
	// ready + TTL.
	RestoreAllowance time.Duration
}

// DefaultConfig returns the defaults for replica owner.
func DefaultConfig(owner string) Config {
	return Config{
		Owner: owner, Interval: 5 * time.Second, LeaseTTL: 30 * time.Second, Batch: 100,
		RestoreParallelism: 0, EventsGroup: "clonebot-lifecycle", CreateAttempts: 5,
		RetryBackoff: 30 * time.Second, Workers: 8, RestoreAllowance: 12 * time.Hour,
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
	case c.EventsGroup == "":
		return errors.New("lifecycle config: events_group is required")
	case c.CreateAttempts <= 0:
		return fmt.Errorf("lifecycle config: create_attempts %d: must be positive", c.CreateAttempts)
	case c.RetryBackoff <= 0:
		return fmt.Errorf("lifecycle config: retry_backoff %s: must be positive", c.RetryBackoff)
	case c.Workers <= 0:
		return fmt.Errorf("lifecycle config: workers %d: must be positive", c.Workers)
	case c.RestoreAllowance < 0:
		return fmt.Errorf("lifecycle config: restore_allowance %s: must not be negative", c.RestoreAllowance)
	}
	return nil
}

// JobQueue is the part of agent.Queue the loop uses.
type JobQueue interface {
	// Enqueue adds the restore job; a second call for the same request adds nothing.
	Enqueue(ctx context.Context, job agent.Job) (added bool, err error)
	// EventsKey is the stream the agents publish progress and results on.
	EventsKey() string
}

var _ JobQueue = (*agent.Queue)(nil)

// Extender moves the credential expiry of a clone (VALID UNTIL, delete-after tags). The
// provisioners of provisioner/local and provisioner/aws implement it; a backend without it
// is not told about extensions.
type Extender interface {
	Extend(ctx context.Context, requestID string, expiresAt time.Time) error
}

// Deps are what the Manager drives.
type Deps struct {
	Store    approvals.Store
	Policy   *approvals.Policy
	Backends provisioner.Backends
	Queue    JobQueue
	Redis    redis.UniversalClient // for the events consumer group and the Manager's own keys
	Prefix   string                // key prefix, as given to redisstore.New and agent.NewQueue
	Notifier handlers.Notifier
	Logger   *zap.Logger
	Now      func() time.Time      // default time.Now
	Metrics  prometheus.Registerer // optional: the revocation latency histogram is registered here
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
	case d.Redis == nil:
		return errors.New("lifecycle: no Redis")
	case d.Notifier == nil:
		return errors.New("lifecycle: no Notifier")
	case d.Logger == nil:
		return errors.New("lifecycle: no Logger")
	}
	return nil
}
