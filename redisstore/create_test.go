package redisstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/clonebot/clonebot/approvals"
)

func TestCreateDuplicateID(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	first := dual("cl-dup")
	f.create(first)
	cursor := f.lastID()
	second := single("cl-dup")
	second.Requester = "UOTHER"
	if err := f.s.Create(ctx, second, approvals.Limits{}); !errors.Is(err, approvals.ErrExists) {
		t.Fatalf("err %v, want ErrExists", err)
	}
	if got := f.get("cl-dup"); got.Requester != requester || got.Mode != approvals.ModeDual {
		t.Fatalf("the first request was overwritten: %+v", got)
	}
	if n, _ := f.s.ActiveCount(ctx, "UOTHER"); n != 0 {
		t.Fatalf("refused request indexed: %d", n)
	}
	if evs := f.typesAfter(cursor); len(evs) != 0 {
		t.Fatalf("refused request emitted %v", evs)
	}
}

func TestCreateQuota(t *testing.T) {
	type ask struct {
		user, team string
		lim        approvals.Limits
		wantErr    bool
	}
	user2 := approvals.Limits{PerUser: 2}
	team2 := approvals.Limits{PerTeam: 2}
	tests := []struct {
		name string
		asks []ask
	}{
		{"per user", []ask{{"U1", "t", user2, false}, {"U1", "t", user2, false}, {"U1", "t", user2, true}, {"U2", "t", user2, false}}},
		{"per team", []ask{{"U1", "t", team2, false}, {"U2", "t", team2, false}, {"U3", "t", team2, true}, {"U3", "other", team2, false}}},
		{"no team: team limit does not apply", []ask{{"U1", "", team2, false}, {"U2", "", team2, false}, {"U3", "", team2, false}}},
		{"no limits", []ask{{"U1", "t", approvals.Limits{}, false}, {"U1", "t", approvals.Limits{}, false}, {"U1", "t", approvals.Limits{}, false}}},
		{"both, user first", []ask{{"U1", "t", approvals.Limits{PerUser: 1, PerTeam: 1}, false}, {"U1", "t", approvals.Limits{PerUser: 1, PerTeam: 1}, true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			ctx := context.Background()
			for i, a := range tt.asks {
				r := dual(fmt.Sprintf("cl-q%d", i))
				r.Requester, r.Team = a.user, a.team
				err := f.s.Create(ctx, r, a.lim)
				if a.wantErr != errors.Is(err, approvals.ErrQuotaExceeded) || (!a.wantErr && err != nil) {
					t.Fatalf("ask %d (%s/%s): err %v, want quota error %v", i, a.user, a.team, err, a.wantErr)
				}
				if a.wantErr {
					if _, err := f.s.Get(ctx, r.ID); !errors.Is(err, approvals.ErrNotFound) {
						t.Fatalf("refused request stored: %v", err)
					}
				}
			}
		})
	}
}

// TestQuotaCountsOnlyActive: a request that ends frees its place.
func TestQuotaCountsOnlyActive(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	lim := approvals.Limits{PerUser: 1, PerTeam: 1}
	f.create(dual("cl-a1"))
	if err := f.s.Create(ctx, dual("cl-a2"), lim); !errors.Is(err, approvals.ErrQuotaExceeded) {
		t.Fatalf("at the limit: %v", err)
	}
	if _, err := f.s.Cancel(ctx, "cl-a1", requester, t0); err != nil {
		t.Fatal(err)
	}
	if err := f.s.Create(ctx, dual("cl-a2"), lim); err != nil {
		t.Fatalf("after cancelling: %v", err)
	}
}

func TestCreateAutoApproved(t *testing.T) {
	f := newFixture(t)
	r := dual("cl-auto")
	r.Tier, r.Mode, r.Slots, r.Status = "dev", approvals.ModeAuto, nil, approvals.StatusApproved
	f.create(r)
	got := f.get(r.ID)
	if got.Status != approvals.StatusApproved || f.indexesOf(got) != wantIndexes(approvals.StatusApproved) {
		t.Fatalf("status %s, indexes %+v", got.Status, f.indexesOf(got))
	}
	var types []string
	for _, e := range got.History {
		types = append(types, e.Type+"/"+e.By)
	}
	if want := []string{"requested/UREQ", "approved/clonebot"}; !slices.Equal(types, want) {
		t.Fatalf("timeline %v, want %v", types, want)
	}
}

func TestCreateRefusesBadRequests(t *testing.T) {
	tests := []struct {
		name   string
		change func(r *approvals.Request)
	}{
		{"no id", func(r *approvals.Request) { r.ID = "" }},
		{"no requester", func(r *approvals.Request) { r.Requester = "" }},
		{"created ready", func(r *approvals.Request) { r.Status = approvals.StatusReady }},
		{"pending without a deadline", func(r *approvals.Request) { r.PendingExpiresAt = time.Time{} }},
	}
	f := newFixture(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := dual("cl-bad")
			tt.change(r)
			if err := f.s.Create(context.Background(), r, approvals.Limits{}); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	if evs := f.outbox(); len(evs) != 0 {
		t.Fatalf("refused requests emitted %v", evs)
	}
}

func TestCreateDefaults(t *testing.T) {
	f := newFixture(t)
	r := dual("cl-def")
	r.Status, r.CreatedAt = "", time.Time{}
	f.create(r)
	got := f.get(r.ID)
	if got.Status != approvals.StatusPending || !got.CreatedAt.Equal(t0) || !got.UpdatedAt.Equal(t0) {
		t.Fatalf("status %s created %v updated %v", got.Status, got.CreatedAt, got.UpdatedAt)
	}
	if r.Status != "" || len(r.History) != 0 {
		t.Fatal("Create changed the caller's request")
	}
}

func TestListUserAndActive(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for i := range 4 {
		r := dual(fmt.Sprintf("cl-l%d", i))
		r.CreatedAt = t0.Add(time.Duration(i) * time.Minute)
		if i == 3 {
			r.Requester = "UOTHER"
		}
		f.create(r)
	}
	if _, err := f.s.Cancel(ctx, "cl-l1", requester, t0); err != nil {
		t.Fatal(err)
	}
	ids := func(rs []*approvals.Request, err error) []string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range rs {
			out = append(out, r.ID)
		}
		return out
	}
	if got, want := ids(f.s.ListUser(ctx, requester)), []string{"cl-l2", "cl-l0"}; !slices.Equal(got, want) {
		t.Fatalf("ListUser %v, want %v", got, want)
	}
	if got, want := ids(f.s.ListActive(ctx)), []string{"cl-l3", "cl-l2", "cl-l0"}; !slices.Equal(got, want) {
		t.Fatalf("ListActive %v, want %v", got, want)
	}
	if got := ids(f.s.ListUser(ctx, "UNOBODY")); len(got) != 0 {
		t.Fatalf("ListUser of nobody %v", got)
	}
	if n, err := f.s.ActiveCount(ctx, requester); err != nil || n != 2 {
		t.Fatalf("ActiveCount %d %v", n, err)
	}
}
