package redisstore

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clonebot/clonebot/approvals"
)

// voter is one click: who, in which groups, approve or deny.
type voter struct {
	user   string
	groups []string
	deny   bool
}

func (v voter) input(id string, at time.Time) approvals.VoteInput {
	d := approvals.DecisionApprove
	if v.deny {
		d = approvals.DecisionDeny
	}
	return approvals.VoteInput{RequestID: id, Voter: v.user, Groups: v.groups, Decision: d, At: at}
}

var (
	oncallA  = voter{user: "UONA", groups: []string{"oncall"}}
	oncallB  = voter{user: "UONB", groups: []string{"oncall", "eng"}}
	security = voter{user: "USEC", groups: []string{"security"}}
	both     = voter{user: "UBOTH", groups: []string{"security", "oncall"}}
	boss     = voter{user: "UBOSS"} // named in the security slot as user:UBOSS
	stranger = voter{user: "USTR", groups: []string{"eng"}}
	self     = voter{user: requester, groups: []string{"oncall", "security"}}
	lead     = voter{user: "ULEAD", groups: []string{"leads"}}
)

func TestVote(t *testing.T) {
	tests := []struct {
		name        string
		request     func(id string) *approvals.Request
		before      []voter // votes cast first
		cancelled   bool    // cancel the request before the vote
		late        bool    // vote at the end of the approval window
		give        voter
		want        approvals.VoteOutcome
		wantStatus  approvals.Status
		wantFilled  []string // FilledSlots after the vote
		wantVoteOf  approvals.Decision
		wantChanged bool
	}{
		{name: "first of two approvals is counted", request: dual, give: oncallA,
			want: approvals.VoteCounted, wantStatus: approvals.StatusPending, wantFilled: []string{"UONA", ""}, wantVoteOf: approvals.DecisionApprove},
		{name: "second slot approves", request: dual, before: []voter{oncallA}, give: security,
			want: approvals.VoteApproved, wantStatus: approvals.StatusApproved, wantFilled: []string{"UONA", "USEC"}, wantVoteOf: approvals.DecisionApprove},
		{name: "security first, then on-call approves", request: dual, before: []voter{security}, give: oncallB,
			want: approvals.VoteApproved, wantStatus: approvals.StatusApproved, wantFilled: []string{"UONB", "USEC"}, wantVoteOf: approvals.DecisionApprove},
		{name: "a user principal fills its slot", request: dual, before: []voter{oncallA}, give: boss,
			want: approvals.VoteApproved, wantStatus: approvals.StatusApproved, wantFilled: []string{"UONA", "UBOSS"}, wantVoteOf: approvals.DecisionApprove},
		{name: "single approval", request: single, give: lead,
			want: approvals.VoteApproved, wantStatus: approvals.StatusApproved, wantFilled: []string{"ULEAD"}, wantVoteOf: approvals.DecisionApprove},
		{name: "a deny ends the request", request: dual, give: voter{user: "USEC", groups: []string{"security"}, deny: true},
			want: approvals.VoteDenied, wantStatus: approvals.StatusDenied, wantFilled: []string{"", ""}, wantVoteOf: approvals.DecisionDeny},
		{name: "a deny after one approval ends the request", request: dual, before: []voter{oncallA}, give: voter{user: "UONB", groups: []string{"oncall"}, deny: true},
			want: approvals.VoteDenied, wantStatus: approvals.StatusDenied, wantFilled: []string{"UONA", ""}, wantVoteOf: approvals.DecisionDeny},
		{name: "already voted: second click", request: dual, before: []voter{oncallA}, give: oncallA,
			want: approvals.VoteAlreadyVoted, wantStatus: approvals.StatusPending, wantFilled: []string{"UONA", ""}, wantVoteOf: approvals.DecisionApprove},
		{name: "already approved by you, after the request is approved", request: single, before: []voter{lead}, give: lead,
			want: approvals.VoteAlreadyVoted, wantStatus: approvals.StatusApproved, wantFilled: []string{"ULEAD"}, wantVoteOf: approvals.DecisionApprove},
		{name: "already voted: deny after own approval changes nothing", request: dual, before: []voter{oncallA}, give: voter{user: "UONA", groups: []string{"oncall"}, deny: true},
			want: approvals.VoteAlreadyVoted, wantStatus: approvals.StatusPending, wantFilled: []string{"UONA", ""}, wantVoteOf: approvals.DecisionApprove},
		{name: "not pending: already approved", request: single, before: []voter{lead}, give: voter{user: "UL2", groups: []string{"leads"}},
			want: approvals.VoteNotPending, wantStatus: approvals.StatusApproved, wantFilled: []string{"ULEAD"}},
		{name: "not pending: denied", request: dual, before: []voter{{user: "USEC", groups: []string{"security"}, deny: true}}, give: oncallA,
			want: approvals.VoteNotPending, wantStatus: approvals.StatusDenied, wantFilled: []string{"", ""}},
		{name: "not pending: cancelled", request: dual, cancelled: true, give: oncallA,
			want: approvals.VoteNotPending, wantStatus: approvals.StatusCancelled, wantFilled: []string{"", ""}},
		{name: "not pending: approval window over", request: dual, late: true, give: oncallA,
			want: approvals.VoteNotPending, wantStatus: approvals.StatusPending, wantFilled: []string{"", ""}},
		{name: "self approval", request: dual, give: self,
			want: approvals.VoteSelf, wantStatus: approvals.StatusPending, wantFilled: []string{"", ""}},
		{name: "self denial", request: dual, give: voter{user: requester, groups: []string{"security"}, deny: true},
			want: approvals.VoteSelf, wantStatus: approvals.StatusPending, wantFilled: []string{"", ""}},
		{name: "not eligible", request: dual, give: stranger,
			want: approvals.VoteNotEligible, wantStatus: approvals.StatusPending, wantFilled: []string{"", ""}},
		{name: "not eligible to deny", request: dual, give: voter{user: "USTR", groups: []string{"eng"}, deny: true},
			want: approvals.VoteNotEligible, wantStatus: approvals.StatusPending, wantFilled: []string{"", ""}},
		{name: "second slot needs a distinct person: on-call slot already filled", request: dual, before: []voter{oncallA}, give: oncallB,
			want: approvals.VoteNotEligible, wantStatus: approvals.StatusPending, wantFilled: []string{"UONA", ""}},
		{name: "person in both groups fills the first open slot", request: dual, give: both,
			want: approvals.VoteCounted, wantStatus: approvals.StatusPending, wantFilled: []string{"UBOTH", ""}, wantVoteOf: approvals.DecisionApprove},
		{name: "person in both groups fills the slot left open", request: dual, before: []voter{oncallA}, give: both,
			want: approvals.VoteApproved, wantStatus: approvals.StatusApproved, wantFilled: []string{"UONA", "UBOTH"}, wantVoteOf: approvals.DecisionApprove},
		{name: "after a person in both groups, on-call approves: the first moves to security", request: dual, before: []voter{both}, give: oncallA,
			want: approvals.VoteApproved, wantStatus: approvals.StatusApproved, wantFilled: []string{"UONA", "UBOTH"}, wantVoteOf: approvals.DecisionApprove},
		{name: "an approval stored without its eligible slots keeps its slot", request: legacyVote, give: both,
			want: approvals.VoteApproved, wantStatus: approvals.StatusApproved, wantFilled: []string{"UONA", "UBOTH"}, wantVoteOf: approvals.DecisionApprove},
		{name: "issue 14: a lead, then on-call, over overlapping slots", request: overlapping, before: []voter{lead}, give: oncallA,
			want: approvals.VoteApproved, wantStatus: approvals.StatusApproved, wantFilled: []string{"UONA", "ULEAD"}, wantVoteOf: approvals.DecisionApprove},
		{name: "overlapping slots: a second on-call fills nothing the first did not", request: overlapping, before: []voter{oncallA}, give: oncallB,
			want: approvals.VoteNotEligible, wantStatus: approvals.StatusPending, wantFilled: []string{"UONA", ""}},
		{name: "after a person in both groups, security approves", request: dual, before: []voter{both}, give: security,
			want: approvals.VoteApproved, wantStatus: approvals.StatusApproved, wantFilled: []string{"UBOTH", "USEC"}, wantVoteOf: approvals.DecisionApprove},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			ctx := context.Background()
			id := fmt.Sprintf("cl-v%d", i)
			f.create(tt.request(id))
			for _, v := range tt.before {
				if res, err := f.s.Vote(ctx, v.input(id, t0.Add(time.Minute))); err != nil || !res.Result.Changed() {
					t.Fatalf("vote before by %s: %+v %v", v.user, res.Result, err)
				}
			}
			if tt.cancelled {
				if _, err := f.s.Cancel(ctx, id, requester, t0.Add(time.Minute)); err != nil {
					t.Fatal(err)
				}
			}
			at := t0.Add(2 * time.Minute)
			if tt.late {
				at = t0.Add(time.Hour) // == PendingExpiresAt
			}
			before := f.get(id)
			cursor := f.lastID()

			res, err := f.s.Vote(ctx, tt.give.input(id, at))
			if err != nil {
				t.Fatal(err)
			}
			if res.Result != tt.want {
				t.Fatalf("outcome %s, want %s", res.Result, tt.want)
			}
			if got := approvals.DecideVote(before, tt.give.input(id, at)); got != res.Result {
				t.Fatalf("approvals.DecideVote says %s, the script %s", got, res.Result)
			}
			if res.Request.Status != tt.wantStatus {
				t.Fatalf("status %s, want %s", res.Request.Status, tt.wantStatus)
			}
			if got := res.Request.FilledSlots(); !slices.Equal(got, tt.wantFilled) {
				t.Fatalf("filled slots %q, want %q", got, tt.wantFilled)
			}
			v, voted := res.Request.VoteOf(tt.give.user)
			if voted != (tt.wantVoteOf != "") || v.Decision != tt.wantVoteOf {
				t.Fatalf("vote of %s: %+v %v, want %q", tt.give.user, v, voted, tt.wantVoteOf)
			}
			assertSame(t, f.get(id), res.Request)
			events := f.typesAfter(cursor)
			if !res.Result.Changed() {
				// a vote that changes nothing writes nothing.
				assertSame(t, res.Request, before)
				if len(events) != 0 {
					t.Fatalf("no-op vote emitted %v", events)
				}
				return
			}
			wantEvents := []string{"voted"}
			if tt.wantStatus != approvals.StatusPending {
				wantEvents = append(wantEvents, string(tt.wantStatus))
			}
			if !slices.Equal(events, wantEvents) {
				t.Fatalf("outbox %v, want %v", events, wantEvents)
			}
			if got, want := f.indexesOf(res.Request), wantIndexes(tt.wantStatus); got != want {
				t.Fatalf("indexes %+v, want %+v", got, want)
			}
		})
	}
}

