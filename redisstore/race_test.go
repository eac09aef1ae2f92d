package redisstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/clonebot/clonebot/approvals"
)

// TestVoteRace: 200 concurrent clicks on one dual-approval request, from on-call peers,
// security, leads, people in two groups, the requester and outsiders, most people clicking
// twice; once with disjoint slots (on-call, security), once with slots that share a group
// (on-call or leads, leads or security), where approvals are re-matched. Exactly one click
// approves it, exactly two people in distinct slots are counted, and the outbox holds
// exactly one approved event.
func TestVoteRace(t *testing.T) {
	for _, request := range []func(string) *approvals.Request{dual, overlapping} {
		r := request("cl-race")
		t.Run(r.Slots[0].Name, func(t *testing.T) { voteRace(t, r) })
	}
}

func voteRace(t *testing.T, r *approvals.Request) {
	f := newFixture(t)
	ctx := context.Background()
	f.create(r)

	var clicks []voter
	add := func(n, times int, name string, groups ...string) {
		for i := range n {
			for range times {
				clicks = append(clicks, voter{user: fmt.Sprintf("%s%d", name, i), groups: groups})
			}
		}
	}
	add(20, 2, "UON", "oncall")
	add(20, 2, "USEC", "security")
	add(20, 2, "ULEAD", "leads")
	add(10, 2, "UBOTH", "oncall", "security")
	add(20, 1, "USTR", "eng")
	add(1, 40, "UREQ-", "oncall", "security")
	for i := range clicks {
		if clicks[i].user == "UREQ-0" {
			clicks[i].user = requester
		}
	}
	if len(clicks) != 200 {
		t.Fatalf("%d clicks", len(clicks))
	}
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(clicks), func(i, j int) { clicks[i], clicks[j] = clicks[j], clicks[i] })

	var (
		wg       sync.WaitGroup
		start    = make(chan struct{})
		outcomes = make([]approvals.VoteOutcome, len(clicks))
	)
	for i, c := range clicks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			res, err := f.s.Vote(ctx, c.input("cl-race", t0))
			if err != nil {
				t.Errorf("vote by %s: %v", c.user, err)
				return
			}
			outcomes[i] = res.Result
		}()
	}
	close(start)
	wg.Wait()

	count := map[approvals.VoteOutcome]int{}
	for i, o := range outcomes {
		count[o]++
		if o == approvals.VoteSelf && clicks[i].user != requester {
			t.Errorf("%s answered self", clicks[i].user)
		}
		if o.Changed() && (clicks[i].user == requester || len(approvals.EligibleSlots(r.Slots, clicks[i].user, clicks[i].groups)) == 0) {
			t.Errorf("%s was counted", clicks[i].user)
		}
	}
	if count[approvals.VoteApproved] != 1 || count[approvals.VoteCounted] != 1 || count[approvals.VoteDenied] != 0 {
		t.Fatalf("outcomes %v: want exactly one approved and one counted", count)
	}

	got := f.get("cl-race")
	if got.Status != approvals.StatusApproved || len(got.Votes) != 2 {
		t.Fatalf("status %s votes %+v", got.Status, got.Votes)
	}
	filled := got.FilledSlots()
	if filled[0] == "" || filled[1] == "" || filled[0] == filled[1] {
		t.Fatalf("filled slots %q: want two distinct people", filled)
	}
	for i, s := range got.Slots {
		var groups []string
		for _, c := range clicks {
			if c.user == filled[i] {
				groups = c.groups
			}
		}
		if !approvals.MatchesAny(s.Approvers, filled[i], groups) {
			t.Errorf("slot %s filled by %s in %q", s.Name, filled[i], groups)
		}
	}

	types := map[string]int{}
	for _, e := range f.outbox() {
		types[e.Type]++
	}
	if want := map[string]int{"requested": 1, "voted": 2, "approved": 1}; fmt.Sprint(types) != fmt.Sprint(want) {
		t.Fatalf("outbox %v, want %v", types, want)
	}
	approvedInHistory := 0
	for _, e := range got.History {
		if e.Type == string(approvals.StatusApproved) {
			approvedInHistory++
		}
	}
	if approvedInHistory != 1 {
		t.Fatalf("%d approved entries in the timeline", approvedInHistory)
	}
}
