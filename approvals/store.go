package approvals

import (
	"errors"
	"time"
)

// Errors the request store returns; callers match them with errors.Is.
var (
	ErrNotFound          = errors.New("request not found")
	ErrExists            = errors.New("request id already exists")
	ErrIllegalTransition = errors.New("illegal transition")
	ErrQuotaExceeded     = errors.New("active clone quota exceeded")
	ErrNotPending        = errors.New("request is no longer pending")
	ErrSelfApproval      = errors.New("requesters cannot approve their own request")
	ErrNotEligible       = errors.New("not an eligible approver")
	ErrNotActive         = errors.New("request has no active clone")
	ErrLeaseHeld         = errors.New("lease held by another worker")
)

// VoteInput is one click on Approve or Deny.
type VoteInput struct {
	RequestID string
	Voter     string
	Groups    []string // the voter's user groups, resolved at click time
	Decision  Decision
	Reason    string // for denials
	At        time.Time
}

// VoteResult says what a vote did. A vote that changes nothing is not an error: its Result
// says why (already voted, not pending, self-approval, not eligible), for an ephemeral answer.
type VoteResult struct {
	Result  VoteOutcome
	Request *Request // the request after the vote
}

// VoteOutcome is what happened to a vote.
type VoteOutcome string

const (
	VoteCounted      VoteOutcome = "counted"       // counted; more approvals needed
	VoteApproved     VoteOutcome = "approved"      // counted; the request is now approved
	VoteDenied       VoteOutcome = "denied"        // counted; the request is now denied
	VoteAlreadyVoted VoteOutcome = "already_voted" // this person already voted; nothing changed
	VoteNotPending   VoteOutcome = "not_pending"   // already decided, expired or cancelled; nothing changed
	VoteSelf         VoteOutcome = "self"          // the requester cannot vote on their own request
	VoteNotEligible  VoteOutcome = "not_eligible"  // in no slot, or the approvals so far fill every slot this person could (see Admit)
)

// Changed reports whether the vote changed the request.
func (o VoteOutcome) Changed() bool {
	return o == VoteCounted || o == VoteApproved || o == VoteDenied
}

// TransitionInput moves a request to another status.
type TransitionInput struct {
	RequestID string
	To        Status
	From      []Status // if not empty, the request must currently be in one of these
	By        string   // user ID, or "clonebot"
	Note      string
	At        time.Time
	Clone     *CloneInfo // set with To=ready (or provisioning, once the clone exists)
	Failure   string     // set with To=failed
	Say       []Notice   // what to tell people, recorded with the change (a card notice always is)
	// ReviewDueAt, set with To=destroyed on a break-glass request, is when its post-incident
	// review is due: the request then waits in the store's reviews index until reviewed.
	ReviewDueAt time.Time
}

// ReviewInput is a member of the security team's post-incident review of a break-glass clone.
type ReviewInput struct {
	RequestID string
	By        string
	Notes     string
	At        time.Time
}

// Errors of Review.
var (
	ErrSelfReview    = errors.New("requesters cannot review their own break-glass clone")
	ErrNotReviewable = errors.New("request is no break-glass clone waiting for review")
)

// Limits are checked atomically when a request is created.
//
// There is no Store interface here: each user of the request store declares the methods it
// needs (handlers.Store, lifecycle.Store, bot's notifier), and redisstore.Store has them all.
// Every method that changes a request is one atomic step that checks the current state,
// appends the change to the audit outbox and records the Notices that announce it.
type Limits struct {
	PerUser int // 0: no limit
	PerTeam int // 0: no limit
}

// Marks are what the lifecycle remembers of a request between its passes, beside the request
// itself: its own bookkeeping, never shown to anyone.
type Marks struct {
	Attempts int       // failed attempts to create the clone so far
	RetryAt  time.Time // no new attempt before this time
	Enqueued bool      // the restore job is on the queue
	Told     time.Time // the expiry the backend was last told (credentials' VALID UNTIL, tags)
	Revoked  time.Time // when the clone's access was revoked at expiry (by the loop or the expiry guard)
}
