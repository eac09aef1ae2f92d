// Package app builds clonebot from its config: one constructor, New, wires every part (the
// Redis adapters, the backends, the lifecycle, the use cases, the Slack notifier and bot, the
// restore agent) with everything passed in, and is what `clonebot serve`, `clonebot agent`,
// the demo and the end-to-end tests all run. Options replace a part the config would build,
// for a test or the demo; nothing is changed after New returns.
package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/slack-go/slack"
	"go.uber.org/zap"

	"github.com/clonebot/clonebot/agent"
	"github.com/clonebot/clonebot/agent/mask"
	"github.com/clonebot/clonebot/api"
	"github.com/clonebot/clonebot/approvals"
	"github.com/clonebot/clonebot/bot"
	"github.com/clonebot/clonebot/bot/transport"
	"github.com/clonebot/clonebot/handlers"
	"github.com/clonebot/clonebot/internal/clock"
	"github.com/clonebot/clonebot/lifecycle"
	"github.com/clonebot/clonebot/provisioner"
	awsprov "github.com/clonebot/clonebot/provisioner/aws"
	"github.com/clonebot/clonebot/provisioner/local"
	"github.com/clonebot/clonebot/redisstore"
)

// The ports of the use-case packages, satisfied by the adapters this package wires.
var (
	_ handlers.Store         = (*redisstore.Store)(nil)
	_ handlers.Lifecycle     = (*lifecycle.Manager)(nil)
	_ handlers.Directory     = (*bot.Directory)(nil)
	_ handlers.Goldens       = (*redisstore.Store)(nil)
	_ handlers.GoldenBuilder = (*lifecycle.Manager)(nil)
	_ lifecycle.Store        = (*redisstore.Store)(nil)
	_ lifecycle.JobQueue     = (*redisstore.Queue)(nil)
	_ lifecycle.Events       = (*redisstore.Events)(nil)
	_ lifecycle.Sweeper      = (*awsprov.Provisioner)(nil)
	_ lifecycle.Sweeper      = (*local.Provisioner)(nil)
	_ lifecycle.Revoker      = (*local.Provisioner)(nil)
	_ lifecycle.GuardStore   = (*redisstore.Store)(nil)
	_ lifecycle.GoldenStore  = (*redisstore.Store)(nil)
	_ bot.Mailbox            = (*redisstore.Store)(nil)
	_ agent.Queue            = (*redisstore.Queue)(nil)
	_ transport.Deduper      = (*redisstore.Deduper)(nil)
)

// Options say which roles to build and replace what the config would otherwise give. The zero
// value of a field means "from the config".
type Options struct {
	Serve bool // the Slack bot, the lifecycle and the notifier (`clonebot serve`)
	Agent bool // a restore agent (`clonebot agent`)

	Logger   *zap.Logger             // default: JSON at the config's log_level
	Clock    clock.Clock             // default: the system clock
	Owner    string                  // this process's name among the replicas and agents; default hostname-pid
	DB       *redisstore.DB          // default: the config's Redis
	Policy   *approvals.Policy       // default: the config's policy file
	Backends provisioner.Backends    // default: the config's aws and local sections
	Secrets  provisioner.SecretStore // the agent's; default: the backends' secret stores
	Rules    *mask.Rules             // default: the config's masking rules file
	MaskKey  provisioner.Password    // the agent's; default: the variable the config's masking.key_env names
	Metrics  *prometheus.Registry    // default: a new registry with the Go and process collectors
}

// App is clonebot, wired. The fields of a role not built are nil.
type App struct {
	Config  *Config
	Log     *zap.Logger
	Clock   clock.Clock
	Owner   string
	DB      *redisstore.DB
	Store   *redisstore.Store
	Policy  *approvals.Policy
	Rules   *mask.Rules // checked against the policy: they define every masking level its tiers use
	Metrics *prometheus.Registry

	// serve
	Lifecycle *lifecycle.Manager
	Service   *handlers.Service
	Notifier  *bot.Notifier
	Bot       *bot.Bot
	Slack     *slack.Client
	API       *api.Server // served by RunServe on api.listen_addr, when set

	// agent
	Agent *agent.Agent
	Guard *lifecycle.ExpiryGuard // revokes expired clones' access without serve

	audit *auditLog // serve, with audit.url: nil otherwise

	backends *backends
	closers  []func() error
}

