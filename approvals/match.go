package approvals

// Approvals are a matching between the people who approved and the approver slots. Each
// person counts once and fills at most one slot; each slot is filled by one person who may
// fill it. A request is approved as soon as the people who approved so far can be assigned
// to every slot, whatever order they clicked in: with slot 1 = on-call or leads and slot 2 =
// leads or security, a lead's approval followed by an on-call engineer's approves the
// request (on-call → slot 1, lead → slot 2), although the lead could have taken slot 1.
//
// An approval is counted exactly when it lets the approvals so far fill more slots. One that
// does not is never needed later either: whoever approves afterwards, the request is
// approved with it exactly when it is approved without it (it lies in the closure of the
// approvals so far, in the transversal matroid of the slots). So an approval is refused
// only when no later set of approvers could ever need it.
//
// The vote script (redisstore) decides the same thing atomically in Lua, with the same
// algorithm, so both compute the same assignment; TestVoteMatchingExhaustive in redisstore
// checks them against each other and against a brute-force oracle.

// EligibleSlots lists, in ascending order, the indexes of the slots user (in groups) may fill.
func EligibleSlots(slots []Slot, user string, groups []string) []int {
	var out []int
	for i, s := range slots {
		if MatchesAny(s.Approvers, user, groups) {
			out = append(out, i)
		}
	}
	return out
}

// AssignSlots assigns approvers to nSlots slots: eligible[i] lists the slots approver i may
// fill (in the order to try them; indexes outside the slots are ignored). As many slots as
// possible are filled. assign[i] is approver i's slot, or -1.
//
// The assignment is deterministic: approvers are placed one by one in order, each by the
// first augmenting path a depth-first search finds (Kuhn's algorithm): an approver takes the
// first open slot they may fill; only when none is open does one of their slots' holders
// move on, tried in the order given, by the same rule. The Lua vote script runs the same
// steps.
func AssignSlots(nSlots int, eligible [][]int) []int {
	assign := make([]int, len(eligible))
	holder := make([]int, nSlots) // slot → approver, -1 when open
	for s := range holder {
		holder[s] = -1
	}
	var seen []bool
	var place func(i int) bool
	place = func(i int) bool {
		for _, s := range eligible[i] { // an open slot first: nobody moves
			if s >= 0 && s < nSlots && holder[s] < 0 {
				holder[s], assign[i] = i, s
				return true
			}
		}
		for _, s := range eligible[i] { // else a slot whose holder can move on
			if s < 0 || s >= nSlots || seen[s] {
				continue
			}
			seen[s] = true
			if place(holder[s]) {
				holder[s], assign[i] = i, s
				return true
			}
		}
		return false
	}
	for i := range eligible {
		assign[i] = -1
		seen = make([]bool, nSlots)
		place(i)
	}
	return assign
}

// Admission is the decision on one more approval.
type Admission struct {
	Counted  bool  // it fills a slot the approvals so far could not: it counts
	Complete bool  // with it, every slot is filled: the request is approved
	Assign   []int // everyone's slot with it (the new approval last), when counted
}

// Admit decides an approval by someone who may fill the slots next, after approvals whose
// eligible slots are given in vote order.
func Admit(nSlots int, approved [][]int, next []int) Admission {
	all := append(append(make([][]int, 0, len(approved)+1), approved...), next)
	assign := AssignSlots(nSlots, all)
	if assign[len(approved)] < 0 {
		return Admission{}
	}
	filled := 0
	for _, s := range assign {
		if s >= 0 {
			filled++
		}
	}
	return Admission{Counted: true, Complete: filled == nSlots, Assign: assign}
}

// approvalEligibility lists, in vote order, the slots each counted approval may fill.
// Approvals recorded before Vote.Eligible existed may fill the slot they were given.
func (r *Request) approvalEligibility() (users []string, eligible [][]int) {
	for _, v := range r.Votes {
		if v.Decision != DecisionApprove {
			continue
		}
		e := v.Eligible
		if len(e) == 0 {
			e = []int{v.Slot}
		}
		users = append(users, v.User)
		eligible = append(eligible, e)
	}
	return users, eligible
}

// NeededSlots lists the slots one more approval could fill now: those some assignment of the
// approvals so far leaves open. Someone who may fill one of them is counted; nobody else is.
// It is empty once every slot is filled.
func (r *Request) NeededSlots() []int {
	_, eligible := r.approvalEligibility()
	var out []int
	for s := range r.Slots {
		if Admit(len(r.Slots), eligible, []int{s}).Counted {
			out = append(out, s)
		}
	}
	return out
}

// Move is an earlier approver who counts for another slot after a later approval.
type Move struct {
	User     string
	From, To int
}

// ApprovalEffect says what user's counted approval did when it was cast: the slot it filled
// and the earlier approvers it moved to another slot to make room. ok is false when user has
// no counted approval.
func (r *Request) ApprovalEffect(user string) (slot int, moved []Move, ok bool) {
	users, eligible := r.approvalEligibility()
	k := -1
	for i, u := range users {
		if u == user {
			k = i
		}
	}
	if k < 0 {
		return -1, nil, false
	}
	before := AssignSlots(len(r.Slots), eligible[:k])
	after := AssignSlots(len(r.Slots), eligible[:k+1])
	for i := range before {
		if before[i] != after[i] {
			moved = append(moved, Move{User: users[i], From: before[i], To: after[i]})
		}
	}
	return after[k], moved, true
}

// DecideVote is what a vote on r would do, decided as the store's atomic vote decides it but
// without changing anything: one vote per person, only while pending inside the approval
// window, never the requester, a denial from anyone who may fill a slot, an approval as Admit
// says. Callers use it to answer before asking for a confirmation; the store's answer is the
// one that counts.
func DecideVote(r *Request, in VoteInput) VoteOutcome {
	if _, voted := r.VoteOf(in.Voter); voted {
		return VoteAlreadyVoted
	}
	if r.Status != StatusPending || (!r.PendingExpiresAt.IsZero() && !in.At.Before(r.PendingExpiresAt)) {
		return VoteNotPending
	}
	if in.Voter == r.Requester {
		return VoteSelf
	}
	mine := EligibleSlots(r.Slots, in.Voter, in.Groups)
	if len(mine) == 0 {
		return VoteNotEligible
	}
	if in.Decision == DecisionDeny {
		return VoteDenied
	}
	_, eligible := r.approvalEligibility()
	switch a := Admit(len(r.Slots), eligible, mine); {
	case a.Complete:
		return VoteApproved
	case a.Counted:
		return VoteCounted
	}
	return VoteNotEligible
}
