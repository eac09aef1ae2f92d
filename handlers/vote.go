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
// An approval of a tier whose approvers confirm in a modal (approvals.Policy.ConfirmsInModal)
// is not counted from the click: when it would count, the Reply's Confirm asks for the modal,
// whose submission calls ConfirmApproval.
func (s *Service) Vote(ctx context.Context, a Actor, id string, d approvals.Decision, reason string) (Reply, error) {
	return s.vote(ctx, a, id, d, reason, false)
}

// ConfirmApproval records an approval confirmed in the modal Vote asked for.
func (s *Service) ConfirmApproval(ctx context.Context, a Actor, id string) (Reply, error) {
	return s.vote(ctx, a, id, approvals.DecisionApprove, "", true)
}

func (s *Service) vote(ctx context.Context, a Actor, id string, d approvals.Decision, reason string, confirmed bool) (Reply, error) {
	// step 1: who clicked, with their groups as of now.
	u, err := s.user(ctx, a.User)
	if err != nil {
		return Reply{}, err
	}
	r, err := s.get(ctx, id)
	if err != nil {
		return Reply{}, err
	}
	in := approvals.VoteInput{RequestID: id, Voter: u.ID, Groups: u.Groups, Decision: d, Reason: strings.TrimSpace(reason), At: s.now()}

	// step 2: an approval that must be confirmed is not counted yet; one that would not count
	// is answered now, rather than after a modal.
	if d == approvals.DecisionApprove && !confirmed && s.policy.ConfirmsInModal(r) {
		if o := approvals.DecideVote(r, in); !o.Changed() {
			return Reply{}, voteRefusal(approvals.VoteResult{Result: o, Request: r}, u, d)
		}
		return Reply{Confirm: r}, nil
	}

	// step 3: the store counts it or says why not.
	res, err := s.store.Vote(ctx, in)
	if err != nil {
		return Reply{}, err
	}
	r = res.Request
	if !res.Result.Changed() {
		return Reply{}, voteRefusal(res, u, d)
	}

	// step 4: the store recorded the card and the vote's notices with the vote; the clone is
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
	text, lines := stillNeeds(r)
	return Reply{Text: fmt.Sprintf("You approved %s; %s", r.ID, text), Lines: lines}, nil
}

// voteRefusal answers u's vote (d) that changed nothing.
func voteRefusal(res approvals.VoteResult, u User, d approvals.Decision) *Error {
	r, voter := res.Request, u.ID
	switch res.Result {
	case approvals.VoteSelf:
		return refuse(EForbidden, "You cannot approve or deny your own request %s.", r.ID)
	case approvals.VoteAlreadyVoted:
		v, _ := r.VoteOf(voter)
		verb := "approved"
		if v.Decision == approvals.DecisionDeny {
			verb = "denied"
		}
		return refuse(EConflict, "You already %s %s at %s; one person counts once.", verb, r.ID, approvals.FormatTime(v.At))
	case approvals.VoteNotPending:
		if r.Status == approvals.StatusPending {
			return refuse(EConflict, "The approval window of %s closed at %s; your click changed nothing.", r.ID, approvals.FormatTime(r.PendingExpiresAt))
		}
		return refuse(EConflict, "%s is already %s; your click changed nothing.", r.ID, r.Status)
	case approvals.VoteNotEligible:
		mine := approvals.EligibleSlots(r.Slots, u.ID, u.Groups)
		text, lines := stillNeeds(r)
		var e *Error
		switch {
		case len(mine) == 0 && d == approvals.DecisionDeny:
			e = refuse(EForbidden, "You cannot deny %s: you are not one of its approvers; %s", r.ID, text)
		case len(mine) == 0:
			e = refuse(EForbidden, "You cannot approve %s: you are not one of its approvers; %s", r.ID, text)
		default:
			e = refuse(EForbidden, "You cannot approve %s: the approvals so far already fill every slot you could (%s); %s",
				r.ID, slotNames(r, mine), text)
		}
		e.Lines = lines
		return e
	}
	return refuse(EConflict, "Your vote on %s was not counted (%s).", r.ID, res.Result)
}

// openSlots are the approver slots one more approval could fill now (approvals.NeededSlots):
// someone who may fill one of them is counted.
func openSlots(r *approvals.Request) []approvals.Slot {
	var out []approvals.Slot
	for _, i := range r.NeededSlots() {
		out = append(out, r.Slots[i])
	}
	return out
}

// stillNeeds says how many more approvals r needs and, as lines, from whom.
func stillNeeds(r *approvals.Request) (string, []string) {
	missing := 0
	for _, who := range r.FilledSlots() {
		if who == "" {
			missing++
		}
	}
	open := openSlots(r)
	switch {
	case missing == 0 || len(open) == 0:
		return "it needs no more approvals.", nil
	case missing == 1:
		return "it still needs one more approval, from someone in:", approverLines(open)
	}
	return fmt.Sprintf("it still needs %d more approvals, each from a different person, from:", missing), approverLines(open)
}

// slotNames lists the names of r's slots at indexes.
func slotNames(r *approvals.Request, indexes []int) string {
	var names []string
	for _, i := range indexes {
		names = append(names, r.Slots[i].Name)
	}
	return strings.Join(names, ", ")
}