// legacyVote is a dual request with an on-call approval stored before votes recorded the
// slots their approver could fill: it may fill the slot it was given.
func legacyVote(id string) *approvals.Request {
	r := dual(id)
	r.Votes = []approvals.Vote{{User: "UONA", Decision: approvals.DecisionApprove, Slot: 0, At: t0}}
	return r
}

// TestVoteEligibilityMatchesPrincipal checks the script's principal matching against
// approvals.Principal.Matches, on a one-slot request per principal.
func TestVoteEligibilityMatchesPrincipal(t *testing.T) {
	f := newFixture(t)
	principals := []approvals.Principal{"user:U1", "group:g", "group:", "user:U1:x", "bogus", "user", "group:g:h", "role:g"}
	voters := []voter{
		{user: "U1"}, {user: "U2", groups: []string{"g"}}, {user: "U3", groups: []string{""}},
		{user: "U1:x"}, {user: "U4", groups: []string{"g:h"}}, {user: "U5", groups: []string{"G"}},
	}
	n := 0
	for _, p := range principals {
		for _, v := range voters {
			n++
			r := single(fmt.Sprintf("cl-p%d", n))
			r.Slots = []approvals.Slot{{Name: "s", Approvers: []approvals.Principal{p}}}
			f.create(r)
			res := f.vote(r.ID, v.user, approvals.DecisionApprove, t0, v.groups...)
			want := approvals.VoteNotEligible
			if p.Matches(v.user, v.groups) {
				want = approvals.VoteApproved
			}
			if res.Result != want || approvals.Eligible(r, v.user, v.groups) != (want == approvals.VoteApproved) {
				t.Errorf("principal %q, voter %s in %q: %s, want %s", p, v.user, v.groups, res.Result, want)
			}
		}
	}
}