// New builds the roles o asks for from cfg.
func New(ctx context.Context, cfg *Config, o Options) (_ *App, err error) {
	if !o.Serve && !o.Agent {
		return nil, errors.New("app: build at least one role (serve or agent)")
	}
	a := &App{Config: cfg, Log: o.Logger, Clock: o.Clock, Owner: o.Owner, DB: o.DB, Policy: o.Policy, Rules: o.Rules, Metrics: o.Metrics}
	defer func() {
		if err != nil {
			a.Close() // what was opened before the error (a, not the nil returned)
		}
	}()
	// step 1: the policy and the masking rules every role needs, checked against each other
	// before anything connects anywhere: a bad file stops the process having changed nothing.
	if a.Policy == nil {
		if a.Policy, err = cfg.ReadPolicy(); err != nil {
			return nil, err
		}
	}
	if a.Rules == nil {
		if a.Rules, err = cfg.ReadRules(a.Policy); err != nil {
			return nil, err
		}
	} else if err := CheckRules(a.Rules, "the masking rules given", a.Policy); err != nil {
		return nil, err
	}
	// step 2: the logger, clock, name, metrics and Redis.
	if a.Log == nil {
		if a.Log, err = NewLogger(cfg.LogLevel); err != nil {
			return nil, err
		}
	}
	if e := cfg.exposed; e != nil {
		a.Log.Warn("the config file holds secrets and its group may read it: keep the group to this process (a pod's fsGroup), or give them by environment variable",
			zap.String("file", e.path), zap.String("mode", fmt.Sprintf("%04o", e.mode)), zap.Strings("keys", e.keys))
	}
	if a.Clock == nil {
		a.Clock = clock.System{}
	}
	if a.Owner == "" {
		a.Owner = DefaultOwner()
	}
	if a.Metrics == nil {
		a.Metrics = prometheus.NewRegistry()
		a.Metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	if a.DB == nil {
		if a.DB, err = redisstore.Open(ctx, cfg.Redis.URL, cfg.Redis.Prefix, cfg.Redis.Cluster); err != nil {
			return nil, err
		}
		a.closers = append(a.closers, a.DB.Close)
	}
	a.Store = a.DB.Store(redisstore.WithClock(a.Clock.Now))
	// step 3: the backends.
	if a.backends, err = newBackends(ctx, cfg, a.Log); err != nil {
		return nil, err
	}
	if o.Backends != nil {
		a.backends.sources = o.Backends
	}
	// step 4: the roles.
	if o.Serve {
		if err := a.buildServe(); err != nil {
			return nil, err
		}
	}
	if o.Agent {
		if err := a.buildAgent(o); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// buildServe wires the lifecycle, the use cases, the Slack directory, notifier and bot.
func (a *App) buildServe() error {
	cfg := a.Config
	lcCfg := lifecycle.DefaultConfig(a.Owner)
	lcCfg.Interval, lcCfg.LeaseTTL = cfg.Lifecycle.Interval, cfg.Lifecycle.LeaseTTL
	lcCfg.RestoreParallelism, lcCfg.RestoreAllowance = cfg.Lifecycle.RestoreParallelism, cfg.Lifecycle.RestoreAllowance
	lcCfg.SystemMailbox = handlers.SystemMailbox
	var err error
	if a.Lifecycle, err = lifecycle.New(lcCfg, lifecycle.Deps{
		Store: a.Store, Policy: a.Policy, Backends: a.backends.sources, Queue: a.DB.Queue(), Events: a.DB.Events(),
		Goldens: a.Store, Metrics: a.Metrics, Logger: a.Log.Named("lifecycle"), Now: a.Clock.Now,
	}); err != nil {
		return err
	}
	a.Slack = cfg.Slack.WebClient()
	dir := bot.NewDirectory(a.Slack, cfg.Bot, a.Clock)
	deps := handlers.Deps{Store: a.Store, Policy: a.Policy, Catalogue: a.backends.sources,
		Lifecycle: a.Lifecycle, Directory: dir, Goldens: a.Store, Builder: a.Lifecycle, Masking: newCoverage(a.Rules),
		Metrics: a.Metrics, Logger: a.Log.Named("handlers"), Now: a.Clock.Now}
	if cfg.Audit.URL != "" {
		a.audit = &auditLog{url: cfg.Audit.URL, outbox: a.Store.AuditOutbox(), sink: anchorSink{a.Store}, clock: a.Clock,
			log: a.Log.Named("audit"), actorOf: func(ctx context.Context, id string) string {
				u, err := dir.User(ctx, id)
				if err != nil {
					return ""
				}
				return u.Name
			}}
		deps.Reports = reports{l: a.audit, policy: a.Policy}
		if err := a.Metrics.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "clonebot_audit_backlog_events",
			Help: "Events in the Redis outbox not yet in the audit log (-1 when Redis cannot say)."}, a.audit.backlog)); err != nil {
			return err
		}
		if err := a.Metrics.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "clonebot_audit_anchor_age_seconds",
			Help: "Seconds since the audit log's head was last published outside the database (-1 before the first)."}, a.audit.anchorAge)); err != nil {
			return err
		}
	} else {
		a.Log.Warn("no audit.url: the audit events stay in the Redis outbox, and /clone report has only what the store knows now")
	}
	if a.Service, err = handlers.New(deps); err != nil {
		return err
	}
	if a.Notifier, err = bot.NewNotifier(cfg.Bot, bot.DefaultNotifierConfig(a.Owner), bot.NotifierDeps{
		Slack: a.Slack, Directory: dir, Policy: a.Policy, Mailbox: a.Store, Home: a.Service.Home,
		Logger: a.Log.Named("notifier"), Clock: a.Clock, Metrics: a.Metrics,
	}); err != nil {
		return err
	}
	a.Bot, err = bot.New(bot.Deps{Slack: a.Slack, Service: a.Service, Notifier: a.Notifier, Policy: a.Policy,
		Logger: a.Log.Named("bot"), Clock: a.Clock})
	if err != nil {
		return err
	}
	return a.buildAPI()
}

