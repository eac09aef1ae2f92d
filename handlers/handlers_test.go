package handlers

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/clonebot/clonebot/approvals"
	"github.com/clonebot/clonebot/internal/fakes"
	"github.com/clonebot/clonebot/internal/testenv"
	"github.com/clonebot/clonebot/provisioner"
	"github.com/clonebot/clonebot/redisstore"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// t0 is the tests' "now", the real time: the requests are stored in a real Redis.
var t0 = testenv.Now()

// daysAgo is the UTC day n days before t0's (the fake catalogue has backups 1 and 2 days ago).
func daysAgo(n int) time.Time { return testenv.Day(t0, -n) }

// ymd writes a day as the replies do.
func ymd(t time.Time) string { return t.Format(time.DateOnly) }

// minute writes a time as the replies do.
func minute(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 MST") }

type fixture struct {
	t     *testing.T
	svc   *Service
	store *redisstore.Store
	life  *fakeLifecycle
	now   time.Time
	deps  Deps // what svc was built from, for a test that builds another
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	p := fakes.Policy()
	c, prefix := testenv.Redis(t)
	f := &fixture{t: t, life: &fakeLifecycle{}, now: t0}
	f.store = redisstore.New(c, prefix, redisstore.WithClock(func() time.Time { return f.now }))
	dir := fakeDirectory{
		users: map[string]User{
			"UDEV":     {Name: "dana", Team: "payments", Groups: []string{"developers"}},
			"UDEV2":    {Name: "dev2", Team: "payments", Groups: []string{"developers"}},
			"UONCALL":  {Name: "olga", Team: "sre", Groups: []string{"oncall", "developers"}},
			"UPEER":    {Name: "pete", Team: "sre", Groups: []string{"oncall"}},
			"UONCALL2": {Name: "otto", Team: "sre", Groups: []string{"oncall"}},
			"ULEAD":    {Name: "lee", Groups: []string{"leads"}},
			"USEC":     {Name: "sam", Groups: []string{"security"}},
			"UADMIN":   {Name: "ada", Groups: []string{"platform"}},
		},
		channels: map[string]string{"CINC": "inc-42", "CGEN": "general"},
	}
	var err error
	f.deps = Deps{Store: f.store, Policy: p, Catalogue: fakes.Daily("prod", 3<<30, daysAgo(2), daysAgo(1)), Lifecycle: f.life,
		Directory: dir, Logger: zap.NewNop(), Now: func() time.Time { return f.now }}
	f.svc, err = New(f.deps)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

var ctx = context.Background()

func (f *fixture) request(user string, in CloneInput) (answer, *approvals.Request) {
	f.t.Helper()
	rep, err := ans(f.svc.RequestClone(ctx, Actor{User: user, Channel: "CGEN"}, in))
	if err != nil {
		f.t.Fatalf("RequestClone: %v", err)
	}
	if rep.Refused {
		f.t.Fatalf("RequestClone refused: %+v", rep)
	}
	rs, err := f.store.ListUser(ctx, user)
	if err != nil || len(rs) == 0 {
		f.t.Fatalf("ListUser: %v, %d", err, len(rs))
	}
	return rep, rs[0]
}

func (f *fixture) mustNothingStored(user string) {
	f.t.Helper()
	if n, err := f.store.ActiveCount(ctx, user); err != nil || n != 0 {
		f.t.Fatalf("%s has %d active requests (%v), want none", user, n, err)
	}
	if calls := f.notices(); len(calls) != 0 {
		f.t.Fatalf("notices recorded on bad input: %q", calls)
	}
}

func (f *fixture) vote(user, id string, d approvals.Decision, reason string) answer {
	f.t.Helper()
	rep, err := ans(f.svc.Vote(ctx, Actor{User: user}, id, d, reason))
	if err != nil {
		f.t.Fatalf("Vote: %v", err)
	}
	return rep
}

// ready walks a request to ready through the store, as the lifecycle will.
func (f *fixture) ready(id string) *approvals.Request {
	f.t.Helper()
	var r *approvals.Request
	for _, to := range []approvals.Status{approvals.StatusProvisioning, approvals.StatusRestoring, approvals.StatusReady} {
		var err error
		r, err = f.store.Transition(ctx, approvals.TransitionInput{RequestID: id, To: to, By: "clonebot", At: f.now,
			Clone: &approvals.CloneInfo{Host: "db.local", Port: 5432, Database: "clone_x", User: "clone_x", CredentialRef: "file:///s/x"}})
		if err != nil {
			f.t.Fatalf("transition %s to %s: %v", id, to, err)
		}
	}
	return r
}

func contains(calls []string, fragment string) bool {
	return slices.ContainsFunc(calls, func(c string) bool { return strings.Contains(c, fragment) })
}

func TestRequestClone(t *testing.T) {
	tests := []struct {
		name       string
		user       string
		in         CloneInput
		wantStatus approvals.Status
		wantText   string
		wantLife   bool
		wantDate   time.Time
	}{
		{"dev is approved at once", "UDEV", CloneInput{Source: "prod", When: When{At: daysAgo(1)}}, approvals.StatusApproved, "approved automatically", true, daysAgo(1)},
		{"latest is the newest backup", "UDEV", CloneInput{Source: "prod", When: When{Latest: true}}, approvals.StatusApproved, "as of " + ymd(daysAgo(1)), true, daysAgo(1)},
		{"staging waits for a lead", "UDEV", CloneInput{Source: "prod", When: When{At: daysAgo(2)}, Tier: "staging", Reason: "bug 12"}, approvals.StatusPending, "cl-", false, daysAgo(2)},
		{"debug waits for two", "UONCALL", CloneInput{Source: "prod", When: When{At: daysAgo(2)}, Tier: "debug", TTL: 2 * time.Hour}, approvals.StatusPending, "ttl 2h", false, daysAgo(2)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			rep, r := f.request(tt.user, tt.in)
			if r.Status != tt.wantStatus || !strings.Contains(rep.Text, tt.wantText) {
				t.Fatalf("status %s, reply %q; want %s, %q", r.Status, rep.Text, tt.wantStatus, tt.wantText)
			}
			if calls := f.notices(); r.Channel != "CREQ" || !slices.Equal(calls, []string{"card " + r.ID}) {
				t.Fatalf("card of %s in %q: notices %q, want the card's, once", r.ID, r.Channel, calls)
			}
			if r.Backup.Kind != "file" || r.Backup.Location == "" || r.Backup.Size != 3<<30 || !r.Date.Equal(tt.wantDate) {
				t.Fatalf("the request records the backup %+v of %s, want the file of %s", r.Backup, r.Date, tt.wantDate)
			}
			if got := len(f.life.approved) == 1; got != tt.wantLife {
				t.Fatalf("lifecycle started: %v, want %v", f.life.approved, tt.wantLife)
			}
			if tt.wantStatus == approvals.StatusPending && !strings.Contains(strings.Join(rep.Lines, "\n"), "Needs approval from") {
				t.Fatalf("reply does not say who approves: %q", rep.Lines)
			}
		})
	}
}

func TestRequestCloneBadInputChangesNothing(t *testing.T) {
	tests := []struct {
		name        string
		user        string
		in          CloneInput
		wantText    string
		wantOptions []string
	}{
		{"unknown source", "UDEV", CloneInput{Source: "prdo", When: When{Latest: true}}, `Unknown source "prdo"`, []string{"billing", "prod"}},
		{"no backup that day", "UDEV", CloneInput{Source: "prod", When: When{At: daysAgo(12)}}, "no backup of prod for " + ymd(daysAgo(12)), []string{ymd(daysAgo(2)), ymd(daysAgo(1))}},
		{"ttl over the cap", "UDEV", CloneInput{Source: "prod", When: When{Latest: true}, TTL: 999 * time.Hour}, "ttl=999h is over the dev tier's cap of 24h; use ttl=24h or less.", nil},
		{"tier not allowed", "UDEV", CloneInput{Source: "prod", When: When{Latest: true}, Tier: "debug"}, "may not request the debug tier", []string{"dev", "staging"}},
		{"unknown tier", "UDEV", CloneInput{Source: "prod", When: When{Latest: true}, Tier: "gold"}, `Unknown tier "gold"`, []string{"debug", "dev", "staging"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			rep, err := ans(f.svc.RequestClone(ctx, Actor{User: tt.user, Channel: "CGEN"}, tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if !rep.Refused || !strings.Contains(rep.Text, tt.wantText) {
				t.Fatalf("reply %+v, want a refusal with %q", rep, tt.wantText)
			}
			if tt.wantOptions != nil && !slices.Equal(sorted(rep.Options), tt.wantOptions) {
				t.Fatalf("options %q, want %q", rep.Options, tt.wantOptions)
			}
			f.mustNothingStored(tt.user)
		})
	}
}

func sorted(xs []string) []string { out := slices.Clone(xs); slices.Sort(out); return out }

func TestQuotaRefusesThenAllows(t *testing.T) {
	f := newFixture(t)
	in := CloneInput{Source: "prod", When: When{Latest: true}}
	f.request("UDEV", in)
	f.request("UDEV", in)
	rep, err := ans(f.svc.RequestClone(ctx, Actor{User: "UDEV"}, in))
	if err != nil || !rep.Refused || !strings.Contains(rep.Text, "2 active clone request(s)") {
		t.Fatalf("third request: %+v, %v", rep, err)
	}
}

func TestBreakGlass(t *testing.T) {
	f := newFixture(t)
	rep, err := ans(f.svc.BreakGlass(ctx, Actor{User: "UONCALL", Channel: "CGEN"}, "prod", "INC-1 down"))
	if err != nil || !rep.Refused || !strings.Contains(rep.Text, "only in incident channels: inc-*") || !slices.Equal(rep.Options, []string{"inc-*"}) {
		t.Fatalf("outside an incident channel: %+v, %v", rep, err)
	}
	f.mustNothingStored("UONCALL")

	rep, err = ans(f.svc.BreakGlass(ctx, Actor{User: "UONCALL", Channel: "CINC"}, "prod", "INC-1 down"))
	if err != nil || rep.Refused {
		t.Fatalf("in an incident channel: %+v, %v", rep, err)
	}
	rs, _ := f.store.ListUser(ctx, "UONCALL")
	if len(rs) != 1 || rs[0].Status != approvals.StatusApproved || rs[0].Masking != approvals.MaskNone || rs[0].Channel != "CINC" {
		t.Fatalf("break-glass request: %+v", *rs[0])
	}
	if !rs[0].ReviewDueAt.Equal(t0.Add(48 * time.Hour)) {
		t.Fatalf("review due %v", rs[0].ReviewDueAt)
	}
	if !contains(f.notices(), "alert "+rs[0].ID+" [UONCALL] Break-glass: unmasked clone "+rs[0].ID) || len(f.life.approved) != 1 {
		t.Fatalf("no security alert or lifecycle: %q %v", f.notices(), f.life.approved)
	}
}

// TestVote walks a debug request (unmasked, so approvers confirm in a modal) through clicks
// and confirmations: "click" is the Approve or Deny button, "confirm" the modal's submission.
func TestVote(t *testing.T) {
	f := newFixture(t)
	_, r := f.request("UONCALL", CloneInput{Source: "prod", When: When{At: daysAgo(2)}, Tier: "debug"})

	const click, confirm, modal = false, true, "(the confirmation modal)"
	steps := []struct {
		name     string
		user     string
		decision approvals.Decision
		how      bool // click or confirm
		refused  bool
		wantText string // modal: the reply asks for the confirmation modal
		status   approvals.Status
	}{
		{"requester cannot approve", "UONCALL", approvals.DecisionApprove, click, true, "cannot approve or deny your own request", approvals.StatusPending},
		{"not eligible", "UDEV", approvals.DecisionApprove, click, true, "you are not one of its approvers; it still needs 2 more approvals", approvals.StatusPending},
		{"not eligible to deny", "UDEV", approvals.DecisionDeny, click, true, "You cannot deny", approvals.StatusPending},
		{"not eligible, confirming anyway", "UDEV", approvals.DecisionApprove, confirm, true, "you are not one of its approvers", approvals.StatusPending},
		{"on-call peer clicks Approve", "UPEER", approvals.DecisionApprove, click, false, modal, approvals.StatusPending},
		{"on-call peer confirms", "UPEER", approvals.DecisionApprove, confirm, false, "it still needs one more approval", approvals.StatusPending},
		{"a second on-call fills nothing more", "UONCALL2", approvals.DecisionApprove, click, true, "the approvals so far already fill every slot you could (on-call peer)", approvals.StatusPending},
		{"same peer again", "UPEER", approvals.DecisionApprove, click, true, "You already approved", approvals.StatusPending},
		{"same peer confirms again", "UPEER", approvals.DecisionApprove, confirm, true, "You already approved", approvals.StatusPending},
		{"security clicks Approve", "USEC", approvals.DecisionApprove, click, false, modal, approvals.StatusPending},
		{"security confirms", "USEC", approvals.DecisionApprove, confirm, false, "the clone is being made", approvals.StatusApproved},
		{"late click", "ULEAD", approvals.DecisionDeny, click, true, "already approved; your click changed nothing", approvals.StatusApproved},
	}
	for _, s := range steps {
		var rep answer
		var err error
		if s.how == confirm {
			rep, err = ans(f.svc.ConfirmApproval(ctx, Actor{User: s.user}, r.ID))
		} else {
			rep, err = ans(f.svc.Vote(ctx, Actor{User: s.user}, r.ID, s.decision, ""))
		}
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		asked := rep.Confirm != nil && rep.Confirm.ID == r.ID && rep.Text == ""
		if rep.Refused != s.refused || asked != (s.wantText == modal) || (!asked && !strings.Contains(rep.Text, s.wantText)) {
			t.Fatalf("%s: reply %+v, want refused=%v %q", s.name, rep, s.refused, s.wantText)
		}
		got, _ := f.store.Get(ctx, r.ID)
		if got.Status != s.status {
			t.Fatalf("%s: status %s, want %s", s.name, got.Status, s.status)
		}
	}
	calls := f.notices()
	if !slices.Equal(calls, []string{"card " + r.ID, "card " + r.ID, "vote " + r.ID + " [UPEER] counted", "card " + r.ID, "vote " + r.ID + " [USEC] approved"}) {
		t.Fatalf("notifications: %q", calls)
	}
	if !slices.Equal(f.life.approved, []string{r.ID}) {
		t.Fatalf("lifecycle started %v, want once for %s", f.life.approved, r.ID)
	}
}

// TestVoteRematches: with slots that share a group (issue 14), a lead's approval first and an
// on-call engineer's second approve the request: the lead moves to the slot left open.
func TestVoteRematches(t *testing.T) {
	f := newFixture(t)
	debug := f.svc.policy.Tiers["debug"]
	debug.Slots = []approvals.Slot{
		{Name: "on-call or lead", Approvers: []approvals.Principal{"group:oncall", "group:leads"}},
		{Name: "lead or security", Approvers: []approvals.Principal{"group:leads", "group:security"}},
	}
	f.svc.policy.Tiers["debug"] = debug
	_, r := f.request("UONCALL", CloneInput{Source: "prod", When: When{At: daysAgo(2)}, Tier: "debug"})

	rep, _ := ans(f.svc.ConfirmApproval(ctx, Actor{User: "ULEAD"}, r.ID))
	if rep.Refused || !strings.Contains(rep.Text, "one more approval, from someone in") ||
		!slices.Equal(rep.Lines, []string{"on-call or lead: group:oncall, group:leads", "lead or security: group:leads, group:security"}) {
		t.Fatalf("the lead's answer: %+v (either slot is still open to the next approver)", rep)
	}
	if rep, _ := ans(f.svc.ConfirmApproval(ctx, Actor{User: "UPEER"}, r.ID)); rep.Refused || !strings.Contains(rep.Text, "the clone is being made") {
		t.Fatalf("the on-call engineer's answer: %+v", rep)
	}
	got, _ := f.store.Get(ctx, r.ID)
	if got.Status != approvals.StatusApproved || !slices.Equal(got.FilledSlots(), []string{"UPEER", "ULEAD"}) {
		t.Fatalf("status %s, filled %q", got.Status, got.FilledSlots())
	}
	slot, moved, _ := got.ApprovalEffect("UPEER")
	if slot != 0 || !slices.Equal(moved, []approvals.Move{{User: "ULEAD", From: 0, To: 1}}) {
		t.Fatalf("effect of the second approval: slot %d, moved %+v", slot, moved)
	}
}

func TestDenyWithReason(t *testing.T) {
	f := newFixture(t)
	_, r := f.request("UDEV", CloneInput{Source: "prod", When: When{At: daysAgo(2)}, Tier: "staging"})
	rep := f.vote("ULEAD", r.ID, approvals.DecisionDeny, "  use staging data  ")
	if rep.Refused {
		t.Fatalf("deny: %+v", rep)
	}
	got, _ := f.store.Get(ctx, r.ID)
	if v, _ := got.VoteOf("ULEAD"); got.Status != approvals.StatusDenied || v.Reason != "use staging data" {
		t.Fatalf("status %s, vote %+v", got.Status, v)
	}
	if calls := f.notices(); !slices.Equal(calls, []string{"card " + r.ID, "card " + r.ID, "vote " + r.ID + " [ULEAD] denied"}) {
		t.Fatalf("notices %q", calls)
	}
	if len(f.life.approved) != 0 {
		t.Fatal("lifecycle started for a denied request")
	}
}

func TestVoteOnMissingRequest(t *testing.T) {
	f := newFixture(t)
	if rep := f.vote("ULEAD", "cl-2222222", approvals.DecisionApprove, ""); !rep.Refused || !strings.Contains(rep.Text, "no request cl-2222222") {
		t.Fatalf("reply %+v", rep)
	}
}

func TestExtend(t *testing.T) {
	f := newFixture(t)
	_, r := f.request("UDEV", CloneInput{Source: "prod", When: When{Latest: true}}) // dev: 8h, cap 24h
	a := Actor{User: "UDEV"}

	rep, _ := ans(f.svc.Extend(ctx, a, r.ID, time.Hour))
	if !rep.Refused || !strings.Contains(rep.Text, "only a ready clone") {
		t.Fatalf("extend before ready: %+v", rep)
	}
	f.ready(r.ID)
	if rep, _ := ans(f.svc.Extend(ctx, Actor{User: "UDEV2"}, r.ID, time.Hour)); !rep.Refused || !strings.Contains(rep.Text, "Only the requester") {
		t.Fatalf("extend by someone else: %+v", rep)
	}
	rep, err := ans(f.svc.Extend(ctx, a, r.ID, 2*time.Hour))
	if err != nil || rep.Refused || !strings.Contains(rep.Text, "Extended the clone until "+minute(t0.Add(10*time.Hour))) {
		t.Fatalf("extend 2h: %+v, %v", rep, err)
	}
	// Past the cap: refused, nothing changes, and the most that can be granted is offered.
	rep, err = ans(f.svc.Extend(ctx, a, r.ID, 100*time.Hour))
	wantOffer := &Offer{Kind: OfferExtendToCap, RequestID: r.ID, By: 14 * time.Hour, Until: t0.Add(24 * time.Hour)}
	if err != nil || !rep.Refused || !reflect.DeepEqual(rep.Offer, wantOffer) ||
		rep.Text != r.ID+" cannot be extended by 100h: the dev tier allows 24h in total from ready. The most it can have now is 14h more, until "+minute(t0.Add(24*time.Hour))+"." {
		t.Fatalf("extend over the cap: %+v %+v, %v", rep, rep.Offer, err)
	}
	if got, _ := f.store.Get(ctx, r.ID); !got.ExpiresAt.Equal(t0.Add(10 * time.Hour)) {
		t.Fatalf("a refused extension moved the expiry to %v", got.ExpiresAt)
	}
	// The offer's button.
	rep, err = ans(f.svc.ExtendToCap(ctx, a, r.ID))
	if err != nil || rep.Refused || !strings.Contains(rep.Text, "Extended the clone by 14h to its tier's cap, until "+minute(t0.Add(24*time.Hour))) {
		t.Fatalf("extend to the cap: %+v, %v", rep, err)
	}
	got, _ := f.store.Get(ctx, r.ID)
	if !got.ExpiresAt.Equal(t0.Add(24 * time.Hour)) {
		t.Fatalf("expires %v", got.ExpiresAt)
	}
	for name, extend := range map[string]func() (Reply, error){
		"by 1h":      func() (Reply, error) { return f.svc.Extend(ctx, a, r.ID, time.Hour) },
		"to the cap": func() (Reply, error) { return f.svc.ExtendToCap(ctx, a, r.ID) },
	} {
		if rep, _ := ans(extend()); !rep.Refused || !strings.Contains(rep.Text, "already at its tier's cap") || rep.Offer != nil {
			t.Fatalf("extend %s at the cap: %+v", name, rep)
		}
	}
	// An admin may extend anyone's clone... but it is capped already; destroy instead.
	rep, err = ans(f.svc.Destroy(ctx, Actor{User: "UADMIN"}, r.ID))
	if err != nil || rep.Refused || !slices.Equal(f.life.destroyed, []string{r.ID + " by UADMIN"}) {
		t.Fatalf("admin destroy: %+v, %v, %v", rep, err, f.life.destroyed)
	}
}

func TestCancelAndDestroy(t *testing.T) {
	f := newFixture(t)
	_, r := f.request("UDEV", CloneInput{Source: "prod", When: When{At: daysAgo(2)}, Tier: "staging"})

	if rep, _ := ans(f.svc.Destroy(ctx, Actor{User: "UDEV"}, r.ID)); !rep.Refused || !strings.Contains(rep.Text, "/clone cancel "+r.ID) {
		t.Fatalf("destroy of a pending request: %+v", rep)
	}
	if rep, _ := ans(f.svc.Cancel(ctx, Actor{User: "ULEAD"}, r.ID)); !rep.Refused {
		t.Fatalf("cancel by a lead: %+v", rep)
	}
	if rep, err := ans(f.svc.Cancel(ctx, Actor{User: "UDEV"}, r.ID)); err != nil || rep.Refused {
		t.Fatalf("cancel: %+v, %v", rep, err)
	}
	if rep, _ := ans(f.svc.Cancel(ctx, Actor{User: "UDEV"}, r.ID)); !rep.Refused || !strings.Contains(rep.Text, "already cancelled") {
		t.Fatalf("second cancel: %+v", rep)
	}
	if rep, _ := ans(f.svc.Destroy(ctx, Actor{User: "UDEV"}, r.ID)); !rep.Refused || !strings.Contains(rep.Text, "nothing to destroy") {
		t.Fatalf("destroy of a cancelled request: %+v", rep)
	}
	if len(f.life.destroyed) != 0 {
		t.Fatalf("destroyed %v", f.life.destroyed)
	}
}

func TestDestroyAll(t *testing.T) {
	f := newFixture(t)
	_, pending := f.request("UDEV", CloneInput{Source: "prod", When: When{At: daysAgo(2)}, Tier: "staging"})
	_, running := f.request("UONCALL", CloneInput{Source: "prod", When: When{Latest: true}})
	f.ready(running.ID)

	if rep, err := ans(f.svc.DestroyAll(ctx, Actor{User: "UDEV"})); err != nil || !rep.Refused {
		t.Fatalf("non-admin: %+v, %v", rep, err)
	}
	rep, err := ans(f.svc.DestroyAll(ctx, Actor{User: "UADMIN"}))
	if err != nil || !strings.Contains(rep.Text, "1 pending request(s) cancelled, 1 clone(s) being destroyed") {
		t.Fatalf("admin: %+v, %v", rep, err)
	}
	got, _ := f.store.Get(ctx, pending.ID)
	if got.Status != approvals.StatusCancelled || !slices.Equal(f.life.destroyed, []string{running.ID + " by UADMIN"}) {
		t.Fatalf("pending %s, destroyed %v", got.Status, f.life.destroyed)
	}
	if !contains(f.notices(), "alert system [UADMIN] Kill switch used") {
		t.Fatalf("no security alert: %q", f.notices())
	}
}

func TestListStatusReportHome(t *testing.T) {
	f := newFixture(t)
	_, mine := f.request("UDEV", CloneInput{Source: "prod", When: When{At: daysAgo(2)}, Tier: "staging"})
	_, other := f.request("UONCALL", CloneInput{Source: "prod", When: When{Latest: true}})
	f.ready(other.ID)

	if rep, _ := ans(f.svc.List(ctx, Actor{User: "UDEV"}, false)); len(rep.Requests) != 1 || rep.Requests[0].ID != mine.ID {
		t.Fatalf("list: %+v", rep)
	}
	if rep, _ := ans(f.svc.List(ctx, Actor{User: "UDEV"}, true)); !rep.Refused {
		t.Fatalf("list all by a developer: %+v", rep)
	}
	if rep, _ := ans(f.svc.List(ctx, Actor{User: "UADMIN"}, true)); len(rep.Requests) != 2 {
		t.Fatalf("list all by an admin: %+v", rep)
	}
	if rep, _ := ans(f.svc.Status(ctx, Actor{User: "USEC"}, mine.ID)); rep.Timeline == nil || rep.Timeline.ID != mine.ID {
		t.Fatalf("status: %+v", rep)
	}

	f.now = t0.Add(9 * time.Hour) // the ready clone is past its 8h TTL and still alive
	rep, err := ans(f.svc.Report(ctx, Actor{User: "USEC"}, 30*24*time.Hour))
	text := strings.Join(rep.Lines, "\n")
	if err != nil || !strings.Contains(text, "Active now: 2 (pending 1, being made or destroyed 0, ready 1)") ||
		!strings.Contains(text, "target 0): 1") || !strings.Contains(text, "Active by user: dana 1, olga 1") ||
		!strings.Contains(text, "Active by team: payments 1, sre 1") || !strings.Contains(text, "audit log") {
		t.Fatalf("report: %s, %v", text, err)
	}

	h, err := f.svc.Home(ctx, "ULEAD")
	if err != nil || len(h.Awaiting) != 1 || h.Awaiting[0].ID != mine.ID || len(h.Mine) != 0 {
		t.Fatalf("lead's home: %+v, %v", h, err)
	}
	if h, _ := f.svc.Home(ctx, "UDEV"); len(h.Awaiting) != 0 || len(h.Mine) != 1 {
		t.Fatalf("requester's home: %+v", h)
	}
}

// TestExplainCountsUnclassifiedColumns checks the line a dry run adds for a masked tier: what
// the rules of its level do to the backup's columns, as the Masking port counts them, and what
// that means for the restore (issue 11: /clone explain says how many are unclassified).
func TestExplainCountsUnclassifiedColumns(t *testing.T) {
	f := newFixture(t)
	counted := MaskCoverage{Tables: 3, Columns: 12, Masked: 5, Kept: 4, Unclassified: 3}
	tests := []struct {
		name     string
		tier     string
		user     string
		coverage MaskCoverage
		err      error
		want     string // the masking line; "" for none
	}{
		{"all accounted for", "dev", "UDEV", MaskCoverage{Tables: 3, Columns: 9, Masked: 5, Kept: 4, Policy: "refuse"}, nil,
			"Masking check (full): every column is accounted for: 5 of 9 masked, 4 kept, none unclassified."},
		{"unclassified, refused", "dev", "UDEV", with(counted, "refuse"), nil,
			"Masking check (full): 3 of 12 columns unclassified (no rule or keep): the restore would be refused before any data moves; clonebot masking check <backup> lists them and suggests rules."},
		{"unclassified, masked by type", "dev", "UDEV", with(counted, "mask-by-type"), nil,
			"Masking check (full): 3 of 12 columns unclassified (no rule or keep): they will be masked by their type."},
		{"unclassified, kept", "staging", "UDEV", with(counted, "keep"), nil,
			"Masking check (partial): 3 of 12 columns unclassified (no rule or keep): they will be copied as they are, and the verification gate reads them."},
		{"rules naming what the backup lacks", "dev", "UDEV",
			MaskCoverage{Mismatches: []string{"masking rule names an unknown table: public.orders (level full, masking.yaml line 7)"}}, nil,
			"Masking check (full): the rules name what this backup lacks, so the restore would be refused: masking rule names an unknown table: public.orders (level full, masking.yaml line 7). Fix the rules; clonebot masking check <backup> shows the backup's tables."},
		{"a backup on S3", "dev", "UDEV", MaskCoverage{}, fmt.Errorf("s3://b/prod: %w", ErrNotReadableHere),
			"Masking check: the restore agent checks every column against the rules before any data moves (the backup is read only by the agents)."},
		{"a backup that could not be read", "dev", "UDEV", MaskCoverage{}, errors.New("open: permission denied"),
			"Masking check: not done now (the backup could not be read here); the restore agent checks every column against the rules before any data moves."},
		{"a schema that takes long to read", "dev", "UDEV", MaskCoverage{}, fmt.Errorf("read the schema: %w", context.DeadlineExceeded),
			"Masking check: not done now (reading this backup's schema takes longer than a dry run waits); the restore agent checks every column against the rules before any data moves."},
		{"no masking", "debug", "UONCALL", counted, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var asked []string
			d := f.deps
			d.Masking = fakeMasking{coverage: func(b provisioner.Backup, level approvals.MaskLevel) (MaskCoverage, error) {
				asked = append(asked, fmt.Sprintf("%s %s", b.Date.Format(time.DateOnly), level))
				return tt.coverage, tt.err
			}}
			svc, err := New(d)
			if err != nil {
				t.Fatal(err)
			}
			rep, err := ans(svc.Explain(ctx, Actor{User: tt.user}, CloneInput{Source: "prod", When: When{At: daysAgo(1)}, Tier: tt.tier}))
			if err != nil || rep.Refused {
				t.Fatalf("explain: %+v, %v", rep, err)
			}
			var got string
			for _, l := range rep.Lines {
				if strings.HasPrefix(l, "Masking check") {
					got = l
				}
			}
			if got != tt.want {
				t.Errorf("masking line:\n%q\nwant\n%q", got, tt.want)
			}
			wantAsked := []string{ymd(daysAgo(1)) + " " + string(f.deps.Policy.Tiers[tt.tier].Masking)}
			if tt.want == "" {
				wantAsked = nil
			}
			if !slices.Equal(asked, wantAsked) {
				t.Errorf("Coverage asked for %v, want %v", asked, wantAsked)
			}
		})
	}
}

func with(c MaskCoverage, policy string) MaskCoverage {
	c.Policy = policy
	return c
}

func TestExplainBackupsHelp(t *testing.T) {
	f := newFixture(t)
	rep, err := ans(f.svc.Explain(ctx, Actor{User: "UONCALL"}, CloneInput{Source: "prod", When: When{At: daysAgo(1)}, Tier: "debug"}))
	text := strings.Join(rep.Lines, "\n")
	if err != nil || rep.Refused || !strings.Contains(text, "Tier: debug (no masking)") ||
		!strings.Contains(text, "Approval: two distinct approvers, one per slot, each confirming in a modal that restates the request") ||
		!strings.Contains(text, "Needs approval from security or manager: group:security, group:managers") ||
		!strings.Contains(text, "Strategy: restore from backup of "+ymd(daysAgo(1))+" (3.0 GiB)") || !strings.Contains(text, "Estimated time to ready: about") {
		t.Fatalf("explain: %+v, %v", rep, err)
	}
	f.mustNothingStored("UONCALL")

	rep, err = ans(f.svc.Backups(ctx, Actor{User: "UDEV"}, "prod", time.Time{}))
	if err != nil || !slices.Equal(rep.Lines, []string{"backup of " + ymd(daysAgo(1)) + " (3.0 GiB)", "backup of " + ymd(daysAgo(2)) + " (3.0 GiB)"}) {
		t.Fatalf("backups: %+v, %v", rep, err)
	}
	// two months before t0's: no backup in it, whatever day t0 is
	empty := testenv.Day(t0, 1-t0.Day()).AddDate(0, -2, 0)
	if rep, _ := ans(f.svc.Backups(ctx, Actor{User: "UDEV"}, "prod", empty)); !strings.Contains(rep.Text, "No backups of prod in "+empty.Format("January 2006")) {
		t.Fatalf("backups of %s: %+v", empty.Format("January 2006"), rep)
	}
	if rep, _ := ans(f.svc.Backups(ctx, Actor{User: "UDEV"}, "nope", time.Time{})); !rep.Refused || !slices.Equal(rep.Options, []string{"billing", "prod"}) {
		t.Fatalf("backups of an unknown source: %+v", rep)
	}
	rep, _ = ans(f.svc.Help(ctx, Actor{User: "UDEV"}, []string{"/clone help"}))
	if !strings.Contains(strings.Join(rep.Lines, "\n"), "Tiers you may request: dev (full masking") || strings.Contains(strings.Join(rep.Lines, "\n"), "debug") {
		t.Fatalf("help: %+v", rep)
	}
}

func TestVoteAfterTheApprovalWindow(t *testing.T) {
	f := newFixture(t)
	_, r := f.request("UDEV", CloneInput{Source: "prod", When: When{At: daysAgo(2)}, Tier: "staging"})
	f.now = t0.Add(2 * time.Hour)
	rep := f.vote("ULEAD", r.ID, approvals.DecisionApprove, "")
	if !rep.Refused || !strings.Contains(rep.Text, "approval window of "+r.ID+" closed at "+approvals.FormatTime(t0.Add(time.Hour))) {
		t.Fatalf("late vote: %+v", rep)
	}
	if len(f.life.approved) != 0 {
		t.Fatal("a vote after the window started the lifecycle")
	}
}

// answer is what the person who acted sees: a Reply, or a refusal (an *Error).
type answer struct {
	Refused  bool
	Text     string
	Lines    []string
	Options  []string
	Offer    *Offer
	Confirm  *approvals.Request
	Requests []*approvals.Request
	Timeline *approvals.Request
}

// ans turns a use case's result into an answer; an error that is not a refusal stays an error.
func ans(rep Reply, err error) (answer, error) {
	var e *Error
	if errors.As(err, &e) {
		return answer{Refused: true, Text: e.Message, Lines: e.Lines, Options: e.Options, Offer: e.Offer}, nil
	}
	return answer{Text: rep.Text, Lines: rep.Lines, Confirm: rep.Confirm, Requests: rep.Requests, Timeline: rep.Timeline}, err
}

// notices takes the notices recorded so far, one line each (fakes.NoticeLine).
func (f *fixture) notices() []string {
	f.t.Helper()
	lines, err := fakes.TakeAllNotices(ctx, f.store)
	if err != nil {
		f.t.Fatalf("notices: %v", err)
	}
	return lines
}
