package bot

import (
	"fmt"
	"time"
)

// Config is the bot's own settings (the `bot:` section of the config file).
type Config struct {
	DirectoryRefresh time.Duration `yaml:"directory_refresh"` // how long user groups, users and channels are cached
	TeamGroupPrefix  string        `yaml:"team_group_prefix"` // a user's team is their group with this handle prefix
	ChannelInterval  time.Duration `yaml:"channel_interval"`  // at most one message write per channel per interval
	RateLimitRetries int           `yaml:"rate_limit_retries"`
}

// Defaults of Config.
const (
	DefaultDirectoryRefresh = time.Minute
	DefaultTeamGroupPrefix  = "team-"
	DefaultChannelInterval  = time.Second
	DefaultRateLimitRetries = 3
)

func (c *Config) applyDefaults() {
	if c.DirectoryRefresh == 0 {
		c.DirectoryRefresh = DefaultDirectoryRefresh
	}
	if c.TeamGroupPrefix == "" {
		c.TeamGroupPrefix = DefaultTeamGroupPrefix
	}
	if c.ChannelInterval == 0 {
		c.ChannelInterval = DefaultChannelInterval
	}
	if c.RateLimitRetries == 0 {
		c.RateLimitRetries = DefaultRateLimitRetries
	}
}

// Validate names the first bad field.
func (c Config) Validate() error {
	switch {
	case c.DirectoryRefresh < 0:
		return fmt.Errorf("bot.directory_refresh: must not be negative")
	case c.ChannelInterval < 0:
		return fmt.Errorf("bot.channel_interval: must not be negative")
	case c.RateLimitRetries < 0:
		return fmt.Errorf("bot.rate_limit_retries: must not be negative")
	}
	return nil
}