// buildAgent wires a restore agent: its queue, the secret stores that resolve its targets,
// the masking rules and key (never logged), and S3 for backups; and the expiry guard.
func (a *App) buildAgent(o Options) error {
	cfg := a.Config
	key := o.MaskKey
	if key.Reveal() == "" {
		v := os.Getenv(cfg.Masking.KeyEnv)
		if len(v) < mask.MinKeyLen {
			return fmt.Errorf("masking key: set %s to at least %d bytes", cfg.Masking.KeyEnv, mask.MinKeyLen)
		}
		key = provisioner.NewPassword(v)
	}
	secrets := o.Secrets
	if secrets == nil {
		secrets = a.backends.secrets
	}
	queue, err := newMeteredQueue(a.DB.Queue(), a.Metrics)
	if err != nil {
		return fmt.Errorf("agent metrics: %w", err)
	}
	deps := agent.Deps{Queue: queue, Secrets: secrets, Rules: a.Rules, MaskKey: key, Log: a.Log.Named("agent"), Now: a.Clock.Now}
	if a.backends.aws != nil {
		deps.S3 = a.backends.aws.S3
	}
	if a.Agent, err = agent.New(cfg.AgentConfig(a.Owner), deps); err != nil {
		return err
	}
	a.Guard, err = lifecycle.NewExpiryGuard(lifecycle.GuardConfig{Owner: a.Owner, Interval: cfg.Lifecycle.Interval, LeaseTTL: cfg.Lifecycle.LeaseTTL},
		a.Store, a.backends.sources, a.Log.Named("expiry-guard"), a.Clock.Now)
	return err
}

// Close releases what New opened.
func (a *App) Close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		if err := a.closers[i](); err != nil && a.Log != nil {
			a.Log.Warn("close", zap.Error(err))
		}
	}
	a.closers = nil
	if a.Log != nil {
		_ = a.Log.Sync() // nothing to do about a failed flush at exit
	}
}

// DefaultOwner is hostname-pid: unique per process.
func DefaultOwner() string {
	h, err := os.Hostname()
	if err != nil {
		h = "clonebot"
	}
	return fmt.Sprintf("%s-%d", h, os.Getpid())
}

// opsHandler serves /metrics, /healthz (the process runs) and /readyz (Redis answers, and
// ready says the rest is; the body also says how the audit log is doing).
func (a *App) opsHandler(ready func() error) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttpHandler(a.Metrics))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := a.DB.Ping(ctx); err != nil {
			http.Error(w, "redis: unavailable", http.StatusServiceUnavailable)
			return
		}
		if err := ready(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
		if a.audit != nil {
			fmt.Fprintln(w, a.audit.status(ctx))
		}
	})
	return mux
}
