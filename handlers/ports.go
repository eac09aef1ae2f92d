package handlers

import (
	"context"
	"errors"
	"time"

	"github.com/clonebot/clonebot/approvals"
	"github.com/clonebot/clonebot/audit"
	"github.com/clonebot/clonebot/provisioner"
)

// Store is what the use cases need of the request store (redisstore.Store). Errors are
// approvals' sentinels. Every change records its notices (say) in the same atomic step, and a
// card notice always: Slack is told afterwards, by the notifier, and nothing here waits for it.
type Store interface {
	// Create stores a new request (pending, or approved for auto tiers). ErrExists if the id is
	// taken; ErrQuotaExceeded if the requester or their team is at a limit.
	Create(ctx context.Context, r *approvals.Request, lim approvals.Limits, say ...approvals.Notice) error
	// Get returns a request. ErrNotFound.
	Get(ctx context.Context, id string) (*approvals.Request, error)
	// Vote records an approval or denial and decides the outcome. ErrNotFound.
	Vote(ctx context.Context, v approvals.VoteInput) (approvals.VoteResult, error)
	// Extend moves a ready clone's expiry to until. ErrNotActive if it is not ready.
	Extend(ctx context.Context, id, by string, until time.Time, at time.Time, say ...approvals.Notice) (*approvals.Request, error)
	// Cancel withdraws a pending request. ErrNotPending.
	Cancel(ctx context.Context, id, by string, at time.Time, say ...approvals.Notice) (*approvals.Request, error)
	// Announce records notices no state change carries (a security alert).
	Announce(ctx context.Context, id, once string, say ...approvals.Notice) (bool, error)
	// Review records the post-incident review of an ended break-glass clone.
	// approvals.ErrSelfReview, ErrNotReviewable, ErrNotFound.
	Review(ctx context.Context, in approvals.ReviewInput) (*approvals.Request, error)
	// ListReviews returns the ended break-glass clones waiting for review.
	ListReviews(ctx context.Context) ([]*approvals.Request, error)
	// RecordEvent appends an audit event that is no change of state (a refused review).
	RecordEvent(ctx context.Context, id, typ, actor string, at time.Time, data map[string]string) error
	// ActiveCount, ListUser and ListActive read the active requests.
	ActiveCount(ctx context.Context, user string) (int, error)
	ListUser(ctx context.Context, user string) ([]*approvals.Request, error)
	ListActive(ctx context.Context) ([]*approvals.Request, error)
}

// User is what the directory knows of a person.
type User struct {
	ID     string
	Name   string   // display name, for reports
	Team   string   // for per-team quotas and reports; "" if unknown
	Groups []string // user group handles
}

// Directory answers who someone is. Implementations cache; a user's groups are looked up
// at every click, so a cache must refresh (bot's refreshes on a clock).
type Directory interface {
	// User returns the person's name, team and groups.
	User(ctx context.Context, id string) (User, error)
	// ChannelName returns a channel's name (without #), for incident-channel patterns.
	ChannelName(ctx context.Context, id string) (string, error)
}

// Catalogue lists what can be cloned (provisioner.Catalogue).
type Catalogue interface {
	// Backups lists source's backups in [from, to), oldest first. provisioner.ErrUnknownSource.
	Backups(ctx context.Context, source string, from, to time.Time) ([]provisioner.Backup, error)
	// Find returns the backup for the day of at; *provisioner.NoBackupError names the nearest.
	Find(ctx context.Context, source string, at time.Time) (provisioner.Backup, error)
}

var _ Catalogue = provisioner.Catalogue(nil)

// Lifecycle is what happens to a request after approval and on destroy (lifecycle.Manager).
type Lifecycle interface {
	// Approved wakes the loop that makes the clone of an approved request. It returns at once;
	// the loop finds the request in the store whether or not it was woken.
	Approved(ctx context.Context, r *approvals.Request) error
	// DestroyNow moves a request to destroying, by who asked, with say, and wakes the loop
	// that tears its clone down.
	DestroyNow(ctx context.Context, r *approvals.Request, by string, say ...approvals.Notice) error
}

// Reports computes the governance report from the audit log (audit.Reports).
type Reports interface {
	// Build computes the report over the window before now, as scope sees it.
	Build(ctx context.Context, now time.Time, window time.Duration, scope audit.Scope) (audit.Report, error)
}

// Masking says what the masking rules do to a backup's columns, for a dry run (app's, on the
// agent's reader of a backup's schema and the rules serve loaded at start).
type Masking interface {
	// Coverage counts what level's rules do to the columns of backup b. ErrNotReadableHere
	// when this process cannot read the backup (it is on S3, or no file); other errors when it
	// could not read it now.
	Coverage(ctx context.Context, b provisioner.Backup, level approvals.MaskLevel) (MaskCoverage, error)
}

// ErrNotReadableHere is Masking.Coverage's answer for a backup only the restore agents read.
var ErrNotReadableHere = errors.New("the backup is not readable here")

// MaskCoverage is what a level's masking rules do to a backup's columns.
type MaskCoverage struct {
	Tables, Columns int
	Masked, Kept    int // by a rule or by type; declared safe or by the level's policy
	Unclassified    int // neither ruled nor kept
	// Policy is the level's policy for unclassified columns: refuse, mask-by-type or keep.
	Policy string
	// Mismatches name the rules that name a table or column the backup lacks (with their
	// line): a restore is then refused before any data moves.
	Mismatches []string
}

// SystemMailbox is where notices about no one request go (the kill switch's summary, the
// audit log's daily anchor): the notifier sends them like any other.
const SystemMailbox = "system"
