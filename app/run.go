package app

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/clonebot/clonebot/bot/transport"
	"github.com/clonebot/clonebot/lifecycle"
)

// RunServe runs the serve role until ctx ends or a part of it fails: the Slack transport
// (Socket Mode or signed HTTP), the lifecycle loop, the notifier, the ops server, the audit
// log, the REST API when api.listen_addr is set, and the orphan sweep of every backend that can
// sweep.
func (a *App) RunServe(ctx context.Context) error {
	if a.Bot == nil {
		return errors.New("app: the serve role was not built")
	}
	cfg, log := a.Config, a.Log
	// step 1: the transport, with its bounded worker pool and the shared event dedupe.
	pool, err := transport.NewPool(cfg.Slack.Workers, cfg.Slack.QueueSize, a.Metrics, log.Named("pool"))
	if err != nil {
		return err
	}
	deduper := a.DB.Deduper(cfg.Slack.DedupeTTL)
	var runSlack func(context.Context) error
	ready := func() error { return nil }
	switch cfg.Slack.Mode {
	case transport.ModeHTTP:
		h, err := transport.NewHTTPHandler(transport.HTTPOptions{SigningSecret: cfg.Slack.SigningSecret, Dispatcher: a.Bot,
			Pool: pool, Deduper: deduper, Logger: log.Named("http"), MaxBodyBytes: cfg.Slack.MaxBodyBytes})
		if err != nil {
			return err
		}
		runSlack = func(ctx context.Context) error { return serveHTTP(ctx, "slack http", cfg.Slack.ListenAddr, h, log) }
	default:
		s, err := transport.NewSocket(transport.SocketOptions{AppToken: cfg.Slack.AppToken, APIURL: cfg.Slack.APIURL,
			Dispatcher: a.Bot, Pool: pool, Deduper: deduper, Logger: log.Named("socket")})
		if err != nil {
			return err
		}
		runSlack = s.Run
		ready = func() error {
			if !s.Connected() {
				return errors.New("slack: not connected")
			}
			return nil
		}
	}
	// step 2: everything else, until a signal.
	log.Info("clonebot serving", zap.String("mode", cfg.Slack.Mode), zap.String("owner", a.Owner), zap.Strings("sources", a.Policy.SourceNames()))
	loops := []func(context.Context) error{
		runSlack,
		a.Lifecycle.Run,
		a.Notifier.Run,
		func(ctx context.Context) error {
			return serveHTTP(ctx, "metrics", cfg.MetricsAddr, a.opsHandler(ready), log)
		},
	}
	if a.audit != nil {
		loops = append(loops, a.audit.Run)
	}
	if cfg.API.ListenAddr != "" {
		loops = append(loops, a.serveAPI)
	}
	sweepers := a.sweepers()
	loops = append(loops, func(ctx context.Context) error {
		return a.Lifecycle.RunSweeps(ctx, cfg.Lifecycle.SweepInterval, sweepers...)
	})
	err = runAll(ctx, loops...)
	shutdown, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pool.Shutdown(shutdown)
	return err
}

// sweepers are the backends that can find their own clones, each once (sources share them).
func (a *App) sweepers() []lifecycle.Sweeper {
	var out []lifecycle.Sweeper
	for _, name := range slices.Sorted(maps.Keys(a.backends.sources)) {
		s, ok := a.backends.sources[name].Provisioner.(lifecycle.Sweeper)
		if ok && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// RunAgent runs the agent role until ctx ends: jobs from the queue, the expiry guard and its
// ops server.
func (a *App) RunAgent(ctx context.Context) error {
	if a.Agent == nil {
		return errors.New("app: the agent role was not built")
	}
	a.Log.Info("agent started", zap.String("consumer", a.Owner))
	return runAll(ctx, a.Agent.Run, a.Guard.Run, func(ctx context.Context) error {
		return serveHTTP(ctx, "agent metrics", a.Config.Agent.MetricsAddr, a.opsHandler(func() error { return nil }), a.Log)
	})
}

// serveHTTP serves h on addr until ctx ends; name says which listener an error is about.
func serveHTTP(ctx context.Context, name, addr string, h http.Handler, log *zap.Logger) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen for %s on %s: %w", name, addr, err)
	}
	return transport.ServeListener(ctx, name, l, h, log)
}

func promhttpHandler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
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