func TestVoteErrors(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.create(dual("cl-err"))
	tests := []struct {
		name string
		give approvals.VoteInput
		is   error
	}{
		{"unknown request", approvals.VoteInput{RequestID: "cl-none", Voter: "U1", Decision: approvals.DecisionApprove}, approvals.ErrNotFound},
		{"no voter", approvals.VoteInput{RequestID: "cl-err", Decision: approvals.DecisionApprove}, nil},
		{"unknown decision", approvals.VoteInput{RequestID: "cl-err", Voter: "U1", Decision: "maybe"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.s.Vote(ctx, tt.give)
			if err == nil || (tt.is != nil && !errors.Is(err, tt.is)) {
				t.Fatalf("err %v, want %v", err, tt.is)
			}
		})
	}
	if got := f.get("cl-err"); len(got.Votes) != 0 {
		t.Fatalf("refused votes were stored: %+v", got.Votes)
	}
}

// TestVoteWithoutTimeUsesClock: a zero At is the store's clock.
func TestVoteWithoutTimeUsesClock(t *testing.T) {
	f := newFixture(t)
	f.create(dual("cl-clk"))
	res := f.vote("cl-clk", oncallA.user, approvals.DecisionApprove, time.Time{}, oncallA.groups...)
	if got := res.Request.Votes[0].At; !got.Equal(t0) {
		t.Fatalf("vote at %v, want the clock's %v", got, t0)
	}
	if !reflect.DeepEqual(res.Request.UpdatedAt, t0) {
		t.Fatalf("updated at %v", res.Request.UpdatedAt)
	}
}

