package app

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/clonebot/clonebot/agent"
	"github.com/clonebot/clonebot/approvals"
	"github.com/clonebot/clonebot/bot"
	"github.com/clonebot/clonebot/bot/transport"
	"github.com/clonebot/clonebot/internal/yamlerr"
	"github.com/clonebot/clonebot/provisioner"
	awsprov "github.com/clonebot/clonebot/provisioner/aws"
	"github.com/clonebot/clonebot/provisioner/local"
)

// Config is the clonebot config file (deploy/clonebot.example.yaml). Secrets are best given
// by environment variable; see envOverrides.
type Config struct {
	Redis struct {
		URL     string `yaml:"url"`     // env CLONEBOT_REDIS_URL
		Prefix  string `yaml:"prefix"`  // key prefix shared by bot, lifecycle and agents
		Cluster bool   `yaml:"cluster"` // url names Redis Cluster nodes (or a configuration endpoint)
	} `yaml:"redis"`
	Policy  string `yaml:"policy"` // path of the policy file, relative to this file
	Masking struct {
		Rules  string `yaml:"rules"`   // path of the masking rules, relative to this file
		KeyEnv string `yaml:"key_env"` // environment variable holding the HMAC key (≥ 16 bytes)
	} `yaml:"masking"`
	MetricsAddr string           `yaml:"metrics_addr"` // /metrics, /healthz, /readyz
	LogLevel    string           `yaml:"log_level"`    // debug, info (default), warn, error
	Slack       transport.Config `yaml:"slack"`
	Bot         bot.Config       `yaml:"bot"`
	Lifecycle   lifecycleSection `yaml:"lifecycle"`
	Agent       agentSection     `yaml:"agent"`
	AWS         *awsprov.Config  `yaml:"aws"`   // sources with backend: aws
	Local       *local.Config    `yaml:"local"` // sources with backend: local
	Audit       AuditSection     `yaml:"audit"` // the audit log's database
	API         APISection       `yaml:"api"`   // the REST API (api.go)

	dir     string    // the config file's directory
	exposed *exposure // the file holds secrets and its group may read it
}

// AuditSection is the `audit:` section: where the audit log lives.
type AuditSection struct {
	URL string `yaml:"url"` // env CLONEBOT_AUDIT_DATABASE_URL; give the password there or in PGPASSWORD
}

// EnvAuditURL overrides audit.url.
const EnvAuditURL = "CLONEBOT_AUDIT_DATABASE_URL"

// lifecycleSection is the `lifecycle:` section.
type lifecycleSection struct {
	Interval           time.Duration `yaml:"interval"`            // reconcile pass every (default 5s)
	LeaseTTL           time.Duration `yaml:"lease_ttl"`           // per-request lease (default 2m)
	RestoreParallelism int           `yaml:"restore_parallelism"` // connections per restore job (default: the agent's)
	RestoreAllowance   time.Duration `yaml:"restore_allowance"`   // a new clone's credentials last TTL + this until it is ready (default 12h)
	SweepInterval      time.Duration `yaml:"sweep_interval"`      // how often every backend's orphaned clones are reaped (default 15m)
}

// agentSection is the `agent:` section (agent.Config with YAML names).
type agentSection struct {
	MetricsAddr string        `yaml:"metrics_addr"` // the agent's /metrics, /healthz, /readyz (default :9091)
	MinIdle     time.Duration `yaml:"min_idle"`     // a job idle this long is reclaimed by another agent (default 2m)
	Block       time.Duration `yaml:"block"`        // one poll for jobs waits this long (default 5s)
	MaxAttempts int           `yaml:"max_attempts"` // deliveries before the dead-letter stream (default 3)
	Parallelism int           `yaml:"parallelism"`  // connections per job (default 2)
	WorkDir     string        `yaml:"work_dir"`     // where S3 backups are spooled (default: the temp dir)
	GateSample  int           `yaml:"gate_sample"`  // original values sampled per masked column for the gate
	SSLMode     string        `yaml:"ssl_mode"`     // sslmode of target connections (default prefer)
	SortMemory  string        `yaml:"sort_memory"`  // maintenance_work_mem of the agent's sessions (default agent.DefaultSortMemory; "server" keeps the server's)
}

// Environment variables that override the file.
const (
	envRedisURL   = "CLONEBOT_REDIS_URL"
	EnvMaskingKey = "CLONEBOT_MASKING_KEY" // the default masking.key_env
)

// LoadConfig reads the config file, applies the environment and defaults, and validates it.
// A key the config does not have, a value of the wrong kind and a YAML syntax error are
// refused with the key's path and line (internal/yamlerr). A file holding secrets that every
// user may read is refused (ErrConfigExposed); one its group may read is accepted, and New logs
// a warning.
func LoadConfig(path string, getenv func(string) string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	var c Config
	root, err := yamlerr.Load(data, &c)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	c.dir = filepath.Dir(path)
	if c.exposed, err = checkExposure(path, c.secretKeys()); err != nil {
		return nil, err
	}
	c.applyEnv(getenv)
	c.applyDefaults()
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, locate(err, yamlerr.Lines(root)))
	}
	return &c, nil
}

// fieldPath finds a dotted key path followed by a colon, as Validate's errors name their field
// ("local.port: 70000 is not a TCP port").
var fieldPath = regexp.MustCompile(`\b[a-z_]+(?:\.[A-Za-z0-9_-]+)+:`)

// located is a Validate error with its field's line added after the field's path.
type located struct {
	err error
	msg string
}

func (e *located) Error() string { return e.msg }
func (e *located) Unwrap() error { return e.err }

