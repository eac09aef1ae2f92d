package audit

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/clonebot/clonebot/approvals"
)

// DefaultReviewWithin is the break-glass review deadline after a clone ends when neither the
// review task nor the policy gives one.
const DefaultReviewWithin = 48 * time.Hour

// ReportOptions say which report to compute.
type ReportOptions struct {
	Now          time.Time
	Window       time.Duration // the report covers [Now-Window, Now]
	Scope        Scope
	ReviewWithin time.Duration // break-glass review deadline after the clone ends (default DefaultReviewWithin)
}

// Stats summarizes durations: the mean and nearest-rank percentiles (the p-th percentile of n
// sorted values is the value at rank ⌈p·n/100⌉).
type Stats struct {
	N                   int
	Mean, P50, P95, P99 time.Duration
}

// Summarize computes Stats of ds (which it sorts).
func Summarize(ds []time.Duration) Stats {
	if len(ds) == 0 {
		return Stats{}
	}
	slices.Sort(ds)
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	rank := func(p float64) time.Duration {
		i := int(math.Ceil(p*float64(len(ds))/100)) - 1
		return ds[max(0, min(i, len(ds)-1))]
	}
	return Stats{N: len(ds), Mean: sum / time.Duration(len(ds)), P50: rank(50), P95: rank(95), P99: rank(99)}
}

// Count is a tally under a key.
type Count struct {
	Key string
	N   int
}

// Report is the governance report: the figures that show privilege is temporary.
type Report struct {
	Since, Until time.Time
	Scope        Scope
	// Standing are the clones whose credentials still work past their expiry now (target: none).
	Standing []*Clone
	// AccessDuration: ready → credentials revoked (or destroyed), of clones whose access ended in the window.
	AccessDuration Stats
	// TimeToAccess: requested → ready, of clones ready in the window.
	TimeToAccess Stats
	// Revocation: expiry → credentials revoked (or destroyed), of clones whose access ended in the
	// window at or after their expiry.
	Revocation Stats
	// BreakGlassByMonth: break-glass requests made in the window, by calendar month (UTC), every
	// month of the window listed.
	BreakGlassByMonth []Count
	// BreakGlassUnreviewed: break-glass clones of the window whose access ended (or whose review
	// task was posted) and that nobody reviewed; BreakGlassOverdue: those past their deadline.
	BreakGlassUnreviewed, BreakGlassOverdue int
	// Clones ready in the window, by requester (name when known), team and tier; most first.
	ByUser, ByTeam, ByTier []Count
}

// BuildReport computes the report over clones (LoadClones with since ≤ Now-Window).
func BuildReport(clones []*Clone, o ReportOptions) Report {
	if o.ReviewWithin <= 0 {
		o.ReviewWithin = DefaultReviewWithin
	}
	since := o.Now.Add(-o.Window)
	r := Report{Since: since, Until: o.Now, Scope: o.Scope}
	var access, toAccess, revocation []time.Duration
	byUser, byTeam, byTier := map[string]int{}, map[string]int{}, map[string]int{}
	months := map[string]int{}
	for m := monthStart(since); !m.After(o.Now); m = m.AddDate(0, 1, 0) {
		months[m.Format("2006-01")] = 0
	}
	for _, c := range o.Scope.filter(clones) {
		end := c.AccessEnd()
		if !c.ReadyAt.IsZero() && end.IsZero() && !c.ExpiresAt.IsZero() && !o.Now.Before(c.ExpiresAt) {
			r.Standing = append(r.Standing, c)
		}
		if in(end, since, o.Now) {
			access = append(access, end.Sub(c.ReadyAt))
			if !c.ExpiresAt.IsZero() && !end.Before(c.ExpiresAt) {
				revocation = append(revocation, end.Sub(c.ExpiresAt))
			}
		}
		if in(c.ReadyAt, since, o.Now) {
			toAccess = append(toAccess, c.ReadyAt.Sub(c.RequestedAt))
			byUser[c.Who()]++
			byTeam[cmp.Or(c.Team, "(no team)")]++
			byTier[c.Tier]++
		}
		if c.BreakGlass() && in(c.RequestedAt, since, o.Now) {
			months[c.RequestedAt.UTC().Format("2006-01")]++
			if c.reviewPending() {
				r.BreakGlassUnreviewed++
				if o.Now.After(reviewDue(c, o.ReviewWithin)) {
					r.BreakGlassOverdue++
				}
			}
		}
	}
	r.AccessDuration, r.TimeToAccess, r.Revocation = Summarize(access), Summarize(toAccess), Summarize(revocation)
	r.BreakGlassByMonth = counts(months)
	slices.SortFunc(r.BreakGlassByMonth, func(a, b Count) int { return strings.Compare(a.Key, b.Key) })
	r.ByUser, r.ByTeam, r.ByTier = counts(byUser), counts(byTeam), counts(byTier)
	return r
}

