package approvals

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Golden is one generation of a golden copy: a masked copy of a source at one masking level,
// built from the newest backup by the same restore agent, masking and verification gate as a
// request's clone, from which requests of that level are served by a thin copy.
type Golden struct {
	ID         string       `json:"id"` // gd-xxxxxx
	Source     string       `json:"source"`
	Masking    MaskLevel    `json:"masking"`
	Generation int          `json:"generation"` // 1, 2, … per source and level
	Status     GoldenStatus `json:"status"`
	// Slot is the scheduled moment the build is for (ready_by: its deadline; cron: its start);
	// zero for a build asked for with /clone refresh.
	Slot       time.Time  `json:"slot,omitempty"`
	By         string     `json:"by"`                    // "clonebot" (the schedule), or the admin who asked
	Backup     Backup     `json:"backup"`                // what it is built from
	BackupDate time.Time  `json:"backup_date,omitempty"` // the backup's day (or point in time)
	Clone      *CloneInfo `json:"clone,omitempty"`       // where the copy is, once made
	Rows       int64      `json:"rows,omitempty"`        // rows loaded, as the agent reported them
	Bytes      int64      `json:"bytes,omitempty"`       // bytes loaded
	Failure    string     `json:"failure,omitempty"`     // why the build failed, for people
	CreatedAt  time.Time  `json:"created_at"`
	ReadyAt    time.Time  `json:"ready_at,omitempty"`
	UpdatedAt  time.Time  `json:"updated_at"`
}

// GoldenStatus is the state of a golden copy.
type GoldenStatus string

const (
	GoldenProvisioning GoldenStatus = "provisioning" // its database or cluster is being made
	GoldenRestoring    GoldenStatus = "restoring"    // the agent restores and masks the backup into it
	GoldenReady        GoldenStatus = "ready"        // verified; requests are served from it
	GoldenFailed       GoldenStatus = "failed"       // the build failed; what was made is to destroy
	GoldenRetiring     GoldenStatus = "retiring"     // being destroyed (beyond keep, or failed)
	GoldenRetired      GoldenStatus = "retired"      // gone
)

// goldenTransitions is a golden copy's state machine: from → the states it may move to.
var goldenTransitions = map[GoldenStatus][]GoldenStatus{
	GoldenProvisioning: {GoldenRestoring, GoldenFailed},
	GoldenRestoring:    {GoldenReady, GoldenFailed},
	GoldenReady:        {GoldenRetiring},
	GoldenFailed:       {GoldenRetiring},
	GoldenRetiring:     {GoldenRetired},
}

// AllGoldenStatuses lists every golden status in lifecycle order.
var AllGoldenStatuses = []GoldenStatus{GoldenProvisioning, GoldenRestoring, GoldenReady, GoldenFailed, GoldenRetiring, GoldenRetired}

// GoldenTransitions returns the legal next statuses of s (a copy).
func GoldenTransitions(s GoldenStatus) []GoldenStatus {
	return append([]GoldenStatus(nil), goldenTransitions[s]...)
}

// Building reports whether a build is under way in s.
func (s GoldenStatus) Building() bool { return s == GoldenProvisioning || s == GoldenRestoring }

// Valid reports whether s is a known golden status.
func (s GoldenStatus) Valid() bool { return slices.Contains(AllGoldenStatuses, s) }

// Line names a source's golden copies at one masking level: "prod/full".
func Line(source string, level MaskLevel) string { return source + "/" + string(level) }

// Line is g's line.
func (g *Golden) Line() string { return Line(g.Source, g.Masking) }

// BuildTime is how long g took from its start to ready (0 if it is not ready).
func (g *Golden) BuildTime() time.Duration {
	if g.ReadyAt.IsZero() {
		return 0
	}
	return g.ReadyAt.Sub(g.CreatedAt)
}

// Serves reports whether a request for source at level, for the day of date (or latest), can
// be made from g: g is ready and of that source and level, and the request asks for the newest
// backup or for g's backup day.
func (g *Golden) Serves(source string, level MaskLevel, latest bool, date time.Time) bool {
	if g.Status != GoldenReady || g.Source != source || g.Masking != level {
		return false
	}
	return latest || sameDay(date, g.BackupDate)
}

func sameDay(a, b time.Time) bool {
	a, b = a.UTC(), b.UTC()
	return a.Year() == b.Year() && a.YearDay() == b.YearDay()
}

// NewestReady returns the ready golden copy of the highest generation among gs that serves a
// request for source at level for date (or latest); nil if none does.
func NewestReady(gs []*Golden, source string, level MaskLevel, latest bool, date time.Time) *Golden {
	var best *Golden
	for _, g := range gs {
		if g.Serves(source, level, latest, date) && (best == nil || g.Generation > best.Generation) {
			best = g
		}
	}
	return best
}

// GoldenIDPrefix starts every golden copy's id, so an agent's event or a backend's resource
// tells a golden copy from a request ("cl-").
const GoldenIDPrefix = "gd-"

// NewGoldenID returns a new golden copy id like "gd-7f3k2q".
func NewGoldenID() string { return GoldenIDPrefix + NewID()[3:] }

// IsGoldenID reports whether id names a golden copy.
func IsGoldenID(id string) bool {
	return strings.HasPrefix(id, GoldenIDPrefix) && ValidID("cl-"+id[len(GoldenIDPrefix):])
}

// GoldenStart asks for a new build of a line. With a Slot, it is the schedule's, and is
// refused (ErrGoldenNotDue) unless later than the line's last scheduled slot; without one it
// is a refresh, asked By an admin.
type GoldenStart struct {
	ID         string // NewGoldenID()
	Source     string
	Masking    MaskLevel
	Slot       time.Time
	By         string
	Backup     Backup
	BackupDate time.Time
	At         time.Time
	Say        []Notice // recorded with it, under the golden copy's id
}

// GoldenTransitionInput moves a golden copy along its state machine, from the status it is in
// (one of From when given), recording what it carries and Say, under the golden copy's id.
type GoldenTransitionInput struct {
	ID      string
	To      GoldenStatus
	From    []GoldenStatus
	By      string
	At      time.Time
	Clone   *CloneInfo // with To=restoring: where the copy is
	Failure string     // with To=failed
	Say     []Notice
}

// GoldenLineState is what the store remembers of a line between builds.
type GoldenLineState struct {
	LastSlot   time.Time       // the slot of the last scheduled build started
	Generation int             // of the last build started
	Building   string          // the id of the build under way, "" when none
	Recent     []time.Duration // how long the last builds took to be ready, oldest first
}

// Errors of the golden copies' store.
var (
	ErrGoldenNotFound = errors.New("golden copy not found")
	ErrGoldenBusy     = errors.New("a build of this golden copy is under way")
	ErrGoldenNotDue   = errors.New("this slot's golden copy was built already")
	ErrGoldenInUse    = errors.New("golden copy still has clones that depend on it")
	ErrGoldenGone     = errors.New("golden copy is not ready any more")
)

// IllegalGoldenTransitionError says a golden transition is not in the table.
type IllegalGoldenTransitionError struct {
	From, To GoldenStatus
}

func (e *IllegalGoldenTransitionError) Error() string {
	return fmt.Sprintf("illegal golden copy transition %s → %s", e.From, e.To)
}

// Is makes errors.Is(err, ErrIllegalTransition) match.
func (e *IllegalGoldenTransitionError) Is(target error) bool { return target == ErrIllegalTransition }
