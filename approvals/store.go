package approvals

import (
	"context"
	"errors"
	"time"
)

// Errors the Store returns; callers match them with errors.Is.
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
	VoteNotEligible  VoteOutcome = "not_eligible"  // not in any slot, or only in slots already filled
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
}

// Limits are checked atomically when a request is created.
type Limits struct {
	PerUser int // 0: no limit
	PerTeam int // 0: no limit
}

// Store persists requests. Every method that changes a request is one atomic operation that
// checks the current state first, and appends the change to the audit outbox in the same step.
type Store interface {
	// Create stores a new request (pending, or approved for auto tiers). ErrExists if the id is
	// taken; ErrQuotaExceeded if the requester or their team is at a limit.
	Create(ctx context.Context, r *Request, lim Limits) error
	// Get returns a request. ErrNotFound.
	Get(ctx context.Context, id string) (*Request, error)
	// Vote records an approval or denial and decides the outcome. ErrNotFound.
	Vote(ctx context.Context, v VoteInput) (VoteResult, error)
	// Transition moves a request along the state machine. Moving to the status it is already
	// in is a no-op that returns the request (a retried event); an illegal move returns an
	// *IllegalTransitionError (errors.Is ErrIllegalTransition). ErrNotFound.
	Transition(ctx context.Context, t TransitionInput) (*Request, error)
	// Extend moves a ready clone's expiry to until (the caller caps it with CapExtension).
	// ErrNotActive if it is not ready. ErrNotFound.
	Extend(ctx context.Context, id, by string, until time.Time, at time.Time) (*Request, error)
	// Cancel withdraws a pending request; only the requester (or an admin, checked by the
	// caller) may. ErrNotPending if it is no longer pending. ErrNotFound.
	Cancel(ctx context.Context, id, by string, at time.Time) (*Request, error)
	// SetMessage records where the request's card is in Slack.
	SetMessage(ctx context.Context, id, channel, ts string) error

	// DuePending returns up to limit ids of pending requests whose approval window ends at or
	// before t, soonest first. It costs O(log n + due).
	DuePending(ctx context.Context, t time.Time, limit int) ([]string, error)
	// DueExpiry returns up to limit ids of ready clones whose TTL ends at or before t.
	DueExpiry(ctx context.Context, t time.Time, limit int) ([]string, error)
	// ActiveCount returns the user's active requests.
	ActiveCount(ctx context.Context, user string) (int, error)
	// ListUser returns the user's active requests, newest first.
	ListUser(ctx context.Context, user string) ([]*Request, error)
	// ListActive returns every active request, newest first.
	ListActive(ctx context.Context) ([]*Request, error)

	// AcquireLease takes the per-request lease for owner for ttl, or renews it if owner already
	// holds it. ErrLeaseHeld if someone else holds it.
	AcquireLease(ctx context.Context, id, owner string, ttl time.Duration) error
	// ReleaseLease gives the lease up if owner holds it.
	ReleaseLease(ctx context.Context, id, owner string) error
}
