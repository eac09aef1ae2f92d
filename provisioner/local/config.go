package local

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/clonebot/clonebot/provisioner"
)

// Config is the local backend's configuration (YAML key `local:` in the clonebot config).
type Config struct {
	// AdminURL is a postgres:// URL of a role with CREATEDB and CREATEROLE (plus membership in
	// pg_signal_backend to terminate sessions on a fast-clone template). Its password may be in
	// the URL, in PGPASSWORD, or in the variable named by AdminPasswordEnv; it is never logged.
	AdminURL string `yaml:"admin_url"`
	// AdminPasswordEnv names an environment variable holding the admin password, used when the
	// URL carries none.
	AdminPasswordEnv string `yaml:"admin_password_env"`
	// Host and Port are what clone users are told to connect to.
	Host string `yaml:"host"`
	Port int    `yaml:"port"`
	// SecretsDir holds one credentials file per clone (created 0700).
	SecretsDir string `yaml:"secrets_dir"`
	// Backups is the default backup folder template for restore sources, e.g.
	// /var/backups/{source}/{date}/; {date} (YYYY-MM-DD) must be its last path element.
	Backups string `yaml:"backups"`
	// Sources maps a source name (as users type it) to how it is cloned.
	Sources map[string]SourceConfig `yaml:"sources"`
}

// SourceConfig says how one source is cloned.
type SourceConfig struct {
	// Strategy is restore or fast-clone (snapshot is AWS only).
	Strategy provisioner.Strategy `yaml:"strategy"`
	// Template is the live database a fast-clone source copies (CREATE DATABASE … TEMPLATE).
	Template string `yaml:"template"`
	// Backups overrides Config.Backups for this source.
	Backups string `yaml:"backups"`
}

// Validate reports the first bad field, named by its YAML key.
func (c Config) Validate() error {
	if c.AdminURL == "" {
		return errors.New("local.admin_url: required")
	}
	// The parse error may quote the URL, password included: it is never wrapped.
	if _, err := pgx.ParseConfig(c.AdminURL); err != nil {
		return errors.New("local.admin_url: not a valid PostgreSQL connection URL")
	}
	if c.AdminPasswordEnv != "" && os.Getenv(c.AdminPasswordEnv) == "" {
		return fmt.Errorf("local.admin_password_env: environment variable %s is not set", c.AdminPasswordEnv)
	}
	if c.Host == "" {
		return errors.New("local.host: required (the host clone users connect to)")
	}
	if c.Port < 1 || c.Port > 65535 {
		return fmt.Errorf("local.port: %d is not a TCP port", c.Port)
	}
	if c.SecretsDir == "" || !filepath.IsAbs(c.SecretsDir) {
		return fmt.Errorf("local.secrets_dir: %q must be an absolute path", c.SecretsDir)
	}
	if c.Backups != "" {
		if err := checkBackupsTemplate(c.Backups); err != nil {
			return fmt.Errorf("local.backups: %w", err)
		}
	}
	if len(c.Sources) == 0 {
		return errors.New("local.sources: at least one source is required")
	}
	for _, name := range c.sourceNames() {
		s := c.Sources[name]
		field := "local.sources." + name
		if name == "" || strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
			return fmt.Errorf("local.sources: %q is not a usable source name", name)
		}
		switch s.Strategy {
		case provisioner.StrategyRestore:
			if s.Backups == "" && c.Backups == "" {
				return fmt.Errorf("%s.backups: required for strategy restore (or set local.backups)", field)
			}
			if s.Backups != "" {
				if err := checkBackupsTemplate(s.Backups); err != nil {
					return fmt.Errorf("%s.backups: %w", field, err)
				}
			}
		case provisioner.StrategyFastClone:
			if s.Template == "" {
				return fmt.Errorf("%s.template: required for strategy fast-clone", field)
			}
		default:
			return fmt.Errorf("%s.strategy: %q is not restore or fast-clone", field, s.Strategy)
		}
	}
	return nil
}

func (c Config) sourceNames() []string {
	names := make([]string, 0, len(c.Sources))
	for n := range c.Sources {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// backupsTemplate returns the folder template of a restore source.
func (c Config) backupsTemplate(source string) string {
	if t := c.Sources[source].Backups; t != "" {
		return t
	}
	return c.Backups
}

func checkBackupsTemplate(t string) error {
	clean := strings.TrimSuffix(filepath.ToSlash(t), "/")
	if !strings.HasSuffix(clean, "/{date}") {
		return fmt.Errorf("%q: {date} must be the last path element", t)
	}
	if strings.Count(clean, "{date}") != 1 {
		return fmt.Errorf("%q: {date} must appear once", t)
	}
	return nil
}

// adminConnConfig parses AdminURL and applies AdminPasswordEnv.
func (c Config) adminConnConfig() (*pgx.ConnConfig, error) {
	cc, err := pgx.ParseConfig(c.AdminURL)
	if err != nil {
		return nil, errors.New("local.admin_url: not a valid PostgreSQL connection URL")
	}
	if cc.Password == "" && c.AdminPasswordEnv != "" {
		cc.Password = os.Getenv(c.AdminPasswordEnv)
	}
	return cc, nil
}
