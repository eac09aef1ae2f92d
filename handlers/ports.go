package handlers

import (
	"context"
	"time"

	"github.com/clonebot/clonebot/approvals"
	"github.com/clonebot/clonebot/provisioner"
)

// Store is the part of approvals.Store the use cases call. Errors are approvals' sentinels.
type Store interface {
	Create(ctx context.Context, r *approvals.Request, lim approvals.Limits) error
	Get(ctx context.Context, id string) (*approvals.Request, error)
	Vote(ctx context.Context, v approvals.VoteInput) (approvals.VoteResult, error)
	Extend(ctx context.Context, id, by string, until time.Time, at time.Time) (*approvals.Request, error)
	Cancel(ctx context.Context, id, by string, at time.Time) (*approvals.Request, error)
	SetMessage(ctx context.Context, id, channel, ts string) error
	ActiveCount(ctx context.Context, user string) (int, error)
	ListUser(ctx context.Context, user string) ([]*approvals.Request, error)
	ListActive(ctx context.Context) ([]*approvals.Request, error)
}

var _ Store = approvals.Store(nil)

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

// Lifecycle is what happens to a request after approval and on destroy.
type Lifecycle interface {
	// Approved starts making the clone of an approved request. It must return quickly; the
	// work happens in the background and reports through the Notifier.
	Approved(ctx context.Context, r *approvals.Request) error
	// DestroyNow tears a request's clone down at once; by is who asked.
	DestroyNow(ctx context.Context, r *approvals.Request, by string) error
}

// Note is one line of a request's thread timeline: By (a user ID, or "" for clonebot) did Text.
type Note struct {
	By   string
	Text string // plain text; the Notifier escapes it
}

// Alert is a message for the security channel: By did something (about Request, if any).
type Alert struct {
	By      string
	Request *approvals.Request
	Text    string // plain text; the Notifier escapes it
}

// Notifier shows what changed. Slack is a view of the store: every method renders from the
// request it is given, and a failed notification never undoes a state change.
type Notifier interface {
	// CardChanged posts the request's card (when r.MessageTS is empty) or re-renders it in
	// place, and returns where it is.
	CardChanged(ctx context.Context, r *approvals.Request) (channel, ts string, err error)
	// ThreadNote adds a line to the timeline under the card.
	ThreadNote(ctx context.Context, r *approvals.Request, n Note) error
	// Progress sets the one progress line in the thread (edited in place, throttled).
	Progress(ctx context.Context, r *approvals.Request, status string) error
	// Ready posts where the clone is and its credential reference, and DMs the requester.
	Ready(ctx context.Context, r *approvals.Request) error
	// PendingReminder reminds the approvers still needed that r expires undecided in left.
	PendingReminder(ctx context.Context, r *approvals.Request, left time.Duration) error
	// TTLWarning says the clone will be destroyed in left, with Extend and Destroy-now buttons.
	TTLWarning(ctx context.Context, r *approvals.Request, left time.Duration) error
	// SecurityAlert posts to the security channel.
	SecurityAlert(ctx context.Context, a Alert) error
	// DM sends a person a direct message.
	DM(ctx context.Context, user, text string) error
	// HomeChanged asks for users' App Home tabs to be re-rendered.
	HomeChanged(ctx context.Context, users ...string)
}
