package aws

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	sdkconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/clonebot/clonebot/provisioner"
)

// EngineAuroraPostgres is the only engine this backend makes clusters of.
const EngineAuroraPostgres = "aurora-postgresql"

// Defaults applied by New to zero-valued settings.
const (
	DefaultPollInterval = 15 * time.Second
	DefaultWaitTimeout  = 60 * time.Minute
	// DefaultFinalSnapshotRetention is a week: long enough to notice a clone was needed.
	DefaultFinalSnapshotRetention = 7 * 24 * time.Hour
	DefaultMasterUsername         = "clonebot"
	defaultPort                   = 5432
)

// Config is the AWS backend's configuration (the `aws:` section of the config file).
type Config struct {
	Region              string   `yaml:"region"`
	EndpointURL         string   `yaml:"endpoint_url"` // overrides every service endpoint (moto in tests)
	KMSKeyID            string   `yaml:"kms_key_id"`   // empty: the account's aws/rds key
	DBSubnetGroup       string   `yaml:"db_subnet_group"`
	VPCSecurityGroupIDs []string `yaml:"vpc_security_group_ids"`
	InstanceClass       string   `yaml:"instance_class"`
	Engine              string   `yaml:"engine"`         // aurora-postgresql (the default)
	EngineVersion       string   `yaml:"engine_version"` // empty: the engine's default version
	MasterUsername      string   `yaml:"master_username"`
	FinalSnapshot       bool     `yaml:"final_snapshot"` // take a final snapshot when destroying a clone
	// FinalSnapshotRetention is how long a final snapshot is kept once its clone is gone;
	// then Sweep deletes it.
	FinalSnapshotRetention time.Duration `yaml:"final_snapshot_retention"`
	// PollInterval is how often Create polls a cluster or instance that is not available yet.
	PollInterval time.Duration `yaml:"poll_interval"`
	// WaitTimeout bounds each wait for a cluster or instance to become available.
	WaitTimeout time.Duration           `yaml:"wait_timeout"`
	Sources     map[string]SourceConfig `yaml:"sources"`
}

// SourceConfig says how clones of one source database are made and where its backups are.
type SourceConfig struct {
	Strategy provisioner.Strategy `yaml:"strategy"`
	// SourceCluster is the production cluster cloned (fast-clone) or whose snapshots are
	// restored (snapshot).
	SourceCluster string `yaml:"source_cluster"`
	// Database is the database name inside the clone.
	Database string `yaml:"database"`
	// Backups is where restore finds backup files: s3://bucket/{source}/{date}/ (date as YYYY-MM-DD).
	Backups string `yaml:"backups"`
}

// Validate reports every bad field, each named by its path in the config file.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("aws.%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if c.Region == "" {
		bad("region", "required")
	}
	if c.EndpointURL != "" {
		if u, err := url.Parse(c.EndpointURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("endpoint_url", "%q is not an http(s) URL", c.EndpointURL)
		}
	}
	if c.DBSubnetGroup == "" {
		bad("db_subnet_group", "required (clones go in private subnets)")
	}
	if len(c.VPCSecurityGroupIDs) == 0 {
		bad("vpc_security_group_ids", "required (at least one security group)")
	}
	for i, sg := range c.VPCSecurityGroupIDs {
		if !strings.HasPrefix(sg, "sg-") {
			bad(fmt.Sprintf("vpc_security_group_ids[%d]", i), "%q is not a security group id (sg-...)", sg)
		}
	}
	if c.InstanceClass == "" {
		bad("instance_class", "required (e.g. db.r6g.large)")
	}
	if c.Engine != "" && c.Engine != EngineAuroraPostgres {
		bad("engine", "%q is not supported; use %s", c.Engine, EngineAuroraPostgres)
	}
	if c.PollInterval < 0 {
		bad("poll_interval", "must not be negative")
	}
	if c.WaitTimeout < 0 {
		bad("wait_timeout", "must not be negative")
	}
	if c.FinalSnapshotRetention < 0 {
		bad("final_snapshot_retention", "must not be negative")
	}
	if len(c.Sources) == 0 {
		bad("sources", "at least one source is required")
	}
	for _, name := range sortedKeys(c.Sources) {
		if err := c.Sources[name].validate(); err != nil {
			errs = append(errs, fmt.Errorf("aws.sources.%s.%w", name, err))
		}
	}
	return errors.Join(errs...)
}

// validate returns the first bad field of one source, as "field: problem".
func (s SourceConfig) validate() error {
	switch {
	case !s.Strategy.Valid():
		return fmt.Errorf("strategy: %q is not one of restore, fast-clone, snapshot", s.Strategy)
	case s.Database == "":
		return errors.New("database: required")
	case s.Strategy != provisioner.StrategyRestore && s.SourceCluster == "":
		return fmt.Errorf("source_cluster: required for strategy %s", s.Strategy)
	case s.Strategy == provisioner.StrategyRestore && s.Backups == "":
		return errors.New("backups: required for strategy restore")
	}
	if s.Backups != "" {
		if _, err := parseTemplate(s.Backups); err != nil {
			return fmt.Errorf("backups: %w", err)
		}
	}
	return nil
}

// withDefaults fills the zero-valued settings that have a default.
func (c Config) withDefaults() Config {
	if c.Engine == "" {
		c.Engine = EngineAuroraPostgres
	}
	if c.MasterUsername == "" {
		c.MasterUsername = DefaultMasterUsername
	}
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.WaitTimeout == 0 {
		c.WaitTimeout = DefaultWaitTimeout
	}
	if c.FinalSnapshotRetention == 0 {
		c.FinalSnapshotRetention = DefaultFinalSnapshotRetention
	}
	return c
}

// Clients are the AWS SDK clients the backend uses.
type Clients struct {
	RDS     *rds.Client
	Secrets *secretsmanager.Client
	S3      *s3.Client
	STS     *sts.Client
}

// NewClients loads the standard credential chain (environment, shared config, IAM role) for
// cfg.Region and builds the clients, pointed at cfg.EndpointURL when it is set.
func NewClients(ctx context.Context, cfg Config) (Clients, error) {
	awsCfg, err := sdkconfig.LoadDefaultConfig(ctx, sdkconfig.WithRegion(cfg.Region))
	if err != nil {
		return Clients{}, fmt.Errorf("load aws config: %w", err)
	}
	// Without endpoint_url each client keeps the endpoint the SDK resolved, which honours
	// the standard AWS_ENDPOINT_URL(_<SERVICE>) variables.
	endpoint := func(base **string) {
		if cfg.EndpointURL != "" {
			*base = sdkaws.String(cfg.EndpointURL)
		}
	}
	return Clients{
		RDS:     rds.NewFromConfig(awsCfg, func(o *rds.Options) { endpoint(&o.BaseEndpoint) }),
		Secrets: secretsmanager.NewFromConfig(awsCfg, func(o *secretsmanager.Options) { endpoint(&o.BaseEndpoint) }),
		S3: s3.NewFromConfig(awsCfg, func(o *s3.Options) {
			endpoint(&o.BaseEndpoint)
			// A custom endpoint (moto, MinIO) has no per-bucket DNS names.
			o.UsePathStyle = o.BaseEndpoint != nil
			// Backups uploaded without a checksum are normal; the catalogue reads its own sidecars.
			o.DisableLogOutputChecksumValidationSkipped = true
		}),
		STS: sts.NewFromConfig(awsCfg, func(o *sts.Options) { endpoint(&o.BaseEndpoint) }),
	}, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