// locate adds the line of the field a Validate error names, when the file has that field.
func locate(err error, lines map[string]int) error {
	msg := err.Error()
	for _, m := range fieldPath.FindAllStringIndex(msg, -1) {
		path := msg[m[0] : m[1]-1]
		if line, ok := lines[path]; ok {
			return &located{err: err, msg: fmt.Sprintf("%s (line %d)%s", msg[:m[1]-1], line, msg[m[1]-1:])}
		}
	}
	return err
}

// DefaultConfig returns a config with every default applied and no policy, backend or Slack
// credentials: what a program that builds its config itself (the demo) starts from.
func DefaultConfig() *Config {
	c := &Config{}
	c.applyDefaults()
	return c
}

func (c *Config) applyEnv(getenv func(string) string) {
	if v := getenv(envRedisURL); v != "" {
		c.Redis.URL = v
	}
	if v := getenv(EnvAuditURL); v != "" {
		c.Audit.URL = v
	}
	c.Slack.ApplyEnv(getenv)
}

func (c *Config) applyDefaults() {
	if c.Redis.URL == "" {
		c.Redis.URL = "redis://127.0.0.1:6379/0"
	}
	if c.Redis.Prefix == "" {
		c.Redis.Prefix = "clonebot:"
	}
	if c.Masking.KeyEnv == "" {
		c.Masking.KeyEnv = EnvMaskingKey
	}
	if c.MetricsAddr == "" {
		c.MetricsAddr = ":9090"
	}
	c.Slack.ApplyDefaults()
	l := &c.Lifecycle
	l.Interval = orDuration(l.Interval, 5*time.Second)
	l.LeaseTTL = orDuration(l.LeaseTTL, 30*time.Second)
	l.RestoreAllowance = orDuration(l.RestoreAllowance, 12*time.Hour)
	l.SweepInterval = orDuration(l.SweepInterval, 15*time.Minute)
	d := agent.DefaultConfig("")
	a := &c.Agent
	if a.MetricsAddr == "" {
		a.MetricsAddr = ":9091"
	}
	a.MinIdle = orDuration(a.MinIdle, d.MinIdle)
	a.Block = orDuration(a.Block, d.Block)
	if a.MaxAttempts == 0 {
		a.MaxAttempts = d.MaxAttempts
	}
	if a.Parallelism == 0 {
		a.Parallelism = d.Parallelism
	}
	if a.GateSample == 0 {
		a.GateSample = d.GateSample
	}
	if a.SortMemory == "" {
		a.SortMemory = d.SortMemory
	}
}

func orDuration(v, def time.Duration) time.Duration {
	if v == 0 {
		return def
	}
	return v
}

// PolicyPath is the path of the policy file.
func (c *Config) PolicyPath() string { return c.path(c.Policy) }

// RulesPath is the path of the masking rules file; "" when the config names none.
func (c *Config) RulesPath() string { return c.path(c.Masking.Rules) }

// path resolves a path of the config file relative to the file's directory.
func (c *Config) path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.dir, p)
}

// Validate checks what can be checked without the policy; checkSources checks the rest.
func (c *Config) Validate() error {
	if c.Policy == "" {
		return errors.New("policy: the path of the policy file is required")
	}
	l := c.Lifecycle
	for _, f := range []struct {
		name     string
		negative bool
	}{
		{"interval", l.Interval < 0}, {"lease_ttl", l.LeaseTTL < 0}, {"restore_parallelism", l.RestoreParallelism < 0},
		{"restore_allowance", l.RestoreAllowance < 0}, {"sweep_interval", l.SweepInterval < 0},
	} {
		if f.negative {
			return fmt.Errorf("lifecycle.%s: must not be negative", f.name)
		}
	}
	if err := c.Bot.Validate(); err != nil {
		return err
	}
	if err := c.API.validate(); err != nil {
		return err
	}
	if c.AWS != nil {
		if err := c.AWS.Validate(); err != nil {
			return err
		}
	}
	if c.Local != nil {
		if err := c.Local.Validate(); err != nil {
			return err
		}
	}
	return nil
}

// AgentConfig returns agent.Config for this agent's consumer name.
func (c *Config) AgentConfig(consumer string) agent.Config {
	a := agent.DefaultConfig(consumer)
	a.MinIdle, a.Block, a.MaxAttempts, a.Parallelism = c.Agent.MinIdle, c.Agent.Block, c.Agent.MaxAttempts, c.Agent.Parallelism
	a.WorkDir, a.GateSample, a.SSLMode = c.Agent.WorkDir, c.Agent.GateSample, c.Agent.SSLMode
	a.SortMemory = c.Agent.SortMemory
	if a.SortMemory == "server" {
		a.SortMemory = ""
	}
	return a
}

// checkSources makes sure every policy source is served by a configured backend with the same
// strategy, so the policy and the backends cannot disagree about how a source is cloned.
func (c *Config) checkSources(p *approvals.Policy) error {
	for _, name := range p.SourceNames() {
		src := p.Sources[name]
		var strategy provisioner.Strategy
		switch src.Backend {
		case "aws":
			if c.AWS == nil {
				return fmt.Errorf("policy source %s uses the aws backend, but the config has no aws section", name)
			}
			sc, ok := c.AWS.Sources[name]
			if !ok {
				return fmt.Errorf("aws.sources.%s: missing (the policy names source %s)", name, name)
			}
			strategy = sc.Strategy
		case "local":
			if c.Local == nil {
				return fmt.Errorf("policy source %s uses the local backend, but the config has no local section", name)
			}
			sc, ok := c.Local.Sources[name]
			if !ok {
				return fmt.Errorf("local.sources.%s: missing (the policy names source %s)", name, name)
			}
			strategy = sc.Strategy
		}
		if string(strategy) != src.Strategy {
			return fmt.Errorf("%s.sources.%s.strategy is %q but the policy says %q", src.Backend, name, strategy, src.Strategy)
		}
	}
	return nil
}
