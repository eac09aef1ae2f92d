// Package provisioner makes and destroys clones: the Provisioner interface, the values it
// takes and returns, the backup Catalogue and the credential store. Backends live in aws/
// (Aurora/RDS, Secrets Manager, S3) and local/ (a PostgreSQL server and a file secret store).
package provisioner

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Strategy is how a clone is made.
type Strategy string

const (
	// StrategyRestore makes an empty encrypted database; the agent restores a backup file into it.
	StrategyRestore Strategy = "restore"
	// StrategyFastClone makes a copy-on-write clone (Aurora) or a template copy (local), masked in place.
	StrategyFastClone Strategy = "fast-clone"
	// StrategySnapshot restores the cluster snapshot of the requested date, masked in place.
	StrategySnapshot Strategy = "snapshot"
)

// Valid reports whether s names a known strategy.
func (s Strategy) Valid() bool {
	switch s {
	case StrategyRestore, StrategyFastClone, StrategySnapshot:
		return true
	}
	return false
}

// BackupKind says what a Backup points at.
type BackupKind string

const (
	BackupFile        BackupKind = "file"          // a pg_dump archive or SQL file (S3 object or local path)
	BackupSnapshot    BackupKind = "snapshot"      // a cluster snapshot identifier
	BackupPointInTime BackupKind = "point-in-time" // a time inside a cluster's restorable window
)

// Backup is one thing that can be cloned for a source.
type Backup struct {
	Source   string
	Kind     BackupKind
	Date     time.Time // the day (UTC midnight) or, for point-in-time, the exact time
	Location string    // s3://bucket/key, a local path, or a snapshot identifier; empty for point-in-time
	Size     int64     // bytes, when known
	Checksum string    // hex SHA-256 of the file, when the catalogue knows it (sidecar <file>.sha256)
}

// Spec is what a clone is made from and for.
type Spec struct {
	RequestID string
	Source    string
	Strategy  Strategy
	Backup    Backup // for restore and snapshot; for fast-clone Backup.Date is the point in time
	Tier      string
	Requester string
	ExpiresAt time.Time
	// Golden, when set, is the id of a golden copy this provisioner made (a clone Create made
	// for that id and Seal sealed): the clone is a thin copy of it, its data ready as made,
	// rather than an empty database for a restore.
	Golden string
}

// Clone is a made clone: where it is and the reference to its credentials. It never holds a password.
type Clone struct {
	RequestID     string
	Host          string
	Port          int
	Database      string
	User          string
	CredentialRef string   // Secrets Manager ARN, or file:// reference of the local store
	Resources     []string // backend identifiers (cluster and instance ids, database and role names)
}

// Progress is one step of Create, for the request's thread ("cluster creating", "instance available").
type Progress struct {
	Step   string
	Detail string
}

// ProgressFunc receives progress; it must return quickly (it records, never waits on a
// person or on Slack). A nil ProgressFunc is allowed.
type ProgressFunc func(Progress)

// Report calls f if it is not nil.
func (f ProgressFunc) Report(step, detail string) {
	if f != nil {
		f(Progress{Step: step, Detail: detail})
	}
}

// Provisioner makes and destroys clones.
type Provisioner interface {
	// Create makes the clone for spec.RequestID, or returns the one already made for it: a call
	// retried after a crash at any step finishes that clone and never makes a second.
	Create(ctx context.Context, spec Spec, progress ProgressFunc) (Clone, error)
	// Destroy removes everything made for requestID, credentials included. Destroying what is
	// already gone is success.
	Destroy(ctx context.Context, requestID string) error
}

// GoldenBackend is a Provisioner that serves clones from the golden copies it made. A golden
// copy is made by Create like any clone (its id is the golden copy's) and restored and masked
// by the agent; Seal then makes it a template, and Create with Spec.Golden copies it.
type GoldenBackend interface {
	// Seal readies golden copy id to be copied: nobody logs in to it or stays connected
	// (local: its role loses login and its database takes no connections, so a copy never
	// waits for a session to end). Sealing a sealed copy is no error.
	Seal(ctx context.Context, id string) error
	// CopiesDependOnGolden reports whether a thin copy needs its golden copy for as long as it
	// lives (true: the golden copy is not destroyed before it) or only while it is made.
	CopiesDependOnGolden() bool
}

// Catalogue lists what can be cloned.
type Catalogue interface {
	// Backups lists the backups of source whose date falls in [from, to), oldest first.
	// It returns ErrUnknownSource for a source the catalogue does not know.
	Backups(ctx context.Context, source string, from, to time.Time) ([]Backup, error)
	// Find returns the backup of source for the day of at (or, for point-in-time sources, at
	// itself). When there is none it returns a *NoBackupError naming the nearest dates.
	Find(ctx context.Context, source string, at time.Time) (Backup, error)
}

// ErrUnknownSource is returned for a source that is not configured.
var ErrUnknownSource = errors.New("unknown source")

// NoBackupError says there is no backup for the requested date and which dates have one.
type NoBackupError struct {
	Source  string
	Date    time.Time
	Nearest []time.Time // up to a few nearest dates that have a backup, nearest first
}

func (e *NoBackupError) Error() string {
	var near []string
	for _, d := range e.Nearest {
		near = append(near, d.Format("2006-01-02"))
	}
	if len(near) == 0 {
		return fmt.Sprintf("no backup of %s for %s, and none at all", e.Source, e.Date.Format("2006-01-02"))
	}
	return fmt.Sprintf("no backup of %s for %s; nearest: %s", e.Source, e.Date.Format("2006-01-02"), strings.Join(near, ", "))
}

// NearestDates returns up to n dates from have, nearest to want first (ties: earlier first).
func NearestDates(have []time.Time, want time.Time, n int) []time.Time {
	dist := func(t time.Time) time.Duration { return t.Sub(want).Abs() }
	out := slices.Clone(have)
	slices.SortStableFunc(out, func(a, b time.Time) int {
		if c := cmp.Compare(dist(a), dist(b)); c != 0 {
			return c
		}
		return a.Compare(b)
	})
	return out[:min(n, len(out))]
}
