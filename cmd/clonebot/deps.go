package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/clonebot/clonebot/approvals"
	"github.com/clonebot/clonebot/provisioner"
	awsprov "github.com/clonebot/clonebot/provisioner/aws"
	"github.com/clonebot/clonebot/provisioner/local"
)

// process is what every long-running command starts with: its config, logger and Redis.
type process struct {
	cfg *Config
	log *zap.Logger
	rdb *redis.Client
}

// start loads the config at path, builds the logger and connects to Redis. check, if not nil,
// runs on the config before anything is started. Close releases what start made.
func start(ctx context.Context, path string, check func(*Config) error) (*process, error) {
	cfg, err := loadConfig(path, os.Getenv)
	if err != nil {
		return nil, err
	}
	if check != nil {
		if err := check(cfg); err != nil {
			return nil, err
		}
	}
	log, err := newLogger(cfg.LogLevel)
	if err != nil {
		return nil, err
	}
	rdb, err := newRedis(ctx, cfg.Redis.URL)
	if err != nil {
		return nil, err
	}
	return &process{cfg: cfg, log: log, rdb: rdb}, nil
}

// Close closes Redis and flushes the log.
func (p *process) Close() {
	p.rdb.Close()
	_ = p.log.Sync() // nothing to do about a failed flush at exit
}

// newLogger returns a JSON logger at level ("" is info).
func newLogger(level string) (*zap.Logger, error) {
	cfg := zap.NewProductionConfig()
	if level != "" {
		l, err := zapcore.ParseLevel(level)
		if err != nil {
			return nil, fmt.Errorf("log_level: %w", err)
		}
		cfg.Level = zap.NewAtomicLevelAt(l)
	}
	return cfg.Build()
}

// newRedis connects to the config's Redis and checks it answers.
func newRedis(ctx context.Context, url string) (*redis.Client, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		// The URL may hold a password: it is not quoted.
		return nil, fmt.Errorf("redis.url: not a redis:// URL")
	}
	c := redis.NewClient(opts)
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		return nil, fmt.Errorf("redis at %s: %w", opts.Addr, err)
	}
	return c, nil
}

// loadPolicy reads the policy the config names and checks the backends serve its sources.
func loadPolicy(c *Config) (*approvals.Policy, error) {
	p, err := approvals.LoadPolicy(c.path(c.Policy))
	if err != nil {
		return nil, err
	}
	if err := c.checkSources(p); err != nil {
		return nil, err
	}
	return p, nil
}

// backends builds the configured backends: the source → provisioner/catalogue routing, and
// the secret stores the agent resolves credential references with.
type backends struct {
	sources provisioner.Backends
	secrets secretRouter
	aws     *awsprov.Clients     // nil without an aws section
	awsProv *awsprov.Provisioner // nil without an aws section
}

func newBackends(ctx context.Context, c *Config, log *zap.Logger) (*backends, error) {
	b := &backends{sources: provisioner.Backends{}}
	if c.Local != nil {
		p, err := local.New(*c.Local, log.Named("local"))
		if err != nil {
			return nil, err
		}
		cat, err := local.NewCatalogue(*c.Local, nil)
		if err != nil {
			return nil, err
		}
		for name, sc := range c.Local.Sources {
			b.sources[name] = provisioner.Backend{Provisioner: p, Catalogue: cat, Strategy: sc.Strategy}
		}
		b.secrets.local = p.SecretStore()
	}
	if c.AWS != nil {
		clients, err := awsprov.NewClients(ctx, *c.AWS)
		if err != nil {
			return nil, err
		}
		p, err := awsprov.New(*c.AWS, clients, log.Named("aws"))
		if err != nil {
			return nil, err
		}
		for name, sc := range c.AWS.Sources {
			b.sources[name] = provisioner.Backend{Provisioner: p, Catalogue: p.Catalogue(), Strategy: sc.Strategy}
		}
		b.secrets.aws = awsprov.NewSecretStore(clients)
		b.aws, b.awsProv = &clients, p
	}
	return b, nil
}

// secretRouter resolves a credential reference with the store that made it: file:// references
// with the local file store, Secrets Manager ARNs with AWS.
type secretRouter struct {
	local provisioner.SecretStore
	aws   provisioner.SecretStore
}

var _ provisioner.SecretStore = secretRouter{}

func (r secretRouter) Resolve(ctx context.Context, ref string) (provisioner.Credentials, error) {
	switch {
	case strings.HasPrefix(ref, "file://") && r.local != nil:
		return r.local.Resolve(ctx, ref)
	case strings.HasPrefix(ref, "arn:") && r.aws != nil:
		return r.aws.Resolve(ctx, ref)
	}
	return provisioner.Credentials{}, fmt.Errorf("credential reference %q: no secret store configured for it", ref)
}
