package handlers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/clonebot/clonebot/approvals"
)

// ExpireIn sets a ready clone to be destroyed left from now: sooner than it would be (its
// time shortened) or later (extended). Past its tier's cap on the clone's whole life it is
// refused as Extend refuses, saying the most that can be granted now. The change is recorded
// as an extension whose details carry both expiries.
func (s *Service) ExpireIn(ctx context.Context, a Actor, id string, left time.Duration) (Reply, error) {
	if left <= 0 {
		return Reply{}, refuse(EInvalid, "Give a positive time left, like 30m; to end the clone now, destroy it.")
	}
	u, r, err := s.managed(ctx, a, id, "change the expiry of")
	if err != nil {
		return Reply{}, err
	}
	if r.Status != approvals.StatusReady {
		return Reply{}, refuse(EConflict, "%s is %s; only a ready clone's expiry can be changed.", r.ID, r.Status)
	}
	now := s.now()
	until := now.Add(left).Truncate(time.Millisecond) // the store keeps milliseconds
	if limit, ok := approvals.ExtensionLimit(r); ok && until.After(limit) {
		e := refuse(EInvalid, "%s cannot expire in %s: the %s tier allows %s in total from ready. The latest it can expire is %s, in %s.",
			r.ID, approvals.FormatDuration(left), r.Tier, approvals.FormatDuration(r.MaxTTL), approvals.FormatTime(limit), approvals.FormatDuration(limit.Sub(now)))
		if limit.After(r.ExpiresAt) {
			e.Offer = &Offer{Kind: OfferExtendToCap, RequestID: r.ID, By: limit.Sub(r.ExpiresAt), Until: limit}
		}
		return Reply{}, e
	}
	verb := "extended"
	switch {
	case until.Equal(r.ExpiresAt):
		rep := said("%s already expires at %s.", r.ID, approvals.FormatTime(until))
		rep.Request = r
		return rep, nil
	case until.Before(r.ExpiresAt):
		verb = "shortened"
	}
	text := fmt.Sprintf("%s the clone's life: it now expires at %s", verb, approvals.FormatTime(until))
	r, err = s.store.Extend(ctx, r.ID, a.by(u), until, now, approvals.Note(a.by(u), text))
	if errors.Is(err, approvals.ErrNotActive) {
		return Reply{}, refuse(EConflict, "%s is no longer ready; its expiry cannot be changed.", id)
	}
	if err != nil {
		return Reply{}, err
	}
	rep := said("%s: %s.", r.ID, capitalise(text))
	rep.Request = r
	return rep, nil
}
