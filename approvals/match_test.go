package approvals

import (
	"fmt"
	"slices"
	"testing"
)

func TestAdmit(t *testing.T) {
	tests := []struct {
		name      string
		slots     int
		before    [][]int // eligible slots of the approvals so far, in vote order
		next      []int
		want      Admission
		wantSlots []int // everyone's slot after, when counted
	}{
		{name: "first approval takes its first slot", slots: 2, next: []int{0, 1},
			want: Admission{Counted: true}, wantSlots: []int{0}},
		{name: "issue 14: lead first, then on-call: the lead moves to slot 2", slots: 2, before: [][]int{{0, 1}}, next: []int{0},
			want: Admission{Counted: true, Complete: true}, wantSlots: []int{1, 0}},
		{name: "second on-call when on-call is the only slot either fills", slots: 2, before: [][]int{{0}}, next: []int{0},
			want: Admission{}},
		{name: "both slots open to both: the second approves", slots: 2, before: [][]int{{0, 1}}, next: []int{0, 1},
			want: Admission{Counted: true, Complete: true}, wantSlots: []int{0, 1}},
		{name: "in no slot", slots: 2, before: [][]int{{0}}, next: nil, want: Admission{}},
		{name: "single slot", slots: 1, next: []int{0}, want: Admission{Counted: true, Complete: true}, wantSlots: []int{0}},
		{name: "a chain of two moves", slots: 3, before: [][]int{{0, 1}, {1, 2}}, next: []int{0},
			want: Admission{Counted: true, Complete: true}, wantSlots: []int{1, 2, 0}},
		{name: "three slots, two approvals that can only share one of them", slots: 3, before: [][]int{{2}}, next: []int{2},
			want: Admission{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Admit(tt.slots, tt.before, tt.next)
			if got.Counted != tt.want.Counted || got.Complete != tt.want.Complete {
				t.Fatalf("Admit = %+v, want %+v", got, tt.want)
			}
			if tt.want.Counted && !slices.Equal(got.Assign, tt.wantSlots) {
				t.Fatalf("assignment %v, want %v", got.Assign, tt.wantSlots)
			}
		})
	}
}

// TestAdmitExhaustive runs every sequence of 4 approvals (every prefix, so every sequence of
// up to 4) over 1 to 3 slots, each approver able to fill any subset of the slots, through
// Admit, NeededSlots and ApprovalEffect, against a brute-force oracle that knows nothing of
// matchings: an approval must be counted exactly when some later set of approvers would
// need it to approve the request, and the request approved exactly when the approvals so
// far can be given distinct slots covering all.
func TestAdmitExhaustive(t *testing.T) {
	cases := 0
	// step walks the tree of sequences: the approvals counted so far (as votes on r), then
	// every possible next approver; each prefix is one case.
	var step func(r *Request, counted [][]int, depth int)
	step = func(r *Request, counted [][]int, depth int) {
		n := len(r.Slots)
		for mask := range 1 << n {
			var next []int
			for s := range n {
				if mask&(1<<s) != 0 {
					next = append(next, s)
				}
			}
			cases++
			got := Admit(n, counted, next)
			where := fmt.Sprintf("%d slot(s), approvals so far %v, next %v", n, counted, next)
			if want := oracleNeeded(n, counted, next); got.Counted != want {
				t.Fatalf("%s: counted %v, want %v", where, got.Counted, want)
			}
			if !got.Counted {
				if got.Complete || got.Assign != nil {
					t.Fatalf("%s: not counted, yet %+v", where, got)
				}
				if depth > 1 {
					step(r, counted, depth-1) // the refused click changed nothing
				}
				continue
			}
			with := append(slices.Clone(counted), next)
			if want := oracleComplete(n, with); got.Complete != want {
				t.Fatalf("%s: complete %v, want %v", where, got.Complete, want)
			}
			checkAssignment(t, where, n, with, got.Assign)

			// The request's views of the same approvals agree with Admit and the oracle.
			after := &Request{Slots: r.Slots, Votes: slices.Clone(r.Votes)}
			user := fmt.Sprintf("U%d", len(with))
			after.Votes = append(after.Votes, Vote{User: user, Decision: DecisionApprove, Eligible: next})
			for i := range after.Votes {
				after.Votes[i].Slot = got.Assign[i]
			}
			var wantNeeded []int
			for s := range n {
				if oracleNeeded(n, with, []int{s}) {
					wantNeeded = append(wantNeeded, s)
				}
			}
			if needed := after.NeededSlots(); !slices.Equal(needed, wantNeeded) {
				t.Fatalf("%s: needed slots %v, want %v", where, needed, wantNeeded)
			}
			slot, moved, ok := after.ApprovalEffect(user)
			if !ok || slot != got.Assign[len(with)-1] {
				t.Fatalf("%s: effect slot %d %v, want %d", where, slot, ok, got.Assign[len(with)-1])
			}
			for _, m := range moved {
				if m.From < 0 || m.To < 0 || m.From == m.To || got.Assign[slices.Index(users(after), m.User)] != m.To {
					t.Fatalf("%s: move %+v: a counted approval always keeps a slot", where, m)
				}
			}
			// Once complete the request is approved; later clicks find it no longer pending.
			if !got.Complete && depth > 1 {
				step(after, with, depth-1)
			}
		}
	}
	for n := 1; n <= 3; n++ {
		step(&Request{Slots: make([]Slot, n)}, nil, 4)
	}
	if cases < 2800 { // every sequence, stopped once approved: 2840
		t.Fatalf("only %d cases", cases)
	}
}

