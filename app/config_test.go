package app

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clonebot/clonebot/provisioner"
)

func TestExampleConfigLoadsWithPolicy(t *testing.T) {
	env := map[string]string{envRedisURL: "redis://10.0.0.9:6379/2", "CLONEBOT_SLACK_BOT_TOKEN": "xoxb-test"}
	c, err := LoadConfig("../deploy/clonebot.example.yaml", func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.Redis.URL != "redis://10.0.0.9:6379/2" || c.Slack.BotToken != "xoxb-test" {
		t.Fatalf("environment not applied: redis=%s", c.Redis.URL)
	}
	if got := c.path(c.Policy); got != filepath.Join("../deploy", "policy.example.yaml") {
		t.Fatalf("policy path %s", got)
	}
	p, err := c.ReadPolicy()
	if err != nil {
		t.Fatal(err)
	}
	if len(p.SourceNames()) == 0 {
		t.Fatal("no sources")
	}
	if c.API.ListenAddr != "" || c.API.Rate != 10 || c.API.Burst != 20 || c.API.IdempotencyTTL != 24*time.Hour {
		t.Fatalf("api section %+v", c.API)
	}
	a := c.AgentConfig("agent-1")
	if err := a.Validate(); err != nil || c.Redis.Prefix != "clonebot:" {
		t.Fatalf("agent config %+v: %v", a, err)
	}
}

func TestConfigRefusesUnknownFieldsAndBadSources(t *testing.T) {
	dir := t.TempDir()
	policy, err := os.ReadFile("../deploy/policy.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "policy.yaml"), policy, 0o600)
	tests := []struct{ name, config, want string }{
		{"unknown field", "policy: policy.yaml\nredis: {urll: x}\n", "urll"},
		{"no policy", "redis: {url: redis://x:1}\n", "policy"},
		{"negative api rate", "policy: policy.yaml\napi: {rate: -1}\n", "api: rate"},
		{"no local section", "policy: policy.yaml\n", "no local section"},
		{"source missing from backend", "policy: policy.yaml\nlocal: {admin_url: 'postgres://a@h/p', host: h, port: 5432, secrets_dir: /s, backups: '/b/{source}/{date}/', sources: {other: {strategy: restore}}}\n", "local.sources.prod"},
		{"strategy disagrees", "policy: policy.yaml\nlocal: {admin_url: 'postgres://a@h/p', host: h, port: 5432, secrets_dir: /s, backups: '/b/{source}/{date}/', sources: {prod: {strategy: fast-clone, template: t}}}\n", "policy says"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, "c.yaml")
			os.WriteFile(path, []byte(tt.config), 0o600)
			c, err := LoadConfig(path, func(string) string { return "" })
			if err == nil {
				_, err = c.ReadPolicy()
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

type fakeSecrets struct{ name string }

func (f fakeSecrets) Resolve(context.Context, string) (provisioner.Credentials, error) {
	return provisioner.Credentials{Engine: f.name}, nil
}

func TestSecretRouter(t *testing.T) {
	r := secretRouter{local: fakeSecrets{"local"}, aws: fakeSecrets{"aws"}}
	ctx := context.Background()
	for ref, want := range map[string]string{
		"file:///var/lib/clonebot/secrets/cl-abc.json":                    "local",
		"arn:aws:secretsmanager:eu-west-1:123:secret:clonebot/cl-abc-Xyz": "aws",
	} {
		c, err := r.Resolve(ctx, ref)
		if err != nil || c.Engine != want {
			t.Errorf("Resolve(%s) = %v, %v; want %s", ref, c.Engine, err, want)
		}
	}
	if _, err := (secretRouter{}).Resolve(ctx, "file:///x"); err == nil {
		t.Error("a reference with no store resolved")
	}
}

// TestConfigHoldingSecretsMustNotBeOpenToAll: a config file with a secret in it is refused when
// every user may read it, accepted with a warning (in New's log) when its group may, and
// accepted as it is otherwise; a file without secrets (they come from the environment) may be
// read by anyone. The refusal names the keys, never their values.
func TestConfigHoldingSecretsMustNotBeOpenToAll(t *testing.T) {
	dir := t.TempDir()
	policy, err := os.ReadFile("../deploy/policy.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "policy.yaml"), policy, 0o644); err != nil {
		t.Fatal(err)
	}
	const (
		localSection = "local: {admin_url: 'postgres://clonebot_admin@db:5432/postgres', host: db, port: 5432, secrets_dir: /s, backups: '/b/{source}/{date}/', sources: {prod: {strategy: restore}}}\n"
		token        = "xoxb-1234-secret-token"
		password     = "s3cret-admin-pw"
	)
	tests := []struct {
		name     string
		config   string
		mode     os.FileMode
		refused  bool
		exposed  []string // keys of the group warning
		wantKeys string   // in the refusal
	}{
		{"no secrets, readable by all", "policy: policy.yaml\n" + localSection, 0o644, false, nil, ""},
		{"bot token, owner only", "policy: policy.yaml\nslack: {bot_token: " + token + "}\n" + localSection, 0o600, false, nil, ""},
		{"bot token, group may read", "policy: policy.yaml\nslack: {bot_token: " + token + "}\n" + localSection, 0o640, false, []string{"slack.bot_token"}, ""},
		{"bot token and admin password, readable by all", "policy: policy.yaml\nslack: {bot_token: " + token + ", signing_secret: abc}\n" +
			strings.Replace(localSection, "clonebot_admin@", "clonebot_admin:"+password+"@", 1), 0o644, true, nil, "slack.bot_token, slack.signing_secret, local.admin_url"},
		{"redis password, writable by all", "policy: policy.yaml\nredis: {url: 'redis://:" + password + "@r:6379/0'}\n" + localSection, 0o602, true, nil, "redis.url"},
		{"audit password as a setting, readable by all", "policy: policy.yaml\naudit: {url: 'host=a dbname=audit password=" + password + "'}\n" + localSection, 0o604, true, nil, "audit.url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, "c.yaml")
			if err := os.WriteFile(path, []byte(tt.config), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			c, err := LoadConfig(path, func(string) string { return "" })
			if !tt.refused {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				var got []string
				if c.exposed != nil {
					got = c.exposed.keys
				}
				if !slices.Equal(got, tt.exposed) {
					t.Fatalf("group warning for %v, want %v", got, tt.exposed)
				}
				return
			}
			if !errors.Is(err, ErrConfigExposed) || !strings.Contains(err.Error(), tt.wantKeys) {
				t.Fatalf("err = %v, want ErrConfigExposed naming %s", err, tt.wantKeys)
			}
			if strings.Contains(err.Error(), token) || strings.Contains(err.Error(), password) {
				t.Fatalf("the refusal quotes a secret: %v", err)
			}
		})
	}
}
