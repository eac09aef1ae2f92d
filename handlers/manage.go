package handlers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/clonebot/clonebot/approvals"
)

// List shows the actor's active requests, or (all, admins only) everyone's.
func (s *Service) List(ctx context.Context, a Actor, all bool) (Reply, error) {
	var rs []*approvals.Request
	var err error
	if all {
		u, uerr := s.user(ctx, a.User)
		if uerr != nil {
			return Reply{}, uerr
		}
		if !s.policy.IsAdmin(u.ID, u.Groups) {
			return Reply{}, refuse(EForbidden, "Only admins can list every clone; /clone list shows yours.")
		}
		rs, err = s.store.ListActive(ctx)
	} else {
		rs, err = s.store.ListUser(ctx, a.User)
	}
	if err != nil {
		return Reply{}, err
	}
	if len(rs) == 0 {
		if all {
			return said("There are no active clones or pending requests."), nil
		}
		return said("You have no active clones or pending requests."), nil
	}
	whose := "Your"
	if all {
		whose = "All"
	}
	return Reply{Text: fmt.Sprintf("%s active clones and pending requests (%d):", whose, len(rs)), Requests: rs}, nil
}

// Status shows one request with its timeline.
func (s *Service) Status(ctx context.Context, a Actor, id string) (Reply, error) {
	r, err := s.get(ctx, id)
	if err != nil {
		return Reply{}, err
	}
	return Reply{Text: fmt.Sprintf("%s: %s", r.ID, r.Status), Timeline: r}, nil
}

// Extend gives a ready clone d more time. An extension past the tier's cap on the clone's
// whole life (from ready) is refused, as a TTL over the cap is at request time: the refusal
// says the most that can be granted now and offers it (ExtendToCap).
func (s *Service) Extend(ctx context.Context, a Actor, id string, d time.Duration) (Reply, error) {
	if d <= 0 {
		return Reply{}, refuse(EInvalid, "Extend by a positive duration, like 2h.")
	}
	u, r, err := s.extendable(ctx, a, id)
	if err != nil {
		return Reply{}, err
	}
	until := r.ExpiresAt.Add(d)
	if limit, ok := approvals.ExtensionLimit(r); ok && until.After(limit) {
		room := limit.Sub(r.ExpiresAt)
		e := refuse(EInvalid, "%s cannot be extended by %s: the %s tier allows %s in total from ready. The most it can have now is %s more, until %s.",
			r.ID, approvals.FormatDuration(d), r.Tier, approvals.FormatDuration(r.MaxTTL), approvals.FormatDuration(room), approvals.FormatTime(limit))
		e.Offer = &Offer{Kind: OfferExtendToCap, RequestID: r.ID, By: room, Until: limit}
		return Reply{}, e
	}
	return s.extend(ctx, a.by(u), r, until, "extended the clone until "+approvals.FormatTime(until))
}

// ExtendToCap gives a ready clone all the time its tier's cap allows: what Extend offers
// when asked for more.
func (s *Service) ExtendToCap(ctx context.Context, a Actor, id string) (Reply, error) {
	u, r, err := s.extendable(ctx, a, id)
	if err != nil {
		return Reply{}, err
	}
	limit, ok := approvals.ExtensionLimit(r)
	if !ok {
		return Reply{}, refuse(EInvalid, "The %s tier has no cap; extend %s by a duration: /clone extend %s 2h.", r.Tier, r.ID, r.ID)
	}
	return s.extend(ctx, a.by(u), r, limit, fmt.Sprintf("extended the clone by %s to its tier's cap, until %s",
		approvals.FormatDuration(limit.Sub(r.ExpiresAt)), approvals.FormatTime(limit)))
}

// extendable loads a ready clone the actor may extend that has room left under its cap.
func (s *Service) extendable(ctx context.Context, a Actor, id string) (User, *approvals.Request, error) {
	u, r, err := s.managed(ctx, a, id, "extend")
	if err != nil {
		return User{}, nil, err
	}
	if r.Status != approvals.StatusReady {
		return User{}, nil, refuse(EConflict, "%s is %s; only a ready clone can be extended.", r.ID, r.Status)
	}
	if limit, ok := approvals.ExtensionLimit(r); ok && limit.Sub(r.ExpiresAt) < time.Minute {
		return User{}, nil, refuse(EInvalid, "%s is already at its tier's cap of %s in total; it cannot be extended.", r.ID, approvals.FormatDuration(r.MaxTTL))
	}
	return u, r, nil
}

// extend moves r's expiry to until, with text as the thread's note; by is who asked.
func (s *Service) extend(ctx context.Context, by string, r *approvals.Request, until time.Time, text string) (Reply, error) {
	moved, err := s.store.Extend(ctx, r.ID, by, until, s.now(), approvals.Note(by, text))
	if errors.Is(err, approvals.ErrNotActive) {
		return Reply{}, refuse(EConflict, "%s is no longer ready; it cannot be extended.", r.ID)
	}
	if err != nil {
		return Reply{}, err
	}
	rep := said("%s: %s.", r.ID, capitalise(text))
	rep.Request = moved
	return rep, nil
}

// Destroy tears a clone down now.
func (s *Service) Destroy(ctx context.Context, a Actor, id string) (Reply, error) {
	u, r, err := s.managed(ctx, a, id, "destroy")
	if err != nil {
		return Reply{}, err
	}
	switch {
	case r.Status == approvals.StatusPending:
		return Reply{}, refuse(EConflict, "%s is still pending; /clone cancel %s withdraws it.", r.ID, r.ID)
	case r.Status == approvals.StatusDestroying:
		return said("%s is already being destroyed.", r.ID), nil
	case !approvals.CanTransition(r.Status, approvals.StatusDestroying):
		return Reply{}, refuse(EConflict, "%s is %s; there is nothing to destroy.", r.ID, r.Status)
	}
	if err := s.lifecycle.DestroyNow(ctx, r, a.by(u), approvals.Note(a.by(u), "asked for the clone to be destroyed now")); err != nil {
		return Reply{}, fmt.Errorf("destroy %s: %w", r.ID, err)
	}
	rep := said("%s is being destroyed; the thread says when it is gone.", r.ID)
	rep.Request = r
	return rep, nil
}

