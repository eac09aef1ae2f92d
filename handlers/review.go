package handlers

import (
	"context"
	"errors"
	"strings"

	"github.com/clonebot/clonebot/approvals"
)

// MaxReviewNotesLen bounds a review's notes, in characters.
const MaxReviewNotesLen = 2000

// Review records a member of the security team's post-incident review of an ended break-glass
// clone. The requester may not review their own, and only the security team (the policy's
// security principals) may review at all; every refusal is audited.
func (s *Service) Review(ctx context.Context, a Actor, id, notes string) (Reply, error) {
	u, err := s.user(ctx, a.User)
	if err != nil {
		return Reply{}, err
	}
	notes = strings.TrimSpace(notes)
	if len([]rune(notes)) > MaxReviewNotesLen {
		return Reply{}, refuse(EInvalid, "Review notes are limited to %d characters.", MaxReviewNotesLen)
	}
	r, err := s.get(ctx, id)
	if err != nil {
		return Reply{}, err
	}
	if !s.policy.IsSecurity(u.ID, u.Groups) {
		if err := s.store.RecordEvent(ctx, r.ID, "review_refused", u.ID, s.now(), map[string]string{"reason": "not_security"}); err != nil {
			return Reply{}, err
		}
		return Reply{}, refuse(EForbidden, "Only the security team reviews break-glass clones.")
	}
	_, err = s.store.Review(ctx, approvals.ReviewInput{RequestID: r.ID, By: u.ID, Notes: notes, At: s.now()})
	switch {
	case errors.Is(err, approvals.ErrSelfReview):
		return Reply{}, refuse(EForbidden, "You cannot review your own break-glass clone %s; another member of the security team must.", r.ID)
	case errors.Is(err, approvals.ErrNotReviewable):
		if r.Review != nil {
			who := r.Review.By
			if by, err := s.dir.User(ctx, who); err == nil && by.Name != "" {
				who = by.Name
			}
			return Reply{}, refuse(EConflict, "%s was reviewed already, by %s.", r.ID, who)
		}
		return Reply{}, refuse(EConflict, "%s is no ended break-glass clone waiting for review.", r.ID)
	case err != nil:
		return Reply{}, err
	}
	return said("You reviewed %s; the review is in the audit log.", r.ID), nil
}
