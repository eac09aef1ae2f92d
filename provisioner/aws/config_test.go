package aws

import (
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v4"

	"github.com/clonebot/clonebot/provisioner"
)

const exampleConfig = `
region: eu-west-1
kms_key_id: alias/clonebot
db_subnet_group: clonebot-private
vpc_security_group_ids: [sg-0123456789abcdef0]
instance_class: db.r6g.large
engine_version: "15.4"
final_snapshot: true
poll_interval: 20s
sources:
  orders:
    strategy: restore
    database: orders
    backups: s3://acme-backups/{source}/{date}/
  payments:
    strategy: fast-clone
    source_cluster: payments-prod
    database: payments
`

func TestConfigFromYAML(t *testing.T) {
	var c Config
	if err := yaml.Unmarshal([]byte(exampleConfig), &c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c = c.withDefaults()
	if c.PollInterval != 20*time.Second || c.WaitTimeout != DefaultWaitTimeout || c.Engine != EngineAuroraPostgres ||
		!c.FinalSnapshot || c.Sources["payments"].Strategy != provisioner.StrategyFastClone || c.MasterUsername != DefaultMasterUsername {
		t.Errorf("config = %+v", c)
	}
}

func TestConfigValidateNamesTheBadField(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"no region", func(c *Config) { c.Region = "" }, "aws.region: required"},
		{"endpoint not a URL", func(c *Config) { c.EndpointURL = "localhost:5000" }, "aws.endpoint_url:"},
		{"no subnet group", func(c *Config) { c.DBSubnetGroup = "" }, "aws.db_subnet_group: required"},
		{"no security group", func(c *Config) { c.VPCSecurityGroupIDs = nil }, "aws.vpc_security_group_ids: required"},
		{"not a security group", func(c *Config) { c.VPCSecurityGroupIDs = []string{"default"} }, "aws.vpc_security_group_ids[0]:"},
		{"no instance class", func(c *Config) { c.InstanceClass = "" }, "aws.instance_class: required"},
		{"other engine", func(c *Config) { c.Engine = "mysql" }, "aws.engine:"},
		{"negative poll", func(c *Config) { c.PollInterval = -time.Second }, "aws.poll_interval:"},
		{"negative retention", func(c *Config) { c.FinalSnapshotRetention = -time.Hour }, "aws.final_snapshot_retention:"},
		{"no sources", func(c *Config) { c.Sources = nil }, "aws.sources: at least one"},
		{"bad strategy", func(c *Config) { c.Sources["orders"] = SourceConfig{Strategy: "copy", Database: "orders"} }, "aws.sources.orders.strategy:"},
		{"no database", func(c *Config) {
			c.Sources["orders"] = SourceConfig{Strategy: provisioner.StrategyRestore, Backups: "s3://b/{date}/"}
		}, "aws.sources.orders.database: required"},
		{"fast-clone without a cluster", func(c *Config) {
			c.Sources["payments"] = SourceConfig{Strategy: provisioner.StrategyFastClone, Database: "payments"}
		}, "aws.sources.payments.source_cluster: required for strategy fast-clone"},
		{"restore without backups", func(c *Config) {
			c.Sources["orders"] = SourceConfig{Strategy: provisioner.StrategyRestore, Database: "orders"}
		}, "aws.sources.orders.backups: required"},
		{"backups not in S3", func(c *Config) {
			c.Sources["orders"] = SourceConfig{Strategy: provisioner.StrategyRestore, Database: "orders", Backups: "/srv/{date}/"}
		}, "aws.sources.orders.backups:"},
		{"backups without a date", func(c *Config) {
			c.Sources["orders"] = SourceConfig{Strategy: provisioner.StrategyRestore, Database: "orders", Backups: "s3://b/{source}/"}
		}, "{date} exactly once"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Config
			if err := yaml.Unmarshal([]byte(exampleConfig), &c); err != nil {
				t.Fatal(err)
			}
			tt.change(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate() = %v, want it to say %q", err, tt.want)
			}
		})
	}
}

func TestNamesFromRequestID(t *testing.T) {
	tests := []struct {
		give, cluster, instance, secret string
		bad                             bool
	}{
		{give: "req-1a2b", cluster: "clonebot-req-1a2b", instance: "clonebot-req-1a2b-1", secret: "clonebot/req-1a2b"},
		{give: "01HXYZ", cluster: "clonebot-01hxyz", instance: "clonebot-01hxyz-1", secret: "clonebot/01hxyz"},
		{give: strings.Repeat("a", maxIDLength), cluster: "clonebot-" + strings.Repeat("a", maxIDLength),
			instance: "clonebot-" + strings.Repeat("a", maxIDLength) + "-1", secret: "clonebot/" + strings.Repeat("a", maxIDLength)},
		{give: strings.Repeat("a", maxIDLength+1), bad: true},
		{give: "", bad: true},
		{give: "a--b", bad: true},
		{give: "-ab", bad: true},
		{give: "ab-", bad: true},
		{give: "a_b", bad: true},
		{give: "a/b", bad: true},
	}
	for _, tt := range tests {
		n, err := namesFor(tt.give)
		if tt.bad {
			if err == nil {
				t.Errorf("namesFor(%q) = %+v, want an error", tt.give, n)
			}
			continue
		}
		if err != nil || n.cluster != tt.cluster || n.instance != tt.instance || n.secret != tt.secret || len(n.instance) > 63 {
			t.Errorf("namesFor(%q) = %+v, %v", tt.give, n, err)
		}
	}
}

func TestTemplateMatch(t *testing.T) {
	tests := []struct {
		template, key string
		wantPrefix    string
		wantDate      string // "" when the key is not a backup
	}{
		{"s3://b/{source}/{date}/", "orders/2024-05-01/x.pgdump", "orders/", "2024-05-01"},
		{"s3://b/{source}/{date}/", "orders/2024-05-01/", "orders/", ""},
		{"s3://b/{source}/{date}/", "ordersX/2024-05-01/x", "orders/", ""},
		{"s3://b/dumps/{date}/{source}.pgdump", "dumps/2024-05-01/orders.pgdump", "dumps/", "2024-05-01"},
		{"s3://b/dumps/{date}/{source}.pgdump", "dumps/2024-05-01/ordersXpgdump", "dumps/", ""},
		{"s3://b/{source}.{date}", "orders.2024-05-01.sql.gz", "orders.", "2024-05-01"},
	}
	for _, tt := range tests {
		tmpl, err := parseTemplate(tt.template)
		if err != nil {
			t.Fatal(err)
		}
		prefix, re := tmpl.match("orders")
		var date string
		if m := re.FindStringSubmatch(tt.key); m != nil {
			date = m[1]
		}
		if prefix != tt.wantPrefix || date != tt.wantDate {
			t.Errorf("%s on %q: prefix %q date %q, want %q %q", tt.template, tt.key, prefix, date, tt.wantPrefix, tt.wantDate)
		}
	}
}

func TestMasterPasswordFitsAurora(t *testing.T) {
	seen := map[string]bool{}
	for range 50 {
		pw, err := NewMasterPassword()
		if err != nil {
			t.Fatal(err)
		}
		v := pw.Reveal()
		if len(v) != MasterPasswordLength || strings.ContainsAny(v, "/\"@ ") || seen[v] {
			t.Fatalf("master password of %d characters, repeated %v, or with a character Aurora refuses", len(v), seen[v])
		}
		seen[v] = true
	}
}