// Cancel withdraws a pending request.
func (s *Service) Cancel(ctx context.Context, a Actor, id string) (Reply, error) {
	u, r, err := s.managed(ctx, a, id, "cancel")
	if err != nil {
		return Reply{}, err
	}
	r, err = s.store.Cancel(ctx, r.ID, a.by(u), s.now(), approvals.Note(a.by(u), "cancelled the request"))
	if err == nil {
		s.requests.WithLabelValues(r.Tier, "cancelled").Inc()
	}
	if errors.Is(err, approvals.ErrNotPending) {
		cur, gerr := s.store.Get(ctx, id)
		if gerr != nil {
			return Reply{}, gerr
		}
		if cur.Status.Active() {
			return Reply{}, refuse(EConflict, "%s is already %s; /clone destroy %s removes the clone.", id, cur.Status, id)
		}
		return Reply{}, refuse(EConflict, "%s is already %s; nothing to cancel.", id, cur.Status)
	}
	if err != nil {
		return Reply{}, err
	}
	rep := said("%s is cancelled.", r.ID)
	rep.Request = r
	return rep, nil
}

// managed loads a request the actor wants to change; only its requester or an admin may.
func (s *Service) managed(ctx context.Context, a Actor, id, verb string) (User, *approvals.Request, error) {
	u, err := s.user(ctx, a.User)
	if err != nil {
		return User{}, nil, err
	}
	r, err := s.get(ctx, id)
	if err != nil {
		return User{}, nil, err
	}
	if !s.mayManage(u, r) {
		return User{}, nil, refuse(EForbidden, "Only the requester of %s or an admin can %s it.", r.ID, verb)
	}
	return u, r, nil
}

// DestroyAll is the kill switch: admins only; every pending request is cancelled, every clone
// destroyed, and security is alerted.
func (s *Service) DestroyAll(ctx context.Context, a Actor) (Reply, error) {
	u, err := s.user(ctx, a.User)
	if err != nil {
		return Reply{}, err
	}
	if !s.policy.IsAdmin(u.ID, u.Groups) {
		s.log.Warn("destroy-all refused", zap.String("user", u.ID))
		return Reply{}, refuse(EForbidden, "Only admins can use the kill switch.")
	}
	active, err := s.store.ListActive(ctx)
	if err != nil {
		return Reply{}, err
	}
	var cancelled, destroying int
	var errs []error
	for _, r := range active {
		// step 1: pending requests are withdrawn; step 2: everything else is torn down.
		if r.Status == approvals.StatusPending {
			_, err := s.store.Cancel(ctx, r.ID, u.ID, s.now(), approvals.Note(u.ID, "cancelled the request with the kill switch"))
			if err == nil {
				cancelled++
				continue
			}
			if !errors.Is(err, approvals.ErrNotPending) {
				errs = append(errs, err)
				continue
			}
			if r, err = s.store.Get(ctx, r.ID); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		if !approvals.CanTransition(r.Status, approvals.StatusDestroying) {
			continue
		}
		if err := s.lifecycle.DestroyNow(ctx, r, u.ID, approvals.Note(u.ID, "destroyed the clone with the kill switch")); err != nil {
			errs = append(errs, fmt.Errorf("destroy %s: %w", r.ID, err))
			continue
		}
		destroying++
	}
	// step 3: security hears of it, whatever happened.
	summary := fmt.Sprintf("Kill switch used: %d pending request(s) cancelled, %d clone(s) being destroyed, %d failure(s).",
		cancelled, destroying, len(errs))
	if _, err := s.store.Announce(ctx, SystemMailbox, "", approvals.Notice{Kind: approvals.NoticeAlert, By: u.ID, Text: summary}); err != nil {
		s.log.Error("kill switch security alert not recorded", zap.Error(err))
	}
	if len(errs) > 0 {
		return Reply{}, fmt.Errorf("destroy-all: %d of %d: %w", len(errs), len(active), errors.Join(errs...))
	}
	return said("%s", summary), nil
}

// Help lists the commands (usage, from the caller) and what this person may ask for.
func (s *Service) Help(ctx context.Context, a Actor, usage []string) (Reply, error) {
	u, err := s.user(ctx, a.User)
	if err != nil {
		return Reply{}, err
	}
	var tiers []string
	for _, name := range s.policy.TierNames() {
		t := s.policy.Tiers[name]
		if approvals.MatchesAny(t.Requesters, u.ID, u.Groups) {
			tiers = append(tiers, fmt.Sprintf("%s (%s masking, %s approval, ttl %s up to %s)", name, t.Masking, t.Approval,
				approvals.FormatDuration(time.Duration(t.DefaultTTL)), approvals.FormatDuration(time.Duration(t.MaxTTL))))
		}
	}
	lines := []string{"Sources: " + strings.Join(s.policy.SourceNames(), ", ")}
	if len(tiers) == 0 {
		lines = append(lines, "You are not in any group that may request a clone; ask an admin.")
	} else {
		lines = append(lines, "Tiers you may request: "+strings.Join(tiers, "; "))
	}
	return Reply{Text: "clonebot makes temporary, masked copies of production databases.", Lines: lines, Usage: usage}, nil
}
