package local

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/clonebot/clonebot/provisioner"
)

// backupExtensions are the backup files the agent can read, most preferred first when a day
// holds several: pg_dump custom archives, then gzipped and plain SQL.
var backupExtensions = []string{".dump", ".sql.gz", ".sql"}

// nearestCount is how many nearest dates a NoBackupError offers.
const nearestCount = 3

// Catalogue lists what the configured sources can be cloned from. A restore source's
// backups are files laid out like its backups template, <root>/<source>/<YYYY-MM-DD>/<file>,
// one backup per day. A fast-clone source copies its live template database, so the only
// thing it can be cloned from is the present: Find answers with one point-in-time backup at
// now, whatever day was asked for, and Backups lists that one when now is in its range.
type Catalogue struct {
	cfg Config
	now func() time.Time
}

var _ provisioner.Catalogue = (*Catalogue)(nil)

// NewCatalogue returns the catalogue of cfg's sources; now is the clock for fast-clone sources.
func NewCatalogue(cfg Config, now func() time.Time) (*Catalogue, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Catalogue{cfg: cfg, now: now}, nil
}

// Backups lists the backups of source dated in [from, to), oldest first.
// Errors: provisioner.ErrUnknownSource.
func (c *Catalogue) Backups(_ context.Context, source string, from, to time.Time) ([]provisioner.Backup, error) {
	all, err := c.all(source)
	if err != nil {
		return nil, err
	}
	var out []provisioner.Backup
	for _, b := range all {
		if !b.Date.Before(from) && b.Date.Before(to) {
			out = append(out, b)
		}
	}
	return out, nil
}

// Find returns the backup of source for the UTC day of at (for a fast-clone source: the
// template, now). Errors: provisioner.ErrUnknownSource, *provisioner.NoBackupError.
func (c *Catalogue) Find(_ context.Context, source string, at time.Time) (provisioner.Backup, error) {
	all, err := c.all(source)
	if err != nil {
		return provisioner.Backup{}, err
	}
	if c.cfg.Sources[source].Strategy == provisioner.StrategyFastClone {
		return all[0], nil
	}
	day := midnight(at)
	dates := make([]time.Time, 0, len(all))
	for _, b := range all {
		if b.Date.Equal(day) {
			return b, nil
		}
		dates = append(dates, b.Date)
	}
	return provisioner.Backup{}, &provisioner.NoBackupError{Source: source, Date: day, Nearest: provisioner.NearestDates(dates, day, nearestCount)}
}

// all returns every backup of source, oldest first.
func (c *Catalogue) all(source string) ([]provisioner.Backup, error) {
	src, ok := c.cfg.Sources[source]
	if !ok {
		return nil, fmt.Errorf("backups of %q: %w", source, provisioner.ErrUnknownSource)
	}
	if src.Strategy == provisioner.StrategyFastClone {
		return []provisioner.Backup{{Source: source, Kind: provisioner.BackupPointInTime, Date: c.now().UTC()}}, nil
	}
	root := datesDir(c.cfg.backupsTemplate(source), source)
	entries, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil // no backup taken yet
	}
	if err != nil {
		return nil, fmt.Errorf("backups of %s: %w", source, err)
	}
	var out []provisioner.Backup
	for _, e := range entries { // ReadDir sorts by name, so YYYY-MM-DD sorts by date
		day, err := time.Parse(time.DateOnly, e.Name())
		if err != nil || !e.IsDir() {
			continue
		}
		b, found, err := dayBackup(source, day, filepath.Join(root, e.Name()))
		if err != nil {
			return nil, err
		}
		if found {
			out = append(out, b)
		}
	}
	return out, nil
}

// dayBackup returns the preferred backup file in dir, if any.
func dayBackup(source string, day time.Time, dir string) (provisioner.Backup, bool, error) {
	for _, ext := range backupExtensions {
		matches, err := filepath.Glob(filepath.Join(dir, "*"+ext))
		if err != nil {
			return provisioner.Backup{}, false, fmt.Errorf("backups of %s in %s: %w", source, dir, err)
		}
		for _, path := range matches { // Glob sorts by name
			if ext == ".sql" && strings.HasSuffix(path, ".sql.gz") {
				continue
			}
			info, err := os.Stat(path)
			if err != nil {
				return provisioner.Backup{}, false, fmt.Errorf("backup %s: %w", path, err)
			}
			if !info.Mode().IsRegular() {
				continue
			}
			sum, err := sidecarChecksum(path)
			if err != nil {
				return provisioner.Backup{}, false, err
			}
			abs, err := filepath.Abs(path)
			if err != nil {
				return provisioner.Backup{}, false, fmt.Errorf("backup %s: %w", path, err)
			}
			return provisioner.Backup{Source: source, Kind: provisioner.BackupFile, Date: day, Location: abs, Size: info.Size(), Checksum: sum}, true, nil
		}
	}
	return provisioner.Backup{}, false, nil
}

// sidecarChecksum reads <path>.sha256 (sha256sum output: the hex digest first); "" when absent.
func sidecarChecksum(path string) (string, error) {
	b, err := os.ReadFile(path + ".sha256")
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("checksum of %s: %w", path, err)
	}
	fields := strings.Fields(string(b))
	if len(fields) == 0 {
		return "", fmt.Errorf("checksum of %s: %s.sha256 is empty", path, filepath.Base(path))
	}
	sum := strings.ToLower(fields[0])
	if d, err := hex.DecodeString(sum); err != nil || len(d) != 32 {
		return "", fmt.Errorf("checksum of %s: %s.sha256 does not start with a SHA-256 hex digest", path, filepath.Base(path))
	}
	return sum, nil
}

// datesDir is the folder holding a source's date folders: the template up to {date}.
func datesDir(template, source string) string {
	t := strings.ReplaceAll(filepath.ToSlash(template), "{source}", source)
	t, _, _ = strings.Cut(t, "{date}")
	return filepath.FromSlash(t)
}

func midnight(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
