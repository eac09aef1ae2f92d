package handlers

import (
	"strings"
	"testing"
	"time"

	"github.com/clonebot/clonebot/approvals"
)

// The use cases as the REST API calls them: a service identity of the policy as the actor, an
// API key as how it came, a preset request id, data in the replies.

func TestServiceIdentityRequestsUnderThePolicy(t *testing.T) {
	f := newFixture(t)
	a := Actor{User: "service:ci", Via: "api:k1"}
	rep, err := f.svc.RequestClone(ctx, a, CloneInput{Source: "prod", When: When{Latest: true}})
	if err != nil {
		t.Fatal(err)
	}
	r := rep.Request
	if r == nil || r.Requester != "service:ci" || r.Team != "payments" || r.Via != "api:k1" || r.Status != approvals.StatusApproved {
		t.Fatalf("request %+v", r)
	}
	stored, err := f.store.Get(ctx, r.ID)
	if err != nil || stored.Via != "api:k1" || stored.Requester != "service:ci" {
		t.Fatalf("stored %+v, %v", stored, err)
	}
	if stored.History[0].By != "api:k1" {
		t.Fatalf("the timeline says the request was made by %q, want the key", stored.History[0].By)
	}
	// service:ci is in group pipelines, which may request staging: it needs approval.
	rep, err = f.svc.RequestClone(ctx, a, CloneInput{Source: "prod", When: When{At: daysAgo(1)}, Tier: "staging"})
	if err != nil || rep.Request.Status != approvals.StatusPending {
		t.Fatalf("staging: %+v, %v", rep.Request, err)
	}
	// but not debug.
	got, _ := ans(f.svc.RequestClone(ctx, a, CloneInput{Source: "prod", When: When{Latest: true}, Tier: "debug"}))
	if !got.Refused || !strings.Contains(got.Text, "debug") {
		t.Fatalf("debug by a service: %+v", got)
	}
	// An unknown service is looked up in the directory like anyone (and may request nothing).
	got, _ = ans(f.svc.RequestClone(ctx, Actor{User: "service:nobody"}, CloneInput{Source: "prod", When: When{Latest: true}}))
	if !got.Refused {
		t.Fatalf("an unknown service was served: %+v", got)
	}
}

func TestPresetIDIsNeverDrawnAgain(t *testing.T) {
	f := newFixture(t)
	id := approvals.NewID()
	in := CloneInput{ID: id, Source: "prod", When: When{Latest: true}}
	rep, err := f.svc.RequestClone(ctx, Actor{User: "UDEV"}, in)
	if err != nil || rep.Request.ID != id {
		t.Fatalf("first: %+v, %v", rep.Request, err)
	}
	f.notices()
	got, err := ans(f.svc.RequestClone(ctx, Actor{User: "UDEV"}, in))
	if err != nil || !got.Refused || !strings.Contains(got.Text, id+" exists already") {
		t.Fatalf("second with the same id: %+v, %v", got, err)
	}
	if n, _ := f.store.ActiveCount(ctx, "UDEV"); n != 1 {
		t.Fatalf("%d active requests, want 1", n)
	}
	if calls := f.notices(); len(calls) != 0 {
		t.Fatalf("the refused second request recorded notices: %q", calls)
	}
}

func TestChangesThroughTheAPIAreRecordedAsTheKey(t *testing.T) {
	f := newFixture(t)
	a := Actor{User: "UDEV", Via: "api:k2"}
	pending, err := f.svc.RequestClone(ctx, a, CloneInput{Source: "prod", When: When{At: daysAgo(1)}, Tier: "staging"})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := f.svc.Cancel(ctx, a, pending.Request.ID)
	if err != nil || rep.Request.Status != approvals.StatusCancelled {
		t.Fatalf("cancel: %+v, %v", rep.Request, err)
	}
	if last := rep.Request.History[len(rep.Request.History)-1]; last.By != "api:k2" {
		t.Fatalf("cancelled by %q", last.By)
	}
	_, r := f.request("UDEV", CloneInput{Source: "prod", When: When{Latest: true}})
	f.ready(r.ID)
	if _, err := f.svc.Destroy(ctx, a, r.ID); err != nil {
		t.Fatal(err)
	}
	if want := r.ID + " by api:k2"; f.life.destroyed[0] != want {
		t.Fatalf("destroyed %v, want %s", f.life.destroyed, want)
	}
}

