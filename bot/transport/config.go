package transport

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/slack-go/slack"
)

// Transport modes.
const (
	ModeSocket = "socket"
	ModeHTTP   = "http"
)

// Environment variables that override the config file.
const (
	EnvAPIURL        = "CLONEBOT_SLACK_API_URL"
	EnvBotToken      = "CLONEBOT_SLACK_BOT_TOKEN"
	EnvAppToken      = "CLONEBOT_SLACK_APP_TOKEN"
	EnvSigningSecret = "CLONEBOT_SLACK_SIGNING_SECRET"
)

// Defaults applied by Config.ApplyDefaults.
const (
	DefaultAPIURL       = "https://slack.com/api/"
	DefaultListenAddr   = ":3000"
	DefaultWorkers      = 8
	DefaultQueueSize    = 256
	DefaultMaxBodyBytes = 64 << 10
	DefaultDedupeTTL    = time.Hour
)

// ErrInvalidConfig is wrapped by every Config.Validate error.
var ErrInvalidConfig = errors.New("invalid slack transport config")

// Config is the Slack transport's configuration (the `slack:` section of the config file).
// Tokens and the signing secret are best given by environment variable; they are never
// logged, and String prints them redacted.
type Config struct {
	Mode          string        `yaml:"mode"`           // socket (default) or http
	ListenAddr    string        `yaml:"listen_addr"`    // http mode: address of /slack/{commands,interactions,events}
	SigningSecret string        `yaml:"signing_secret"` // http mode: the app's signing secret
	BotToken      string        `yaml:"bot_token"`      // xoxb-…, for the Web API
	AppToken      string        `yaml:"app_token"`      // socket mode: xapp-… with connections:write
	APIURL        string        `yaml:"api_url"`        // Web API base URL; env CLONEBOT_SLACK_API_URL
	Workers       int           `yaml:"workers"`        // worker pool size
	QueueSize     int           `yaml:"queue_size"`     // payloads waiting for a worker before "busy"
	MaxBodyBytes  int64         `yaml:"max_body_bytes"` // http mode: larger requests get 413
	DedupeTTL     time.Duration `yaml:"dedupe_ttl"`     // how long an Events API event_id is remembered
}

// ApplyEnv overrides the API URL and the secrets from the environment (getenv is os.Getenv
// in main); unset or empty variables change nothing.
func (c *Config) ApplyEnv(getenv func(string) string) {
	for env, field := range map[string]*string{
		EnvAPIURL: &c.APIURL, EnvBotToken: &c.BotToken, EnvAppToken: &c.AppToken, EnvSigningSecret: &c.SigningSecret,
	} {
		if v := getenv(env); v != "" {
			*field = v
		}
	}
}

// ApplyDefaults fills every unset field with its default and gives the API URL the trailing
// slash slack-go needs.
func (c *Config) ApplyDefaults() {
	if c.Mode == "" {
		c.Mode = ModeSocket
	}
	if c.ListenAddr == "" {
		c.ListenAddr = DefaultListenAddr
	}
	if c.APIURL == "" {
		c.APIURL = DefaultAPIURL
	}
	if !strings.HasSuffix(c.APIURL, "/") {
		c.APIURL += "/"
	}
	if c.Workers == 0 {
		c.Workers = DefaultWorkers
	}
	if c.QueueSize == 0 {
		c.QueueSize = DefaultQueueSize
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.DedupeTTL == 0 {
		c.DedupeTTL = DefaultDedupeTTL
	}
}

// Validate names the first bad field. It never quotes a token or the signing secret.
func (c Config) Validate() error {
	bad := func(field, why string) error { return fmt.Errorf("%w: slack.%s: %s", ErrInvalidConfig, field, why) }
	switch c.Mode {
	case ModeSocket:
		if !strings.HasPrefix(c.AppToken, "xapp-") {
			return bad("app_token", "socket mode needs an app-level token (xapp-…, scope connections:write)")
		}
	case ModeHTTP:
		if c.SigningSecret == "" {
			return bad("signing_secret", "http mode needs the app's signing secret")
		}
		if c.ListenAddr == "" {
			return bad("listen_addr", "http mode needs an address to listen on, such as :3000")
		}
	default:
		return bad("mode", fmt.Sprintf("%q is not socket or http", c.Mode))
	}
	if c.BotToken == "" {
		return bad("bot_token", "a bot token (xoxb-…) is required")
	}
	if u, err := url.Parse(c.APIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return bad("api_url", fmt.Sprintf("%q is not an http(s) URL", c.APIURL))
	}
	if c.Workers < 1 {
		return bad("workers", "must be at least 1")
	}
	if c.QueueSize < 1 {
		return bad("queue_size", "must be at least 1")
	}
	if c.MaxBodyBytes < 1 {
		return bad("max_body_bytes", "must be positive")
	}
	if c.DedupeTTL <= 0 {
		return bad("dedupe_ttl", "must be positive")
	}
	return nil
}

// String prints the config with its secrets redacted.
func (c Config) String() string {
	red := func(s string) string {
		if s == "" {
			return `""`
		}
		return "[redacted]"
	}
	return fmt.Sprintf("{mode:%s listen_addr:%s api_url:%s workers:%d queue_size:%d max_body_bytes:%d dedupe_ttl:%s bot_token:%s app_token:%s signing_secret:%s}",
		c.Mode, c.ListenAddr, c.APIURL, c.Workers, c.QueueSize, c.MaxBodyBytes, c.DedupeTTL,
		red(c.BotToken), red(c.AppToken), red(c.SigningSecret))
}

// GoString keeps %#v from printing the secrets.
func (c Config) GoString() string { return c.String() }

// WebClient returns a Web API client with the bot token, pointed at the configured API URL.
func (c Config) WebClient(opts ...slack.Option) *slack.Client {
	return slack.New(c.BotToken, append([]slack.Option{slack.OptionAPIURL(c.APIURL)}, opts...)...)
}
