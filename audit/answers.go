package audit

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Scope is who is asking: admins and the security group see every request; anyone else sees
// their own.
type Scope struct {
	All  bool   // admins and security
	User string // otherwise: this Slack user ID's requests only
}

// Everyone is the scope of admins, security and the command line.
var Everyone = Scope{All: true}

// Sees reports whether the scope includes c.
func (s Scope) Sees(c *Clone) bool { return s.All || (s.User != "" && c.Requester == s.User) }

func (s Scope) filter(clones []*Clone) []*Clone {
	var out []*Clone
	for _, c := range clones {
		if s.Sees(c) {
			out = append(out, c)
		}
	}
	return out
}

// QuarterStart returns midnight UTC of the first day of now's calendar quarter.
func QuarterStart(now time.Time) time.Time {
	now = now.UTC()
	return time.Date(now.Year(), (now.Month()-1)/3*3+1, 1, 0, 0, 0, 0, time.UTC)
}

// Access is one stretch of a person's access to a clone.
type Access struct {
	Clone    *Clone
	From     time.Time // ready
	Until    time.Time // credentials revoked or clone destroyed; zero while ongoing
	Duration time.Duration
}

// UnmaskedAccess answers "who had unmasked production data since `since`, and for how long":
// every unmasked clone (or clone of unknown masking) whose access overlapped [since, now], with
// its whole duration (to now while ongoing), ordered by start.
func UnmaskedAccess(clones []*Clone, since, now time.Time, s Scope) []Access {
	var out []Access
	for _, c := range s.filter(clones) {
		if !c.Unmasked() || c.ReadyAt.IsZero() || c.ReadyAt.After(now) {
			continue
		}
		end := c.AccessEnd()
		if !end.IsZero() && end.Before(since) {
			continue
		}
		a := Access{Clone: c, From: c.ReadyAt, Until: end}
		a.Duration = cmpTime(end, now).Sub(c.ReadyAt)
		out = append(out, a)
	}
	slices.SortStableFunc(out, func(a, b Access) int { return a.From.Compare(b.From) })
	return out
}

// BreakGlassSince answers "every break-glass since `since`, its reason, review and reviewer":
// break-glass requests made in [since, now], in order.
func BreakGlassSince(clones []*Clone, since, now time.Time, s Scope) []*Clone {
	var out []*Clone
	for _, c := range s.filter(clones) {
		if c.BreakGlass() && in(c.RequestedAt, since, now) {
			out = append(out, c)
		}
	}
	return out
}

// Approval is one decision on a request.
type Approval struct {
	Clone *Clone
	Decision
}

// Approvals answers "who approved what": every approval and denial made in [since, now]
// (automatic ones as decision "auto", by clonebot), in order.
func Approvals(clones []*Clone, since, now time.Time, s Scope) []Approval {
	var out []Approval
	for _, c := range s.filter(clones) {
		for _, d := range c.Decisions {
			if in(d.At, since, now) {
				out = append(out, Approval{Clone: c, Decision: d})
			}
		}
	}
	slices.SortStableFunc(out, func(a, b Approval) int { return a.At.Compare(b.At) })
	return out
}

// Destroyed answers "who destroyed what and when": clones destroyed in [since, now], in order,
// with who asked (a user, or clonebot at expiry) and why.
func Destroyed(clones []*Clone, since, now time.Time, s Scope) []*Clone {
	var out []*Clone
	for _, c := range s.filter(clones) {
		if in(c.DestroyedAt, since, now) {
			out = append(out, c)
		}
	}
	slices.SortStableFunc(out, func(a, b *Clone) int { return a.DestroyedAt.Compare(b.DestroyedAt) })
	return out
}

// Alive answers "every clone still alive and its owner": provisioned and not destroyed.
func Alive(clones []*Clone, s Scope) []*Clone {
	var out []*Clone
	for _, c := range s.filter(clones) {
		if c.Alive() {
			out = append(out, c)
		}
	}
	return out
}

// in reports whether since ≤ t ≤ until (t set).
func in(t, since, until time.Time) bool {
	return !t.IsZero() && !t.Before(since) && !t.After(until)
}

// The writers below print the answers as aligned text tables (times in UTC), as the command
// line shows them.

// WriteUnmasked prints UnmaskedAccess's answer and each person's total.
func WriteUnmasked(w io.Writer, rows []Access, now time.Time) error {
	t := newTable(w, "USER", "REQUEST", "SOURCE", "TIER", "MASKING", "FROM", "UNTIL", "FOR")
	totals := map[string]time.Duration{}
	var users []string
	for _, a := range rows {
		c := a.Clone
		until := stamp(a.Until)
		if a.Until.IsZero() {
			until = "ongoing"
		}
		t.row(c.Who(), c.RequestID, c.Source, c.Tier, cmp.Or(c.Masking, "unknown"), stamp(a.From), until, FormatDuration(a.Duration))
		if _, ok := totals[c.Who()]; !ok {
			users = append(users, c.Who())
		}
		totals[c.Who()] += a.Duration
	}
	if err := t.flush(); err != nil {
		return err
	}
	slices.SortFunc(users, func(a, b string) int { return cmp.Or(cmp.Compare(totals[b], totals[a]), strings.Compare(a, b)) })
	parts := make([]string, len(users))
	for i, u := range users {
		parts[i] = u + " " + FormatDuration(totals[u])
	}
	_, err := fmt.Fprintf(w, "%d unmasked clone(s); total per person: %s\n", len(rows), orNone(strings.Join(parts, ", ")))
	return err
}