func users(r *Request) []string {
	var out []string
	for _, v := range r.Votes {
		out = append(out, v.User)
	}
	return out
}

// checkAssignment: every counted approval has a distinct slot it may fill.
func checkAssignment(t *testing.T, where string, n int, eligible [][]int, assign []int) {
	t.Helper()
	if len(assign) != len(eligible) {
		t.Fatalf("%s: assignment %v for %d approvals", where, assign, len(eligible))
	}
	taken := map[int]bool{}
	for i, s := range assign {
		if s < 0 || s >= n || taken[s] || !slices.Contains(eligible[i], s) {
			t.Fatalf("%s: assignment %v is not valid", where, assign)
		}
		taken[s] = true
	}
}

// oracleComplete: some choice of distinct approvers, one per slot, each allowed to fill
// their slot, by trying every choice.
func oracleComplete(n int, eligible [][]int) bool {
	used := make([]bool, len(eligible))
	var fill func(slot int) bool
	fill = func(slot int) bool {
		if slot == n {
			return true
		}
		for i, e := range eligible {
			if !used[i] && slices.Contains(e, slot) {
				used[i] = true
				ok := fill(slot + 1)
				used[i] = false
				if ok {
					return true
				}
			}
		}
		return false
	}
	return fill(0)
}

// oracleNeeded: some set of later approvers (of any eligibility) completes the slots with
// next but not without it. A complete assignment uses at most n approvers, next among them,
// so later sets of at most n-1 approvers are enough to try.
func oracleNeeded(n int, approved [][]int, next []int) bool {
	var subsets [][]int
	for mask := 1; mask < 1<<n; mask++ {
		var s []int
		for i := range n {
			if mask&(1<<i) != 0 {
				s = append(s, i)
			}
		}
		subsets = append(subsets, s)
	}
	var later func(from int, chosen [][]int) bool
	later = func(from int, chosen [][]int) bool {
		with := append(append(slices.Clone(approved), chosen...), next)
		without := append(slices.Clone(approved), chosen...)
		if oracleComplete(n, with) && !oracleComplete(n, without) {
			return true
		}
		if len(chosen) == n-1 {
			return false
		}
		for i := from; i < len(subsets); i++ { // multisets: non-decreasing indexes
			if later(i, append(slices.Clone(chosen), subsets[i])) {
				return true
			}
		}
		return false
	}
	return later(0, nil)
}
