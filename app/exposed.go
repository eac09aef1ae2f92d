package app

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strings"
)

// ErrConfigExposed is returned by LoadConfig for a config file that holds a secret (a Slack
// token or signing secret, a password in a URL) and that every user of the machine may read
// (or write).
var ErrConfigExposed = errors.New("a config file holding secrets must not be open to every user")

// exposure is a config file holding secrets that its group may read: LoadConfig accepts it
// (a mounted Kubernetes Secret is group-readable for the pod's fsGroup, the usual way a
// non-root container reads it) and New logs it.
type exposure struct {
	path string
	mode fs.FileMode
	keys []string
}

// checkExposure refuses a config file at path holding the secret keys when others may read
// it, and returns the exposure when its group may.
func checkExposure(path string, keys []string) (*exposure, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	perm := info.Mode().Perm()
	switch {
	case perm&0o007 != 0:
		return nil, fmt.Errorf("config %s (mode %04o) holds %s: %w; chmod o-rwx it (600, or 640 for a group that must read it), or give them by environment variable",
			path, perm, strings.Join(keys, ", "), ErrConfigExposed)
	case perm&0o070 != 0:
		return &exposure{path: path, mode: perm, keys: keys}, nil
	}
	return nil, nil
}

// secretKeys names the keys of c, as read from its file (before the environment), that hold
// a secret value.
func (c *Config) secretKeys() []string {
	var keys []string
	add := func(key string, secret bool) {
		if secret {
			keys = append(keys, key)
		}
	}
	add("slack.bot_token", c.Slack.BotToken != "")
	add("slack.app_token", c.Slack.AppToken != "")
	add("slack.signing_secret", c.Slack.SigningSecret != "")
	add("redis.url", hasPassword(c.Redis.URL))
	add("audit.url", hasPassword(c.Audit.URL))
	if c.Local != nil {
		add("local.admin_url", hasPassword(c.Local.AdminURL))
	}
	return keys
}

// hasPassword reports whether a connection string holds a password: in a URL's user info, or
// as a password= setting (PostgreSQL's key=value form, or a URL's query). One that does not
// parse counts as holding one, to be safe.
func hasPassword(raw string) bool {
	if raw == "" {
		return false
	}
	if strings.Contains(raw, "password=") {
		return true
	}
	u, err := url.Parse(raw)
	if err != nil {
		return true
	}
	_, set := u.User.Password()
	return set
}
