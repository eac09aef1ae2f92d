package audit

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/clonebot/clonebot/approvals"
)

// HistoryReader reads the events the answers and the report are computed from.
type HistoryReader interface {
	// History calls fn, in sequence order, with every event of every request that has an event at
	// or after since or has not ended (destroyed, denied, cancelled or expired).
	History(ctx context.Context, since time.Time, fn func(Record) error) error
}

// Clone is one request's story as the audit log tells it.
type Clone struct {
	RequestID     string
	Requester     string
	RequesterName string
	RequestedVia  string // the API key the request came through ("api:<key id>"); "" from Slack
	Team          string
	Tier          string
	Source        string
	Channel       string
	Mode          string // auto, single, dual, breakglass
	Masking       string // full, partial, none; "" when neither the event nor the policy says
	Reason        string
	Status        string // the last status it entered

	RequestedAt    time.Time
	Decisions      []Decision // votes and automatic approvals, in order
	ProvisioningAt time.Time  // a clone exists from here until DestroyedAt
	ReadyAt        time.Time  // credentials handed out
	ExpiresAt      time.Time  // the expiry in force: the ready one, or the last extension's
	Extensions     int
	RevokedAt      time.Time // credentials revoked (ActionCredentialsRevoked), if recorded
	DestroyingAt   time.Time
	DestroyBy      string // who moved it to destroying (a user, or clonebot)
	DestroyByName  string
	DestroyWhy     string // the note: "expired", "destroy now", "failed"
	DestroyedAt    time.Time
	Failure        string
	Review         Review
}

// Decision is one approval or denial.
type Decision struct {
	At        time.Time
	Actor     string
	ActorName string
	Decision  string // approve, deny, or auto (approved by clonebot: auto and break-glass tiers)
	Slot      string
	Reason    string
}

// Review is a break-glass clone's post-incident review.
type Review struct {
	RequestedAt  time.Time // the task was posted
	DueAt        time.Time
	Reminders    int
	ReviewedAt   time.Time
	Reviewer     string
	ReviewerName string
	Notes        string
	Refusals     int
}

// BreakGlass reports whether the clone was taken with break-glass.
func (c *Clone) BreakGlass() bool { return c.Mode == string(approvals.ModeBreakGlass) }

// Unmasked reports whether the clone showed data unmasked, or its masking is unknown (counted
// in, so that an unknown tier never hides unmasked access).
func (c *Clone) Unmasked() bool {
	return c.Masking == string(approvals.MaskNone) || c.Masking == ""
}

// AccessEnd is when the clone's credentials stopped working: revoked or destroyed, whichever
// came first (zero while they work, or if it never was ready).
func (c *Clone) AccessEnd() time.Time {
	if c.ReadyAt.IsZero() {
		return time.Time{}
	}
	switch {
	case c.RevokedAt.IsZero():
		return c.DestroyedAt
	case c.DestroyedAt.IsZero() || c.RevokedAt.Before(c.DestroyedAt):
		return c.RevokedAt
	}
	return c.DestroyedAt
}

// Alive reports whether a clone exists: provisioning started and it is not destroyed.
func (c *Clone) Alive() bool { return !c.ProvisioningAt.IsZero() && c.DestroyedAt.IsZero() }

// Who is the requester's name, or ID when the name is unknown.
func (c *Clone) Who() string { return cmp.Or(c.RequesterName, c.Requester) }

// LoadClones reads the history since `since` and folds it into clones, ordered by request time.
// tierMasking gives each tier's masking (from the policy) for requests whose "requested" event
// does not record it.
func LoadClones(ctx context.Context, h HistoryReader, since time.Time, tierMasking map[string]string) ([]*Clone, error) {
	f := NewFolder(tierMasking)
	if err := h.History(ctx, since, func(r Record) error { f.Add(r.Event); return nil }); err != nil {
		return nil, fmt.Errorf("audit history since %s: %w", since.UTC().Format(time.RFC3339), err)
	}
	return f.Clones(), nil
}

// Folder folds events, in log order, into clones.
type Folder struct {
	tierMasking map[string]string
	byID        map[string]*Clone
	order       []*Clone
}