// WriteBreakGlass prints BreakGlassSince's answer.
func WriteBreakGlass(w io.Writer, rows []*Clone, now time.Time, reviewWithin time.Duration) error {
	t := newTable(w, "REQUEST", "USER", "AT", "SOURCE", "CHANNEL", "REASON", "FOR", "REVIEW", "REVIEWER", "NOTES")
	for _, c := range rows {
		dur := "-"
		if !c.ReadyAt.IsZero() {
			dur = FormatDuration(cmpTime(c.AccessEnd(), now).Sub(c.ReadyAt))
		}
		t.row(c.RequestID, c.Who(), stamp(c.RequestedAt), c.Source, c.Channel, c.Reason, dur,
			reviewState(c, now, reviewWithin), cmp.Or(c.Review.ReviewerName, c.Review.Reviewer), c.Review.Notes)
	}
	if err := t.flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%d break-glass clone(s)\n", len(rows))
	return err
}

// WriteApprovals prints Approvals's answer.
func WriteApprovals(w io.Writer, rows []Approval) error {
	t := newTable(w, "AT", "BY", "DECISION", "REQUEST", "REQUESTER", "TIER", "SOURCE", "SLOT", "REASON")
	for _, a := range rows {
		t.row(stamp(a.At), cmp.Or(a.ActorName, a.Actor), a.Decision.Decision, a.Clone.RequestID, a.Clone.Who(),
			a.Clone.Tier, a.Clone.Source, a.Slot, a.Reason)
	}
	if err := t.flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%d decision(s)\n", len(rows))
	return err
}

// WriteDestroyed prints Destroyed's answer.
func WriteDestroyed(w io.Writer, rows []*Clone) error {
	t := newTable(w, "DESTROYED", "REQUEST", "OWNER", "TIER", "SOURCE", "ASKED BY", "WHY")
	for _, c := range rows {
		t.row(stamp(c.DestroyedAt), c.RequestID, c.Who(), c.Tier, c.Source, cmp.Or(c.DestroyByName, c.DestroyBy), c.DestroyWhy)
	}
	if err := t.flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%d clone(s) destroyed\n", len(rows))
	return err
}

// WriteAlive prints Alive's answer.
func WriteAlive(w io.Writer, rows []*Clone, now time.Time) error {
	t := newTable(w, "REQUEST", "OWNER", "TEAM", "TIER", "SOURCE", "STATUS", "READY", "EXPIRES", "NOTE")
	for _, c := range rows {
		note := ""
		if !c.ExpiresAt.IsZero() && !now.Before(c.ExpiresAt) {
			note = "past expiry"
		}
		t.row(c.RequestID, c.Who(), c.Team, c.Tier, c.Source, c.Status, stamp(c.ReadyAt), stamp(c.ExpiresAt), note)
	}
	if err := t.flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%d clone(s) alive\n", len(rows))
	return err
}

// reviewState is a break-glass clone's review in words.
func reviewState(c *Clone, now time.Time, reviewWithin time.Duration) string {
	switch {
	case !c.Review.ReviewedAt.IsZero():
		return "reviewed " + stamp(c.Review.ReviewedAt)
	case !c.reviewPending():
		if c.DestroyedAt.IsZero() {
			return "clone still alive"
		}
		return "none needed: never ready"
	}
	due := reviewDue(c, reviewWithin)
	if now.After(due) {
		return "OVERDUE since " + stamp(due)
	}
	return "due " + stamp(due)
}

// reviewPending reports whether a break-glass clone awaits its review: its access ended (or a
// review task was posted) and nobody reviewed it.
func (c *Clone) reviewPending() bool {
	return c.BreakGlass() && c.Review.ReviewedAt.IsZero() && (!c.AccessEnd().IsZero() || !c.Review.RequestedAt.IsZero())
}

// reviewDue is when a break-glass clone's review is due: as the review task says, else
// reviewWithin after the access ended (or the clone was destroyed).
func reviewDue(c *Clone, reviewWithin time.Duration) time.Time {
	return cmpTime(c.Review.DueAt, cmpTime(c.AccessEnd(), c.DestroyedAt).Add(reviewWithin))
}

// stamp writes a time to the minute in UTC ("-" for none).
func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// FormatDuration writes d for people: "4.2s" under a minute, "3h12m" under a day, "2d4h" beyond.
func FormatDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < 24*time.Hour:
		d = d.Round(time.Minute)
		h, m := d/time.Hour, (d%time.Hour)/time.Minute
		if h == 0 {
			return fmt.Sprintf("%dm", m)
		}
		return fmt.Sprintf("%dh%02dm", h, m)
	}
	d = d.Round(time.Hour)
	days, hours := d/(24*time.Hour), (d%(24*time.Hour))/time.Hour
	if hours == 0 {
		return fmt.Sprintf("%dd", days)
	}
	return fmt.Sprintf("%dd%dh", days, hours)
}

func orNone(s string) string { return cmp.Or(s, "none") }

type table struct {
	tw *tabwriter.Writer
}

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
	t.row(header...)
	return t
}

func (t *table) row(cells ...string) {
	for i, c := range cells {
		cells[i] = strings.NewReplacer("\t", " ", "\n", " ").Replace(cmp.Or(c, "-"))
	}
	fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
}

func (t *table) flush() error { return t.tw.Flush() }
