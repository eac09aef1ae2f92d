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
	if _, answer, err := s.get(ctx, id); err != nil || answer != nil {
		return deref(answer), err
	}

	// step 2: the store counts it or says why not.
	res, err := s.store.Vote(ctx, approvals.VoteInput{RequestID: id, Voter: u.ID, Groups: u.Groups, Decision: d,
		Reason: strings.TrimSpace(reason), At: s.now()})
	if err != nil {
		return Reply{}, err
	}
	r := res.Request
	if !res.Result.Changed() {
		return voteRefusal(res, u.ID), nil
	}

	// step 3: show it, and start the clone once approved.
	s.changed(ctx, r)
	switch res.Result {
	case approvals.VoteDenied:
		text := "denied the request"
		if v, ok := r.VoteOf(u.ID); ok && v.Reason != "" {
			text += ": " + v.Reason
		}
		s.note(ctx, r, u.ID, "%s", text)
		return said("You denied %s.", r.ID), nil
	case approvals.VoteApproved:
		s.note(ctx, r, u.ID, "approved%s; the request is approved", slotName(r, u.ID))
		if err := s.lifecycle.Approved(ctx, r); err != nil {
			s.log.Error("lifecycle start", zap.String("request_id", r.ID), zap.Error(err))
		}
		return said("You approved %s; the clone is being made.", r.ID), nil
	}
	s.note(ctx, r, u.ID, "approved%s", slotName(r, u.ID))
	return Reply{Text: fmt.Sprintf("You approved %s; it still needs:", r.ID), Lines: slotLines(openSlots(r))}, nil
}

// voteRefusal answers a vote that changed nothing.
func voteRefusal(res approvals.VoteResult, voter string) Reply {
	r := res.Request
	switch res.Result {
	case approvals.VoteSelf:
		return refused("You cannot approve or deny your own request %s.", r.ID)
	case approvals.VoteAlreadyVoted:
		v, _ := r.VoteOf(voter)
		verb := "approved"
		if v.Decision == approvals.DecisionDeny {
			verb = "denied"
		}
		return refused("You already %s %s at %s; one person counts once.", verb, r.ID, v.At.UTC().Format("15:04 MST"))
	case approvals.VoteNotPending:
		if r.Status == approvals.StatusPending {
			return refused("The approval window of %s closed at %s; your click changed nothing.", r.ID, r.PendingExpiresAt.UTC().Format("15:04 MST"))
		}
		return refused("%s is already %s; your click changed nothing.", r.ID, r.Status)
	case approvals.VoteNotEligible:
		open := openSlots(r)
		if len(open) == 0 {
			return refused("You are not an approver of %s.", r.ID)
		}
		rep := refused("You cannot approve %s: you are not in a group it still needs.", r.ID)
		rep.Lines = slotLines(open)
		return rep
	}
	return refused("Your vote on %s was not counted (%s).", r.ID, res.Result)
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

func slotName(r *approvals.Request, user string) string {
	v, ok := r.VoteOf(user)
	if !ok || v.Slot < 0 || v.Slot >= len(r.Slots) {
		return ""
	}
	return " as " + r.Slots[v.Slot].Name
}