// NewFolder returns an empty folder.
func NewFolder(tierMasking map[string]string) *Folder {
	return &Folder{tierMasking: tierMasking, byID: map[string]*Clone{}}
}

// Add folds one event in. Events without a request id are ignored.
func (f *Folder) Add(e Event) {
	if e.RequestID == "" {
		return
	}
	c := f.byID[e.RequestID]
	if c == nil {
		c = &Clone{RequestID: e.RequestID}
		f.byID[e.RequestID] = c
		f.order = append(f.order, c)
	}
	c.Tier, c.Source, c.Channel = cmp.Or(c.Tier, e.Tier), cmp.Or(c.Source, e.Source), cmp.Or(e.Channel, c.Channel)
	d := e.Details
	switch e.Action {
	case ActionRequested:
		c.Requester, c.RequesterName, c.RequestedAt = e.Actor, e.ActorName, e.At
		if r := d[DetailRequester]; r != "" { // made through an API key, the actor, for the requester
			c.Requester, c.RequesterName, c.RequestedVia = r, "", e.Actor
		}
		c.Team, c.Mode, c.Reason = d[DetailTeam], d[DetailMode], d[DetailReason]
		c.Masking = cmp.Or(d[DetailMasking], f.tierMasking[c.Tier])
		if c.Masking == "" && c.BreakGlass() {
			c.Masking = string(approvals.MaskNone)
		}
		c.Status = string(approvals.StatusPending)
	case ActionVoted:
		c.Decisions = append(c.Decisions, Decision{At: e.At, Actor: e.Actor, ActorName: e.ActorName,
			Decision: d[DetailDecision], Slot: d[DetailSlotName], Reason: d[DetailReason]})
	case ActionExtended:
		c.ExpiresAt = cmpTime(detailTime(d, DetailExpiresAtMS), c.ExpiresAt)
		c.Extensions++
	case ActionCredentialsRevoked:
		c.RevokedAt = e.At
	case ActionReviewRequested:
		c.Review.RequestedAt = e.At
		c.Review.DueAt = cmpTime(detailTime(d, DetailDueAtMS), c.Review.DueAt)
	case ActionReviewReminded:
		c.Review.Reminders++
		c.Review.DueAt = cmpTime(detailTime(d, DetailDueAtMS), c.Review.DueAt)
	case ActionReviewed:
		c.Review.ReviewedAt, c.Review.Reviewer, c.Review.ReviewerName, c.Review.Notes = e.At, e.Actor, e.ActorName, d[DetailNotes]
	case ActionReviewRefused:
		c.Review.Refusals++
	}
	if !approvals.Status(e.Action).Valid() {
		return
	}
	// a status the request entered
	c.Status = e.Action
	switch approvals.Status(e.Action) {
	case approvals.StatusApproved:
		if e.Actor == SystemActor {
			c.Decisions = append(c.Decisions, Decision{At: e.At, Actor: e.Actor, ActorName: e.ActorName, Decision: "auto", Reason: d[DetailNote]})
		}
	case approvals.StatusProvisioning:
		c.ProvisioningAt = e.At
	case approvals.StatusReady:
		c.ReadyAt = e.At
		c.ExpiresAt = cmpTime(detailTime(d, DetailExpiresAtMS), c.ExpiresAt)
	case approvals.StatusDestroying:
		c.DestroyingAt, c.DestroyBy, c.DestroyByName, c.DestroyWhy = e.At, e.Actor, e.ActorName, d[DetailNote]
	case approvals.StatusDestroyed:
		c.DestroyedAt = e.At
	case approvals.StatusFailed:
		c.Failure = d["failure"]
	}
}

// Clones returns the clones folded so far, ordered by request time (then log order).
func (f *Folder) Clones() []*Clone {
	out := slices.Clone(f.order)
	slices.SortStableFunc(out, func(a, b *Clone) int { return a.RequestedAt.Compare(b.RequestedAt) })
	return out
}

func cmpTime(a, b time.Time) time.Time {
	if !a.IsZero() {
		return a
	}
	return b
}