func monthStart(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// counts lists m most first, then by key.
func counts(m map[string]int) []Count {
	out := make([]Count, 0, len(m))
	for k, n := range m {
		out = append(out, Count{k, n})
	}
	slices.SortFunc(out, func(a, b Count) int { return cmp.Or(cmp.Compare(b.N, a.N), strings.Compare(a.Key, b.Key)) })
	return out
}

// Lines writes the report for people, one figure per line (the command line prints them; Slack
// shows them as the reply's lines).
func (r Report) Lines() []string {
	who := "every request"
	if !r.Scope.All {
		who = "your own requests"
	}
	standing := fmt.Sprintf("Standing credentials now (clones past expiry still reachable; target 0): %d", len(r.Standing))
	if len(r.Standing) > 0 {
		ids := make([]string, len(r.Standing))
		for i, c := range r.Standing {
			ids[i] = c.RequestID + " (" + c.Who() + ")"
		}
		standing += ": " + strings.Join(ids, ", ")
	}
	bg := make([]string, len(r.BreakGlassByMonth))
	for i, c := range r.BreakGlassByMonth {
		bg[i] = fmt.Sprintf("%s %d", c.Key, c.N)
	}
	return []string{
		fmt.Sprintf("Governance report %s – %s (%s), %s", stamp(r.Since), stamp(r.Until), FormatDuration(r.Until.Sub(r.Since)), who),
		standing,
		"Access duration (ready → credentials revoked): " + statsText(r.AccessDuration, "mean", "p95"),
		"Time to access (request → ready): " + statsText(r.TimeToAccess, "p50", "p95"),
		"Revocation latency (expiry → credentials revoked): " + statsText(r.Revocation, "p50", "p99"),
		fmt.Sprintf("Break-glass per month: %s; ended and not reviewed: %d (%d overdue)", orNone(strings.Join(bg, ", ")), r.BreakGlassUnreviewed, r.BreakGlassOverdue),
		"Clones by user: " + countsText(r.ByUser),
		"Clones by team: " + countsText(r.ByTeam),
		"Clones by tier: " + countsText(r.ByTier),
	}
}

func statsText(s Stats, figures ...string) string {
	if s.N == 0 {
		return "no clones in the window"
	}
	parts := make([]string, len(figures))
	for i, f := range figures {
		v := map[string]time.Duration{"mean": s.Mean, "p50": s.P50, "p95": s.P95, "p99": s.P99}[f]
		parts[i] = f + " " + FormatDuration(v)
	}
	unit := "clones"
	if s.N == 1 {
		unit = "clone"
	}
	return fmt.Sprintf("%s (%d %s)", strings.Join(parts, ", "), s.N, unit)
}

func countsText(cs []Count) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = fmt.Sprintf("%s %d", c.Key, c.N)
	}
	return orNone(strings.Join(parts, ", "))
}

// Reports computes the report from the log, with the masking and review deadline of the policy
// in force (nil: masking comes from the events, and unknown masking counts as unmasked).
type Reports struct {
	History HistoryReader
	Policy  *approvals.Policy
}

// Build computes the report over the window before now, as scope sees it.
func (r Reports) Build(ctx context.Context, now time.Time, window time.Duration, scope Scope) (Report, error) {
	clones, err := LoadClones(ctx, r.History, now.Add(-window), TierMasking(r.Policy))
	if err != nil {
		return Report{}, err
	}
	return BuildReport(clones, ReportOptions{Now: now, Window: window, Scope: scope, ReviewWithin: ReviewWithin(r.Policy)}), nil
}

// TierMasking is each policy tier's masking (empty without a policy).
func TierMasking(p *approvals.Policy) map[string]string {
	out := map[string]string{}
	if p != nil {
		for name, t := range p.Tiers {
			out[name] = string(t.Masking)
		}
	}
	return out
}

// ReviewWithin is the policy's break-glass review deadline (the longest, if several tiers set
// one), else DefaultReviewWithin.
func ReviewWithin(p *approvals.Policy) time.Duration {
	var d time.Duration
	if p != nil {
		for _, t := range p.Tiers {
			d = max(d, time.Duration(t.ReviewWithin))
		}
	}
	return cmp.Or(d, DefaultReviewWithin)
}
