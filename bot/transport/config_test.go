package transport_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v4"

	"github.com/clonebot/clonebot/bot/transport"
)

const (
	xoxb   = "xoxb-123-secret-bot"
	xapp   = "xapp-1-secret-app"
	signer = "secret-signing-value"
)

func validConfig(mode string) transport.Config {
	c := transport.Config{Mode: mode, BotToken: xoxb, AppToken: xapp, SigningSecret: signer}
	c.ApplyDefaults()
	return c
}

func TestConfigValidateNamesTheBadField(t *testing.T) {
	tests := []struct {
		name   string
		change func(*transport.Config)
		want   string // the field named in the error; "" for valid
	}{
		{"socket ok", func(*transport.Config) {}, ""},
		{"http ok", func(c *transport.Config) { c.Mode = transport.ModeHTTP; c.AppToken = "" }, ""},
		{"bad mode", func(c *transport.Config) { c.Mode = "carrier-pigeon" }, "slack.mode"},
		{"socket without app token", func(c *transport.Config) { c.AppToken = "" }, "slack.app_token"},
		{"socket with a bot token as app token", func(c *transport.Config) { c.AppToken = xoxb }, "slack.app_token"},
		{"http without signing secret", func(c *transport.Config) { c.Mode = transport.ModeHTTP; c.SigningSecret = "" }, "slack.signing_secret"},
		{"no bot token", func(c *transport.Config) { c.BotToken = "" }, "slack.bot_token"},
		{"api url not http", func(c *transport.Config) { c.APIURL = "ftp://example.com/" }, "slack.api_url"},
		{"no workers", func(c *transport.Config) { c.Workers = -1 }, "slack.workers"},
		{"no queue", func(c *transport.Config) { c.QueueSize = -1 }, "slack.queue_size"},
		{"no body limit", func(c *transport.Config) { c.MaxBodyBytes = -1 }, "slack.max_body_bytes"},
		{"no dedupe ttl", func(c *transport.Config) { c.DedupeTTL = -time.Second }, "slack.dedupe_ttl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig(transport.ModeSocket)
			tt.change(&c)
			err := c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if !errors.Is(err, transport.ErrInvalidConfig) || !strings.Contains(err.Error(), tt.want+":") {
				t.Fatalf("Validate = %v, want an ErrInvalidConfig naming %s", err, tt.want)
			}
			for _, s := range []string{xoxb, xapp, signer} {
				if strings.Contains(err.Error(), s) {
					t.Fatalf("error quotes a secret: %v", err)
				}
			}
		})
	}
}

func TestConfigYAMLEnvAndDefaults(t *testing.T) {
	var c transport.Config
	src := "mode: http\nlisten_addr: 127.0.0.1:8080\napi_url: http://localhost:9999/api\nworkers: 3\ndedupe_ttl: 30m\n"
	if err := yaml.Unmarshal([]byte(src), &c); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{transport.EnvBotToken: xoxb, transport.EnvSigningSecret: signer,
		transport.EnvAPIURL: "http://fake.local:1234/api"}
	c.ApplyEnv(func(k string) string { return env[k] })
	c.ApplyDefaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	want := transport.Config{Mode: "http", ListenAddr: "127.0.0.1:8080", SigningSecret: signer, BotToken: xoxb,
		APIURL: "http://fake.local:1234/api/", Workers: 3, QueueSize: transport.DefaultQueueSize,
		MaxBodyBytes: transport.DefaultMaxBodyBytes, DedupeTTL: 30 * time.Minute}
	if c != want {
		t.Fatalf("config = %v, want %v", c, want)
	}
	if got := c.WebClient(); got == nil {
		t.Fatal("no web client")
	}
}

func TestConfigPrintsNoSecrets(t *testing.T) {
	c := validConfig(transport.ModeSocket)
	for _, out := range []string{c.String(), fmt.Sprintf("%v", c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c)} {
		for _, s := range []string{xoxb, xapp, signer} {
			if strings.Contains(out, s) {
				t.Fatalf("printed config holds a secret: %s", out)
			}
		}
	}
}