func TestExpireInShortensAndExtendsWithinTheCap(t *testing.T) {
	f := newFixture(t)
	_, r := f.request("UDEV", CloneInput{Source: "prod", When: When{Latest: true}}) // dev: 8h, cap 24h
	a := Actor{User: "UDEV", Via: "api:k3"}
	if got, _ := ans(f.svc.ExpireIn(ctx, a, r.ID, time.Hour)); !got.Refused || !strings.Contains(got.Text, "only a ready clone") {
		t.Fatalf("before ready: %+v", got)
	}
	f.ready(r.ID)
	tests := []struct {
		name      string
		left      time.Duration
		wantText  string
		wantUntil time.Time
		refused   bool
	}{
		{"shorten", 30 * time.Minute, "Shortened", t0.Add(30 * time.Minute), false},
		{"extend", 10 * time.Hour, "Extended", t0.Add(10 * time.Hour), false},
		{"same", 10 * time.Hour, "already expires", t0.Add(10 * time.Hour), false},
		{"over the cap: refused, nothing changed", 100 * time.Hour, "the dev tier allows 24h in total from ready. The latest it can expire is " + approvals.FormatTime(t0.Add(24*time.Hour)), t0.Add(10 * time.Hour), true},
		{"up to the cap", 24 * time.Hour, "Extended", t0.Add(24 * time.Hour), false},
		{"zero", 0, "positive time left", t0.Add(24 * time.Hour), true},
	}
	for _, tt := range tests {
		got, err := ans(f.svc.ExpireIn(ctx, a, r.ID, tt.left))
		if err != nil || got.Refused != tt.refused || !strings.Contains(got.Text, tt.wantText) {
			t.Fatalf("%s: %+v, %v", tt.name, got, err)
		}
		stored, _ := f.store.Get(ctx, r.ID)
		if !stored.ExpiresAt.Equal(tt.wantUntil.Truncate(time.Millisecond)) {
			t.Fatalf("%s: expires %v, want %v", tt.name, stored.ExpiresAt, tt.wantUntil)
		}
	}
	if got, _ := ans(f.svc.ExpireIn(ctx, Actor{User: "UDEV2"}, r.ID, time.Hour)); !got.Refused || !strings.Contains(got.Text, "Only the requester") {
		t.Fatalf("by someone else: %+v", got)
	}
	stored, _ := f.store.Get(ctx, r.ID)
	if last := stored.History[len(stored.History)-1]; last.Type != "extended" || last.By != "api:k3" {
		t.Fatalf("last event %+v", last)
	}
}

func TestRepliesCarryData(t *testing.T) {
	f := newFixture(t)
	a := Actor{User: "UDEV"}
	rep, err := f.svc.Explain(ctx, a, CloneInput{Source: "prod", When: When{At: daysAgo(1)}, Tier: "staging", TTL: 2 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	w := rep.Request
	if w == nil || w.ID != "" || w.Tier != "staging" || w.Mode != approvals.ModeSingle || w.TTL != 2*time.Hour || len(w.Slots) != 1 || !w.Date.Equal(daysAgo(1)) {
		t.Fatalf("dry run's request %+v", w)
	}
	f.mustNothingStored("UDEV")
	rep, err = f.svc.Backups(ctx, a, "prod", time.Time{})
	if err != nil || len(rep.Backups) != 2 || !rep.Backups[0].Date.Equal(daysAgo(1)) || !rep.Backups[1].Date.Equal(daysAgo(2)) {
		t.Fatalf("backups %+v, %v", rep.Backups, err)
	}
}
