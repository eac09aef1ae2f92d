package handlers

import (
	"context"
	"fmt"
	"strings"

	"go.uber.org/zap"

	"github.com/clonebot/clonebot/approvals"
)

// Vote records an Approve or Deny click. The store decides atomically, with the voter's groups
// looked up now, whether the vote counts; a vote that does not count gets a precise answer.
func (s *Service) Vote(ctx context.Context, a Actor, id string, d approvals.Decision, reason string) (Reply, error) {
	// step 1: who clicked, with their groups as of now.
	u, err := s.user(ctx, a.User)
	if err != nil {
		return Reply{}, err
	}
	if _, err := s.get(ctx, id); err != nil {
		return Reply{}, err
	}

	// step 2: the store counts it or says why not.
	res, err := s.store.Vote(ctx, approvals.VoteInput{RequestID: id, Voter: u.ID, Groups: u.Groups, Decision: d,
		Reason: strings.TrimSpace(reason), At: s.now()})
	if err != nil {
		return Reply{}, err
	}
	r := res.Request
	if !res.Result.Changed() {
		return Reply{}, voteRefusal(res, u.ID)
	}

	// step 3: the store recorded the card and the vote's notices with the vote; the clone is
	// started once approved.
	switch res.Result {
	case approvals.VoteDenied:
		s.requests.WithLabelValues(r.Tier, "denied").Inc()
		return said("You denied %s.", r.ID), nil
	case approvals.VoteApproved:
		s.requests.WithLabelValues(r.Tier, "approved").Inc()
		if err := s.lifecycle.Approved(ctx, r); err != nil {
			s.log.Error("lifecycle start", zap.String("request_id", r.ID), zap.Error(err))
		}
		return said("You approved %s; the clone is being made.", r.ID), nil
	}
	return Reply{Text: fmt.Sprintf("You approved %s; it still needs:", r.ID), Lines: slotLines(openSlots(r))}, nil
}

// voteRefusal answers a vote that changed nothing.
func voteRefusal(res approvals.VoteResult, voter string) *Error {
	r := res.Request
	switch res.Result {
	case approvals.VoteSelf:
		return refuse(EForbidden, "You cannot approve or deny your own request %s.", r.ID)
	case approvals.VoteAlreadyVoted:
		v, _ := r.VoteOf(voter)
		verb := "approved"
		if v.Decision == approvals.DecisionDeny {
			verb = "denied"
		}
		return refuse(EConflict, "You already %s %s at %s; one person counts once.", verb, r.ID, v.At.UTC().Format("15:04 MST"))
	case approvals.VoteNotPending:
		if r.Status == approvals.StatusPending {
			return refuse(EConflict, "The approval window of %s closed at %s; your click changed nothing.", r.ID, r.PendingExpiresAt.UTC().Format("15:04 MST"))
		}
		return refuse(EConflict, "%s is already %s; your click changed nothing.", r.ID, r.Status)
	case approvals.VoteNotEligible:
		open := openSlots(r)
		if len(open) == 0 {
			return refuse(EForbidden, "You are not an approver of %s.", r.ID)
		}
		e := refuse(EForbidden, "You cannot approve %s: you are not in a group it still needs.", r.ID)
		e.Lines = slotLines(open)
		return e
	}
	return refuse(EConflict, "Your vote on %s was not counted (%s).", r.ID, res.Result)
}

// openSlots are the approver slots still unfilled.
func openSlots(r *approvals.Request) []approvals.Slot {
	var out []approvals.Slot
	for i, who := range r.FilledSlots() {
		if who == "" {
			out = append(out, r.Slots[i])
		}
	}
	return out
}