// TestVoteMatchingExhaustive casts every sequence of up to 4 approvals over 1 to 3 slots,
// each voter in any subset of the slots' groups, through the vote script, and checks each
// answer against the Go rule (approvals.Admit), which approvals.TestAdmitExhaustive checks
// against a brute-force oracle: the same outcome (also approvals.DecideVote's), the same
// assignment of every approval to its slot, the same status. The sequences are walked as a tree: each branch starts from a
// copy of the request as the script left it at the branch point, so a shared prefix is cast
// once. A sequence stops once the request is approved (later clicks are VoteNotPending,
// which TestVote covers).
func TestVoteMatchingExhaustive(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	var ids, votes atomic.Int64
	// branch casts every possible next click on a copy of r (approved so far: counted).
	var branch func(r *approvals.Request, counted [][]int, depth int)
	branch = func(r *approvals.Request, counted [][]int, depth int) {
		n := len(r.Slots)
		for mask := range 1 << n {
			if t.Failed() {
				return
			}
			groups := []string{"bystanders"}
			for s := range n {
				if mask&(1<<s) != 0 {
					groups = append(groups, fmt.Sprintf("g%d", s))
				}
			}
			cp := *r
			cp.ID = fmt.Sprintf("cl-m%d", ids.Add(1))
			if err := f.s.Create(ctx, &cp, approvals.Limits{}); err != nil {
				t.Errorf("create %s: %v", cp.ID, err)
				return
			}
			user := fmt.Sprintf("U%d", 4-depth)
			in := approvals.VoteInput{RequestID: cp.ID, Voter: user, Groups: groups, Decision: approvals.DecisionApprove, At: t0}
			res, err := f.s.Vote(ctx, in)
			votes.Add(1)
			if err != nil {
				t.Errorf("vote %s by %s: %v", cp.ID, user, err)
				return
			}
			mine := approvals.EligibleSlots(r.Slots, user, groups)
			want := approvals.Admit(n, counted, mine)
			wantOutcome, wantStatus := approvals.VoteNotEligible, approvals.StatusPending
			switch {
			case want.Complete:
				wantOutcome, wantStatus = approvals.VoteApproved, approvals.StatusApproved
			case want.Counted:
				wantOutcome = approvals.VoteCounted
			}
			where := func() string {
				return fmt.Sprintf("%d slot(s), approvals so far %v, next in %q", n, counted, groups)
			}
			if decided := approvals.DecideVote(&cp, in); res.Result != wantOutcome || res.Request.Status != wantStatus || decided != wantOutcome {
				t.Errorf("%s: %s, %s (DecideVote: %s); want %s, %s", where(), res.Result, res.Request.Status, decided, wantOutcome, wantStatus)
				return
			}
			next := r
			if want.Counted {
				var got []int
				for _, v := range res.Request.Votes {
					got = append(got, v.Slot)
				}
				last := res.Request.Votes[len(got)-1]
				if !slices.Equal(got, want.Assign) || !slices.Equal(last.Eligible, mine) {
					t.Errorf("%s: slots %v (eligible %v), want %v (eligible %v)", where(), got, last.Eligible, want.Assign, mine)
					return
				}
				counted, next = append(slices.Clone(counted), mine), res.Request
			}
			if !want.Complete && depth > 1 {
				branch(next, counted, depth-1)
			}
			if want.Counted {
				counted = counted[:len(counted)-1]
			}
		}
	}
	var wg sync.WaitGroup
	for n := 1; n <= 3; n++ {
		r := dual("cl-m")
		r.Slots = nil
		for s := range n {
			r.Slots = append(r.Slots, approvals.Slot{Name: fmt.Sprintf("s%d", s), Approvers: []approvals.Principal{approvals.Principal(fmt.Sprintf("group:g%d", s))}})
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			branch(r, nil, 4)
		}()
	}
	wg.Wait()
	if n := votes.Load(); !t.Failed() && n != 2840 {
		t.Fatalf("%d sequences cast, want 2840 (every sequence of up to 4 clicks, stopped once approved)", n)
	}
}
