package app

import (
	"context"
	"os"
	"path/filepath"
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
