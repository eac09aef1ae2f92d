package handlers

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/clonebot/clonebot/approvals"
	"github.com/clonebot/clonebot/audit"
)

// Report gives the governance figures over the window, computed from the audit log: standing
// credentials, access duration, time-to-access, revocation latency, break-glass per month and
// unreviewed, clones by user, team and tier. Admins and the security team see everyone's;
// anyone else sees their own requests'. Without an audit log (audit.url unset) it gives what
// the store knows now, and says what is missing.
func (s *Service) Report(ctx context.Context, a Actor, window time.Duration) (Reply, error) {
	if s.reports == nil {
		return s.reportFromStore(ctx, window)
	}
	u, err := s.user(ctx, a.User)
	if err != nil {
		return Reply{}, err
	}
	scope := audit.Scope{User: u.ID}
	if s.policy.IsAdmin(u.ID, u.Groups) || s.policy.IsSecurity(u.ID, u.Groups) {
		scope = audit.Everyone
	}
	r, err := s.reports.Build(ctx, s.now(), window, scope)
	if err != nil {
		return Reply{}, fmt.Errorf("report from the audit log: %w", err)
	}
	return Reply{Text: "Governance report", Lines: r.Lines()}, nil
}

// reportFromStore gives the figures the store can answer now, without an audit log.
func (s *Service) reportFromStore(ctx context.Context, window time.Duration) (Reply, error) {
	now := s.now()
	active, err := s.store.ListActive(ctx)
	if err != nil {
		return Reply{}, err
	}
	var pending, working, ready, standing, breakGlass, overdue int
	byUser, byTeam := map[string]int{}, map[string]int{}
	for _, r := range active {
		switch r.Status {
		case approvals.StatusPending:
			pending++
		case approvals.StatusReady:
			ready++
			if !r.ExpiresAt.IsZero() && !now.Before(r.ExpiresAt) {
				standing++
			}
		default:
			working++
		}
		if r.Mode == approvals.ModeBreakGlass {
			breakGlass++
			if !r.ReviewDueAt.IsZero() && now.After(r.ReviewDueAt) {
				overdue++
			}
		}
		byUser[r.Requester]++
		if r.Team != "" {
			byTeam[r.Team]++
		}
	}
	lines := []string{
		fmt.Sprintf("Active now: %d (pending %d, being made or destroyed %d, ready %d)", len(active), pending, working, ready),
		fmt.Sprintf("Standing credentials (clones past their expiry still alive; target 0): %d", standing),
		fmt.Sprintf("Break-glass clones alive: %d, with review overdue: %d", breakGlass, overdue),
	}
	users, err := s.counts(ctx, byUser, true)
	if err != nil {
		return Reply{}, err
	}
	if users != "" {
		lines = append(lines, "Active by user: "+users)
	}
	if teams, _ := s.counts(ctx, byTeam, false); teams != "" {
		lines = append(lines, "Active by team: "+teams)
	}
	lines = append(lines, fmt.Sprintf("Over the last %s, access duration, time-to-access, revocation latency and break-glass per month come from the audit log, which this clonebot has not been given (audit.url).",
		approvals.FormatDuration(window)))
	return Reply{Text: "Governance report", Lines: lines}, nil
}

// counts writes "name 3, other 1", largest first, looking user IDs up by name.
func (s *Service) counts(ctx context.Context, m map[string]int, users bool) (string, error) {
	type kv struct {
		k string
		n int
	}
	var kvs []kv
	for k, n := range m {
		if users {
			u, err := s.user(ctx, k)
			if err != nil {
				return "", err
			}
			if u.Name != "" {
				k = u.Name
			}
		}
		kvs = append(kvs, kv{k, n})
	}
	slices.SortFunc(kvs, func(a, b kv) int { return cmp.Or(b.n-a.n, cmp.Compare(a.k, b.k)) })
	out := ""
	for i, e := range kvs {
		if i > 0 {
			out += ", "
		}
		out += fmt.Sprintf("%s %d", e.k, e.n)
	}
	return out, nil
}

// Home is what a person's App Home tab shows.
type Home struct {
	Mine     []*approvals.Request // their active requests and clones
	Awaiting []*approvals.Request // pending requests they could approve and have not voted on
	Reviews  []*approvals.Request // security team: ended break-glass clones waiting for review (not their own)
	IsAdmin  bool
}

// Home gathers a person's App Home.
func (s *Service) Home(ctx context.Context, user string) (Home, error) {
	u, err := s.user(ctx, user)
	if err != nil {
		return Home{}, err
	}
	mine, err := s.store.ListUser(ctx, u.ID)
	if err != nil {
		return Home{}, err
	}
	active, err := s.store.ListActive(ctx)
	if err != nil {
		return Home{}, err
	}
	h := Home{Mine: mine, IsAdmin: s.policy.IsAdmin(u.ID, u.Groups)}
	if s.policy.IsSecurity(u.ID, u.Groups) {
		reviews, err := s.store.ListReviews(ctx)
		if err != nil {
			return Home{}, err
		}
		for _, r := range reviews {
			if r.Requester != u.ID {
				h.Reviews = append(h.Reviews, r)
			}
		}
	}
	for _, r := range active {
		if r.Status != approvals.StatusPending || !approvals.Eligible(r, u.ID, u.Groups) {
			continue
		}
		if _, voted := r.VoteOf(u.ID); voted {
			continue
		}
		if !slices.ContainsFunc(openSlots(r), func(sl approvals.Slot) bool { return approvals.MatchesAny(sl.Approvers, u.ID, u.Groups) }) {
			continue
		}
		h.Awaiting = append(h.Awaiting, r)
	}
	return h, nil
}
