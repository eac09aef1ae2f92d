package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/clonebot/clonebot/agent"
	"github.com/clonebot/clonebot/approvals/redisstore"
	"github.com/clonebot/clonebot/bot"
	"github.com/clonebot/clonebot/bot/transport"
	"github.com/clonebot/clonebot/lifecycle"
)

// runServe implements `clonebot serve -config clonebot.yaml`: the Slack bot and the lifecycle
// loop. Any number of replicas may run; they share their state in Redis.
func runServe(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	configPath := fs.String("config", "clonebot.yaml", "config file")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	// step 1: configuration, policy, logger, Redis.
	proc, err := start(ctx, *configPath, func(c *Config) error { return c.Slack.Validate() })
	if err != nil {
		return err
	}
	defer proc.Close()
	cfg, log, rdb := proc.cfg, proc.log, proc.rdb
	policy, err := loadPolicy(cfg)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	// step 2: the approval store, the backends and the restore queue.
	store := redisstore.New(rdb, cfg.Redis.Prefix)
	be, err := newBackends(ctx, cfg, log)
	if err != nil {
		return err
	}
	queue := agent.NewQueue(rdb, cfg.Redis.Prefix, agent.DefaultGroup)
	if err := queue.EnsureGroup(ctx); err != nil {
		return err
	}

	// step 3: Slack: the Web API client and the notifier the lifecycle reports through.
	api := cfg.Slack.WebClient()
	clock := bot.SystemClock{}
	notifier := bot.NewNotifier(api, policy, cfg.Bot, log.Named("notifier"), clock)
	notifier.ShareProgress(bot.NewRedisProgressRefs(rdb, cfg.Redis.Prefix, 48*time.Hour)) // replicas edit one progress line

	// step 4: the lifecycle loop and the bot's use cases.
	lcCfg := lifecycle.DefaultConfig(defaultConsumer())
	lcCfg.Interval, lcCfg.LeaseTTL = cfg.Lifecycle.Interval, cfg.Lifecycle.LeaseTTL
	lcCfg.RestoreParallelism, lcCfg.RestoreAllowance = cfg.Lifecycle.RestoreParallelism, cfg.Lifecycle.RestoreAllowance
	lc, err := lifecycle.New(lcCfg, lifecycle.Deps{
		Store: store, Policy: policy, Backends: be.sources, Queue: queue,
		Redis: rdb, Prefix: cfg.Redis.Prefix, Notifier: notifier,
		Metrics: reg, Logger: log.Named("lifecycle"), Now: time.Now,
	})
	if err != nil {
		return err
	}
	b, err := bot.New(bot.Deps{Config: cfg.Bot, Slack: api, Store: store, Policy: policy, Catalogue: be.sources,
		Lifecycle: lc, Notifier: notifier, Logger: log.Named("bot"), Clock: clock})
	if err != nil {
		return err
	}

	// step 5: the transport, the metrics server, and the lifecycle, until a signal.
	pool, err := transport.NewPool(cfg.Slack.Workers, cfg.Slack.QueueSize, reg, log.Named("pool"))
	if err != nil {
		return err
	}
	deduper := transport.NewRedisDeduper(rdb, cfg.Redis.Prefix, cfg.Slack.DedupeTTL)
	var runSlack func(context.Context) error
	ready := func() bool { return true }
	switch cfg.Slack.Mode {
	case transport.ModeHTTP:
		h, err := transport.NewHTTPHandler(transport.HTTPOptions{SigningSecret: cfg.Slack.SigningSecret, Dispatcher: b,
			Pool: pool, Deduper: deduper, Logger: log.Named("http"), MaxBodyBytes: cfg.Slack.MaxBodyBytes})
		if err != nil {
			return err
		}
		runSlack = func(ctx context.Context) error { return transport.Serve(ctx, cfg.Slack.ListenAddr, h, log) }
	default:
		s, err := transport.NewSocket(transport.SocketOptions{AppToken: cfg.Slack.AppToken, APIURL: cfg.Slack.APIURL,
			Dispatcher: b, Pool: pool, Deduper: deduper, Logger: log.Named("socket")})
		if err != nil {
			return err
		}
		runSlack, ready = s.Run, s.Connected
	}
	log.Info("clonebot serving", zap.String("mode", cfg.Slack.Mode), zap.Strings("sources", policy.SourceNames()))
	loops := []func(context.Context) error{
		runSlack,
		lc.Run,
		func(ctx context.Context) error {
			return transport.Serve(ctx, cfg.MetricsAddr, opsHandler(reg, rdb, ready), log)
		},
	}
	if be.awsProv != nil { // the orphan reaper: clusters and secrets no live request owns
		loops = append(loops, func(ctx context.Context) error {
			return runSweeps(ctx, be.awsProv, store, cfg.Lifecycle.SweepInterval, log.Named("sweep"))
		})
	}
	err = runAll(ctx, loops...)
	shutdown, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pool.Shutdown(shutdown)
	return err
}

// opsHandler serves /metrics, /healthz (the process runs) and /readyz (Redis answers and, in
// Socket Mode, the socket is connected).
func opsHandler(reg *prometheus.Registry, rdb *redis.Client, ready func() bool) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := rdb.Ping(ctx).Err(); err != nil {
			http.Error(w, "redis: unavailable", http.StatusServiceUnavailable)
			return
		}
		if !ready() {
			http.Error(w, "slack: not connected", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	return mux
}

// runAll runs every f until ctx ends or one of them fails, then stops the others and returns
// the first error (nil when ctx ended first).
func runAll(ctx context.Context, fs ...func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for _, f := range fs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(ctx); err != nil && !errors.Is(err, context.Canceled) {
				once.Do(func() { first = err })
			}
			cancel()
		}()
	}
	wg.Wait()
	return first
}
