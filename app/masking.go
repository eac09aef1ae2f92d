package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/clonebot/clonebot/agent"
	"github.com/clonebot/clonebot/agent/mask"
	"github.com/clonebot/clonebot/approvals"
	"github.com/clonebot/clonebot/handlers"
	"github.com/clonebot/clonebot/provisioner"
)

// ReadRules reads the masking rules file at path and checks the policy against it: every
// masking level a tier uses, but none, must be defined. With no path, only a policy whose
// tiers all use none passes, with rules that define none. An error names the rules file and
// the key and line of the problem, or the policy file and the tier's masking key.
func ReadRules(path string, p *approvals.Policy) (*mask.Rules, error) {
	if path == "" {
		if err := p.CheckMaskLevels(nil, "the config names no masking rules file (masking.rules)"); err != nil {
			return nil, err
		}
		return mask.EmptyRules(mask.LevelNone), nil
	}
	rules, err := mask.LoadRules(path)
	if err != nil {
		return nil, err
	}
	if err := CheckRules(rules, path, p); err != nil {
		return nil, err
	}
	return rules, nil
}

// CheckRules checks the policy against masking rules read from name.
func CheckRules(rules *mask.Rules, name string, p *approvals.Policy) error {
	return p.CheckMaskLevels(rules.Levels(), fmt.Sprintf("%s defines %s", name, strings.Join(rules.Levels(), ", ")))
}

// ReadRules reads the masking rules the config names and checks the policy against them.
func (c *Config) ReadRules(p *approvals.Policy) (*mask.Rules, error) {
	return ReadRules(c.RulesPath(), p)
}

// schemaWait bounds how long a dry run reads a backup's schema: a custom archive's table of
// contents takes milliseconds, a SQL script as long as reading it.
const schemaWait = 5 * time.Second

// maxSchemas bounds the backup schemas coverage keeps.
const maxSchemas = 32

// coverage is handlers.Masking: it reads the schema of a backup this process can read (a file
// of the local backend; never one on S3) with the agent's reader, and counts what the rules
// loaded at start do to its columns. A schema read once is kept while its file (path, size,
// modification time) stays the same.
type coverage struct {
	rules *mask.Rules
	mu    sync.Mutex
	seen  map[schemaKey][]mask.Table
	order []schemaKey // oldest first, for eviction
}

type schemaKey struct {
	path     string
	size     int64
	modified time.Time
}

var _ handlers.Masking = (*coverage)(nil)

func newCoverage(rules *mask.Rules) *coverage {
	return &coverage{rules: rules, seen: map[schemaKey][]mask.Table{}}
}

// Coverage counts what level's rules do to the columns of backup b.
func (c *coverage) Coverage(ctx context.Context, b provisioner.Backup, level approvals.MaskLevel) (handlers.MaskCoverage, error) {
	if b.Kind != provisioner.BackupFile || !filepath.IsAbs(b.Location) {
		return handlers.MaskCoverage{}, fmt.Errorf("backup %q: %w", b.Location, handlers.ErrNotReadableHere)
	}
	tables, err := c.tables(ctx, b.Location)
	if err != nil {
		return handlers.MaskCoverage{}, err
	}
	s, err := c.rules.Summarize(string(level), tables)
	if errors.Is(err, mask.ErrUnknownTable) || errors.Is(err, mask.ErrUnknownColumn) {
		out := handlers.MaskCoverage{}
		for _, e := range unjoin(err) {
			out.Mismatches = append(out.Mismatches, e.Error())
		}
		return out, nil
	}
	if err != nil {
		return handlers.MaskCoverage{}, err
	}
	return handlers.MaskCoverage{Tables: s.Tables, Columns: s.Columns, Masked: s.Masked, Kept: s.Kept,
		Unclassified: s.Unclassified, Policy: s.Policy}, nil
}

// tables returns the tables of the backup file at path, read at most schemaWait.
func (c *coverage) tables(ctx context.Context, path string) ([]mask.Table, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	key := schemaKey{path: path, size: st.Size(), modified: st.ModTime()}
	c.mu.Lock()
	tables, ok := c.seen[key]
	c.mu.Unlock()
	if ok {
		return tables, nil
	}
	ctx, cancel := context.WithTimeout(ctx, schemaWait)
	defer cancel()
	if tables, err = agent.BackupTables(ctx, path); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.seen[key]; !ok {
		c.seen[key] = tables
		c.order = append(c.order, key)
		if len(c.order) > maxSchemas {
			delete(c.seen, c.order[0])
			c.order = c.order[1:]
		}
	}
	return tables, nil
}

// unjoin returns the errors errors.Join joined, or err alone.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
