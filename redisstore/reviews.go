package redisstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/clonebot/clonebot/approvals"
)

// Review records a member of the security team's post-incident review of an ended break-glass
// clone, with the audit event and the notices that show it. approvals.ErrSelfReview when by is
// its requester (the refusal is audited too); approvals.ErrNotReviewable when it is no ended
// break-glass clone, or is reviewed already. ErrNotFound.
func (s *Store) Review(ctx context.Context, in approvals.ReviewInput) (*approvals.Request, error) {
	if in.By == "" {
		return nil, fmt.Errorf("review %s: a reviewer is required", in.RequestID)
	}
	if in.At.IsZero() {
		in.At = s.now()
	}
	b, err := json.Marshal(reviewDTO{By: in.By, Notes: in.Notes, At: ms(in.At)})
	if err != nil {
		return nil, fmt.Errorf("review %s: %w", in.RequestID, err)
	}
	rep, err := s.run(ctx, s.scripts.review, in.RequestID, in.RequestID, in.By, in.Notes, ms(in.At), string(b))
	if err != nil {
		return nil, fmt.Errorf("review %s: %w", in.RequestID, err)
	}
	switch rep.code {
	case "ok":
		return fromHash(rep.fields)
	case "not_found":
		return nil, fmt.Errorf("review %s: %w", in.RequestID, approvals.ErrNotFound)
	case "self":
		return nil, fmt.Errorf("review %s by %s: %w", in.RequestID, in.By, approvals.ErrSelfReview)
	case "not_reviewable":
		return nil, fmt.Errorf("review %s (%s): %w", in.RequestID, rep.detail, approvals.ErrNotReviewable)
	}
	return nil, fmt.Errorf("review %s: unexpected answer %q", in.RequestID, rep.code)
}

// DueReviews returns up to limit ids of ended break-glass clones whose review is due at or
// before t and not done, the most overdue first.
func (s *Store) DueReviews(ctx context.Context, t time.Time, limit int) ([]string, error) {
	ids, err := s.due(ctx, s.k.reviews(), t, limit)
	if err != nil {
		return nil, fmt.Errorf("due reviews: %w", err)
	}
	return ids, nil
}

// ListReviews returns the ended break-glass clones waiting for review, the most overdue first.
func (s *Store) ListReviews(ctx context.Context) ([]*approvals.Request, error) {
	ids, err := s.c.ZRange(ctx, s.k.reviews(), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("list reviews: %w", err)
	}
	reqs, err := s.requests(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("list reviews: %w", err)
	}
	return reqs, nil
}

// SetReviewMessage records where the review task of request id is in the security channel.
func (s *Store) SetReviewMessage(ctx context.Context, id, ts string) error {
	if err := s.c.HSet(ctx, s.k.request(id), fReviewTS, ts).Err(); err != nil {
		return fmt.Errorf("record the review task of %s: %w", id, err)
	}
	return nil
}
