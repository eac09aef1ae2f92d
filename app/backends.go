package app

import (
	"context"
	"fmt"
	"os"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/clonebot/clonebot/approvals"
	"github.com/clonebot/clonebot/provisioner"
	awsprov "github.com/clonebot/clonebot/provisioner/aws"
	"github.com/clonebot/clonebot/provisioner/local"
)

// NewLogger returns a JSON logger at level ("" is info).
func NewLogger(level string) (*zap.Logger, error) {
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

// ReadPolicy reads the policy file the config names and checks that the backends serve its
// sources.
func (c *Config) ReadPolicy() (*approvals.Policy, error) {
	p, err := ReadPolicyFile(c.path(c.Policy))
	if err != nil {
		return nil, err
	}
	if err := c.checkSources(p); err != nil {
		return nil, err
	}
	return p, nil
}

// backends are the configured backends: the source → provisioner/catalogue routing, and the
// secret stores the agent resolves credential references with.
type backends struct {
	sources provisioner.Backends
	secrets secretRouter
	aws     *awsprov.Clients // nil without an aws section
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
		b.aws = &clients
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

// ReadPolicyFile reads and checks the policy file at path; an error names the file.
func ReadPolicyFile(path string) (*approvals.Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read policy: %w", err)
	}
	return approvals.ParsePolicyFile(path, data)
}
