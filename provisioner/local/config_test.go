package local

import (
	"strings"
	"testing"

	"github.com/clonebot/clonebot/provisioner"
)

func validConfig() Config {
	return Config{
		AdminURL:   "postgres://clonebot:hunter2-admin@db.internal:5432/postgres",
		Host:       "db.internal",
		Port:       5432,
		SecretsDir: "/var/lib/clonebot/secrets",
		Backups:    "/var/backups/{source}/{date}/",
		Sources: map[string]SourceConfig{
			"prod": {Strategy: provisioner.StrategyRestore},
			"live": {Strategy: provisioner.StrategyFastClone, Template: "prod_live"},
		},
	}
}

func TestConfigValidate(t *testing.T) {
	t.Setenv("CLONEBOT_TEST_UNSET_PASSWORD", "")
	tests := []struct {
		name   string
		change func(*Config)
		want   string // the field the error names; "" for valid
	}{
		{name: "valid", change: func(*Config) {}},
		{name: "no admin url", change: func(c *Config) { c.AdminURL = "" }, want: "local.admin_url"},
		{name: "bad admin url", change: func(c *Config) { c.AdminURL = "postgres://clonebot:hunter2-admin@db.internal:notaport/x" }, want: "local.admin_url"},
		{name: "password env unset", change: func(c *Config) { c.AdminPasswordEnv = "CLONEBOT_TEST_UNSET_PASSWORD" }, want: "local.admin_password_env"},
		{name: "no host", change: func(c *Config) { c.Host = "" }, want: "local.host"},
		{name: "bad port", change: func(c *Config) { c.Port = 70000 }, want: "local.port"},
		{name: "relative secrets dir", change: func(c *Config) { c.SecretsDir = "secrets" }, want: "local.secrets_dir"},
		{name: "date not last", change: func(c *Config) { c.Backups = "/var/backups/{date}/{source}" }, want: "local.backups"},
		{name: "no sources", change: func(c *Config) { c.Sources = nil }, want: "local.sources"},
		{name: "source with a slash", change: func(c *Config) { c.Sources["a/b"] = SourceConfig{Strategy: provisioner.StrategyRestore} }, want: "local.sources"},
		{name: "unknown strategy", change: func(c *Config) { c.Sources["prod"] = SourceConfig{Strategy: "snapshot"} }, want: "local.sources.prod.strategy"},
		{name: "fast-clone without template", change: func(c *Config) { c.Sources["live"] = SourceConfig{Strategy: provisioner.StrategyFastClone} }, want: "local.sources.live.template"},
		{name: "restore without backups", change: func(c *Config) { c.Backups = "" }, want: "local.sources.prod.backups"},
		{name: "source backups override", change: func(c *Config) {
			c.Backups = ""
			c.Sources["prod"] = SourceConfig{Strategy: provisioner.StrategyRestore, Backups: "/srv/{source}/{date}"}
		}},
		{name: "bad source backups", change: func(c *Config) {
			c.Sources["prod"] = SourceConfig{Strategy: provisioner.StrategyRestore, Backups: "/srv/{source}"}
		}, want: "local.sources.prod.backups"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.change(&c)
			err := c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("valid config refused: %v", err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tt.want+":") {
				t.Fatalf("error %v, want one naming %s", err, tt.want)
			}
			if strings.Contains(err.Error(), "hunter2-admin") {
				t.Fatalf("error quotes the admin password: %v", err)
			}
		})
	}
}

func TestCloneName(t *testing.T) {
	long := strings.Repeat("r", 80)
	tests := []struct {
		id   string
		want string // "" when only the shape is checked
	}{
		{id: "req42", want: "clone_req42"},
		{id: "a_b", want: "clone_a_b"},
		{id: "a-b"},
		{id: "A_B"},
		{id: "x'; DROP ROLE postgres; --"},
		{id: long},
		{id: long + "s"},
	}
	seen := map[string]string{}
	for _, tt := range tests {
		got := cloneName(tt.id)
		if tt.want != "" && got != tt.want {
			t.Errorf("cloneName(%q) = %q, want %q", tt.id, got, tt.want)
		}
		if len(got) > maxIdentifier || strings.Trim(got, "abcdefghijklmnopqrstuvwxyz0123456789_") != "" {
			t.Errorf("cloneName(%q) = %q: not a short plain identifier", tt.id, got)
		}
		if other, dup := seen[got]; dup {
			t.Errorf("%q and %q both map to %q", other, tt.id, got)
		}
		seen[got] = tt.id
		if cloneName(tt.id) != got {
			t.Errorf("cloneName(%q) is not deterministic", tt.id)
		}
	}
}
