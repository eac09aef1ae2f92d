package pgstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/clonebot/clonebot/approvals"
	"github.com/clonebot/clonebot/audit"
	"github.com/clonebot/clonebot/internal/testenv"
)

// A generated history: requests of every tier and fate go through the real request store (their
// times chosen by the generator), the consumer moves the outbox into the log, and the review
// loop's events are appended as the lead will emit them. The generator keeps its own record of
// every choice (truth); the test derives each expected answer and figure from that record.

const day = 24 * time.Hour

var (
	people = []struct{ id, name, team string }{
		{"U01", "ana", "payments"}, {"U02", "ben", "payments"}, {"U03", "cy", "data"},
		{"U04", "dee", "data"}, {"U05", "eli", "web"}, {"U06", "fay", "web"},
	}
	names  = map[string]string{"U01": "ana", "U02": "ben", "U03": "cy", "U04": "dee", "U05": "eli", "U06": "fay", "UAPP": "lead", "USEC": "sec"}
	tiers  = []string{"dev", "staging", "debug", "breakglass"}
	mask   = map[string]string{"dev": "full", "staging": "partial", "debug": "none", "breakglass": "none"}
	modes  = map[string]approvals.ApprovalMode{"dev": approvals.ModeAuto, "staging": approvals.ModeSingle, "debug": approvals.ModeDual, "breakglass": approvals.ModeBreakGlass}
	leads  = approvals.Slot{Name: "leads", Approvers: []approvals.Principal{"group:leads", "group:security"}}
	oncall = approvals.Slot{Name: "oncall", Approvers: []approvals.Principal{"group:oncall"}}
	secur  = approvals.Slot{Name: "security", Approvers: []approvals.Principal{"group:security"}}
	groups = map[string][]string{"UAPP": {"leads", "oncall"}, "USEC": {"security"}}
)

// truth is what the generator did to one request.
type truth struct {
	id, who, name, team, tier, source, fate string
	requested, ready, expires, end          time.Time // end: destroyed (zero while alive, or never ready)
	provisioned                             bool
	destroyBy                               string
	decisions                               []truthDecision
	reviewer                                string
	reviewDue                               time.Time // from the review task; zero if none was posted
}

type truthDecision struct {
	actor, decision string
	at              time.Time
}

type history struct {
	t      *testing.T
	now    time.Time
	eng    *engine
	rng    *rand.Rand
	truths []*truth
	review []audit.Event // the review loop's events, appended after the outbox is consumed
}

func (h *history) dur(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(h.rng.Int64N(int64(hi-lo)/int64(time.Millisecond)))*time.Millisecond
}

func (h *history) must(_ any, err error) {
	h.t.Helper()
	if err != nil {
		h.t.Fatal(err)
	}
}

// request makes one request and lives its fate.
func (h *history) request(i int) {
	ctx := context.Background()
	p := people[h.rng.IntN(len(people))]
	tier := tiers[h.rng.IntN(len(tiers))]
	fates := []string{"expired", "expired", "expired", "destroyed", "alive", "standing", "failed"}
	if modes[tier] == approvals.ModeSingle || modes[tier] == approvals.ModeDual {
		fates = append(fates, "denied", "cancelled", "lapsed")
	}
	tr := &truth{id: fmt.Sprintf("cl-%05d", i), who: p.id, name: p.name, team: p.team, tier: tier,
		source: []string{"prod", "orders"}[h.rng.IntN(2)], fate: fates[h.rng.IntN(len(fates))]}
	h.truths = append(h.truths, tr)
	ttl := h.dur(time.Hour, 8*time.Hour).Truncate(time.Minute)
	switch tr.fate {
	case "alive":
		tr.requested = h.now.Add(-h.dur(time.Hour, 2*time.Hour))
		ttl = 8 * time.Hour
	case "standing":
		tr.requested = h.now.Add(-h.dur(20*time.Hour, 6*day))
	default:
		tr.requested = h.now.Add(-h.dur(day, 100*day))
	}
	// step 1: the request and its approval.
	r := &approvals.Request{ID: tr.id, Requester: p.id, Team: p.team, Source: tr.source, Tier: tier,
		Masking: approvals.MaskLevel(mask[tier]), Mode: modes[tier], TTL: ttl, Reason: "INC-" + strconv.Itoa(i),
		CreatedAt: tr.requested, PendingExpiresAt: tr.requested.Add(time.Hour)}
	switch modes[tier] {
	case approvals.ModeSingle:
		r.Slots = []approvals.Slot{leads}
	case approvals.ModeDual:
		r.Slots = []approvals.Slot{oncall, secur}
	default:
		r.Status = approvals.StatusApproved
		tr.decisions = append(tr.decisions, truthDecision{audit.SystemActor, "auto", tr.requested})
	}
	h.must(nil, h.eng.s.Create(ctx, r, approvals.Limits{}))
	h.eng.now = tr.requested.Add(time.Second)
	h.must(nil, h.eng.s.SetMessage(ctx, tr.id, "CREQ", strconv.Itoa(i)))
	vote := func(voter string, d approvals.Decision, after time.Duration) {
		at := tr.requested.Add(after)
		h.must(h.eng.s.Vote(ctx, approvals.VoteInput{RequestID: tr.id, Voter: voter, Groups: groups[voter], Decision: d, Reason: "r", At: at}))
		tr.decisions = append(tr.decisions, truthDecision{voter, string(d), at})
	}
	switch tr.fate {
	case "denied":
		vote("USEC", approvals.DecisionDeny, 3*time.Minute)
		return
	case "cancelled":
		h.must(h.eng.s.Cancel(ctx, tr.id, p.id, tr.requested.Add(5*time.Minute)))
		return
	case "lapsed":
		h.must(h.eng.s.Transition(ctx, approvals.TransitionInput{RequestID: tr.id, To: approvals.StatusExpired, By: audit.SystemActor, At: tr.requested.Add(time.Hour)}))
		return
	}
	if modes[tier] == approvals.ModeSingle || modes[tier] == approvals.ModeDual {
		vote("UAPP", approvals.DecisionApprove, 2*time.Minute)
	}
	if modes[tier] == approvals.ModeDual {
		vote("USEC", approvals.DecisionApprove, 4*time.Minute)
	}
	// step 2: the clone is made.
	move := func(to approvals.Status, by, note string, at time.Time) {
		h.must(h.eng.s.Transition(ctx, approvals.TransitionInput{RequestID: tr.id, To: to, By: by, Note: note, At: at}))
	}
	move(approvals.StatusProvisioning, audit.SystemActor, "", tr.requested.Add(5*time.Minute))
	tr.provisioned = true
	move(approvals.StatusRestoring, audit.SystemActor, "", tr.requested.Add(6*time.Minute))
	toReady := h.dur(7*time.Minute, time.Hour)
	if tr.fate == "failed" {
		move(approvals.StatusFailed, audit.SystemActor, "", tr.requested.Add(toReady))
		move(approvals.StatusDestroying, audit.SystemActor, "failed", tr.requested.Add(toReady+time.Minute))
		tr.end = tr.requested.Add(toReady + time.Minute + 5*time.Second)
		move(approvals.StatusDestroyed, audit.SystemActor, "", tr.end)
		tr.destroyBy = audit.SystemActor
		return
	}
	tr.ready = tr.requested.Add(toReady)
	tr.expires = tr.ready.Add(ttl)
	move(approvals.StatusReady, audit.SystemActor, "", tr.ready)
	if h.rng.IntN(3) == 0 {
		tr.expires = tr.expires.Add(2 * time.Hour)
		h.must(h.eng.s.Extend(ctx, tr.id, p.id, tr.expires, tr.ready.Add(30*time.Minute)))
	}
	// step 3: its end.
	switch tr.fate {
	case "expired":
		latency := h.dur(500*time.Millisecond, 30*time.Second)
		move(approvals.StatusDestroying, audit.SystemActor, "expired", tr.expires.Add(latency/2))
		tr.end, tr.destroyBy = tr.expires.Add(latency), audit.SystemActor
	case "destroyed":
		at := tr.ready.Add(h.dur(40*time.Minute, ttl-time.Minute))
		move(approvals.StatusDestroying, p.id, "destroy now", at)
		tr.end, tr.destroyBy = at.Add(3*time.Second), p.id
	default: // alive, standing
		return
	}
	move(approvals.StatusDestroyed, audit.SystemActor, "", tr.end)
	// step 4: break-glass reviews, as the review loop will record them.
	if tier != "breakglass" {
		return
	}
	switch k := h.rng.IntN(4); {
	case k <= 1:
		tr.reviewDue = tr.end.Add(day)
		h.reviewEvent(tr, audit.ActionReviewRequested, audit.SystemActor, tr.end.Add(time.Second), audit.DetailDueAtMS, strconv.FormatInt(tr.reviewDue.UnixMilli(), 10))
		if at := tr.end.Add(h.dur(time.Hour, 40*time.Hour)); k == 0 && at.Before(h.now) {
			h.reviewEvent(tr, audit.ActionReviewRefused, p.id, at.Add(-time.Minute), "reason", "self")
			h.reviewEvent(tr, audit.ActionReviewed, "USEC", at, audit.DetailNotes, "proportionate")
			tr.reviewer = "USEC"
		}
	}
}

func (h *history) reviewEvent(tr *truth, action, actor string, at time.Time, kv ...string) {
	h.review = append(h.review, audit.Event{ID: fmt.Sprintf("review-%d", len(h.review)), Action: action, RequestID: tr.id,
		Actor: actor, ActorName: names[actor], At: at, Tier: tr.tier, Source: tr.source, Details: map[string]string{kv[0]: kv[1]}})
}

// generate makes n requests, consumes the outbox into log and appends the review events. It
// returns the outbox's events as they were before consumption.
func generate(t *testing.T, log *Store, n int) (*history, []audit.Event) {
	h := &history{t: t, now: t0, eng: newEngine(t), rng: rand.New(rand.NewPCG(12, 34))}
	for i := range n {
		h.request(i)
	}
	ctx := context.Background()
	raw, err := h.eng.s.AuditOutbox().Read(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	c := audit.NewConsumer(h.eng.s.AuditOutbox(), log, audit.ConsumerConfig{Batch: 100,
		ActorName: func(_ context.Context, id string) string { return names[id] }}, zap.NewNop())
	for more := true; more; {
		if _, more, err = c.Drain(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := log.Append(ctx, "", h.review); err != nil {
		t.Fatal(err)
	}
	return h, append(raw, h.review...)
}

func (h *history) byID() map[string]*truth {
	m := map[string]*truth{}
	for _, tr := range h.truths {
		m[tr.id] = tr
	}
	return m
}

func within(t, since, until time.Time) bool {
	return !t.IsZero() && !t.Before(since) && !t.After(until)
}

// TestExportOnGeneratedHistory: every filter selects exactly the events that match it, counted
// from the outbox as the engine wrote it (tier and source from the generator's record).
func TestExportOnGeneratedHistory(t *testing.T) {
	log := open(t, testenv.Postgres(t))
	h, raw := generate(t, log, 120)
	truths := h.byID()
	tests := []struct {
		name string
		f    audit.Filter
	}{
		{"everything", audit.Filter{}},
		{"last 7 days", audit.Filter{Since: h.now.Add(-7 * day)}},
		{"90 days until 30 days ago", audit.Filter{Since: h.now.Add(-90 * day), Until: h.now.Add(-30 * day)}},
		{"by an approver", audit.Filter{Actor: "UAPP"}},
		{"debug tier", audit.Filter{Tier: "debug"}},
		{"destroyed", audit.Filter{Action: audit.ActionDestroyed}},
		{"source orders", audit.Filter{Source: "orders"}},
		{"break-glass reviews, 90 days", audit.Filter{Since: h.now.Add(-90 * day), Tier: "breakglass", Action: audit.ActionReviewed}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			match := func(e audit.Event) bool {
				tr := truths[e.RequestID]
				f := tt.f
				return (f.Since.IsZero() || !e.At.Before(f.Since)) && (f.Until.IsZero() || e.At.Before(f.Until)) &&
					(f.Actor == "" || e.Actor == f.Actor) && (f.Tier == "" || tr.tier == f.Tier) &&
					(f.Action == "" || e.Action == f.Action) && (f.Source == "" || tr.source == f.Source)
			}
			var want []string
			for _, e := range raw {
				if match(e) {
					want = append(want, e.ID)
				}
			}
			var got []string
			var last int64
			err := log.Export(context.Background(), tt.f, func(r audit.Record) error {
				if r.Seq <= last || !match(r.Event) {
					return fmt.Errorf("row %d (%s %s) out of order or outside the filter", r.Seq, r.Action, r.RequestID)
				}
				last = r.Seq
				got = append(got, r.ID)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(want) == 0 || !slices.Equal(got, want) {
				t.Fatalf("exported %d events, want %d", len(got), len(want))
			}
		})
	}
}

// TestAnswersAndReportOnGeneratedHistory: each auditor's answer and every report figure, as
// computed from the log, equals what the generator's record says.
func TestAnswersAndReportOnGeneratedHistory(t *testing.T) {
	log := open(t, testenv.Postgres(t))
	h, _ := generate(t, log, 160)
	ctx := context.Background()
	now := h.now
	clones, err := audit.LoadClones(ctx, log, now.Add(-100*day), mask)
	if err != nil {
		t.Fatal(err)
	}
	fates := map[string]int{}
	for _, tr := range h.truths {
		fates[tr.fate+"/"+tr.tier]++
	}
	t.Logf("fates: %v", fates)

	t.Run("unmasked access, 90 days", func(t *testing.T) {
		since := now.Add(-90 * day)
		var want []string
		for _, tr := range h.truths {
			if mask[tr.tier] == "none" && !tr.ready.IsZero() && (tr.end.IsZero() || !tr.end.Before(since)) {
				want = append(want, fmt.Sprintf("%s %s %s", tr.id, tr.name, cmpTime(tr.end, now).Sub(tr.ready)))
			}
		}
		slices.Sort(want)
		var got []string
		for _, a := range audit.UnmaskedAccess(clones, since, now, audit.Everyone) {
			got = append(got, fmt.Sprintf("%s %s %s", a.Clone.RequestID, a.Clone.Who(), a.Duration))
		}
		slices.Sort(got)
		if len(want) == 0 || !slices.Equal(got, want) {
			t.Fatalf("got %d:\n%v\nwant %d:\n%v", len(got), got, len(want), want)
		}
	})
	t.Run("break-glass this quarter", func(t *testing.T) {
		since := audit.QuarterStart(now)
		var want, got []string
		for _, tr := range h.truths {
			if tr.tier == "breakglass" && !tr.requested.Before(since) {
				want = append(want, tr.id+" reviewer="+tr.reviewer)
			}
		}
		for _, c := range audit.BreakGlassSince(clones, since, now, audit.Everyone) {
			got = append(got, c.RequestID+" reviewer="+c.Review.Reviewer)
		}
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("got %v\nwant %v", got, want)
		}
	})
	t.Run("who approved what, 30 days", func(t *testing.T) {
		since := now.Add(-30 * day)
		var want, got []string
		for _, tr := range h.truths {
			for _, d := range tr.decisions {
				if within(d.at, since, now) {
					want = append(want, fmt.Sprintf("%s %s %s %s", d.at.Format(time.RFC3339), tr.id, d.actor, d.decision))
				}
			}
		}
		for _, a := range audit.Approvals(clones, since, now, audit.Everyone) {
			got = append(got, fmt.Sprintf("%s %s %s %s", a.At.Format(time.RFC3339), a.Clone.RequestID, a.Actor, a.Decision.Decision))
		}
		slices.Sort(want)
		slices.Sort(got)
		if len(want) == 0 || !slices.Equal(got, want) {
			t.Fatalf("got %v\nwant %v", got, want)
		}
	})
	t.Run("who destroyed what, 30 days", func(t *testing.T) {
		since := now.Add(-30 * day)
		var want, got []string
		for _, tr := range h.truths {
			if within(tr.end, since, now) {
				want = append(want, fmt.Sprintf("%s %s %s", tr.end.Format(time.RFC3339Nano), tr.id, tr.destroyBy))
			}
		}
		for _, c := range audit.Destroyed(clones, since, now, audit.Everyone) {
			got = append(got, fmt.Sprintf("%s %s %s", c.DestroyedAt.Format(time.RFC3339Nano), c.RequestID, c.DestroyBy))
		}
		slices.Sort(want)
		if len(want) == 0 || !slices.Equal(got, want) {
			t.Fatalf("got %v\nwant %v", got, want)
		}
	})
	t.Run("clones alive", func(t *testing.T) {
		var want, got []string
		for _, tr := range h.truths {
			if tr.provisioned && tr.end.IsZero() {
				want = append(want, tr.id+" "+tr.name)
			}
		}
		for _, c := range audit.Alive(clones, audit.Everyone) {
			got = append(got, c.RequestID+" "+c.Who())
		}
		slices.Sort(got)
		if len(want) == 0 || !slices.Equal(got, want) {
			t.Fatalf("got %v\nwant %v", got, want)
		}
	})
	for _, scope := range []audit.Scope{audit.Everyone, {User: "U03"}} {
		t.Run(fmt.Sprintf("report, 30 days, scope %+v", scope), func(t *testing.T) {
			checkReport(t, h, clones, scope)
		})
	}
}

// checkReport computes every figure from the generator's record and compares.
func checkReport(t *testing.T, h *history, clones []*audit.Clone, scope audit.Scope) {
	now := h.now
	since := now.Add(-30 * day)
	var access, toAccess, revocation []time.Duration
	var standing []string
	byUser, byTeam, byTier, months := map[string]int{}, map[string]int{}, map[string]int{}, map[string]int{}
	for m := time.Date(since.Year(), since.Month(), 1, 0, 0, 0, 0, time.UTC); !m.After(now); m = m.AddDate(0, 1, 0) {
		months[m.Format("2006-01")] = 0
	}
	unreviewed, overdue := 0, 0
	for _, tr := range h.truths {
		if !scope.All && tr.who != scope.User {
			continue
		}
		if !tr.ready.IsZero() && tr.end.IsZero() && !now.Before(tr.expires) {
			standing = append(standing, tr.id)
		}
		if !tr.ready.IsZero() && within(tr.end, since, now) {
			access = append(access, tr.end.Sub(tr.ready))
			if !tr.end.Before(tr.expires) {
				revocation = append(revocation, tr.end.Sub(tr.expires))
			}
		}
		if within(tr.ready, since, now) {
			toAccess = append(toAccess, tr.ready.Sub(tr.requested))
			byUser[tr.name]++
			byTeam[tr.team]++
			byTier[tr.tier]++
		}
		if tr.tier == "breakglass" && within(tr.requested, since, now) {
			months[tr.requested.Format("2006-01")]++
			if !tr.ready.IsZero() && !tr.end.IsZero() && tr.reviewer == "" { // a clone that never was ready needs no review
				unreviewed++
				if now.After(cmpTime(tr.reviewDue, tr.end.Add(audit.DefaultReviewWithin))) {
					overdue++
				}
			}
		}
	}
	r := audit.BuildReport(clones, audit.ReportOptions{Now: now, Window: 30 * day, Scope: scope})
	var gotStanding []string
	for _, c := range r.Standing {
		gotStanding = append(gotStanding, c.RequestID)
	}
	slices.Sort(gotStanding)
	checks := []struct {
		name      string
		got, want any
	}{
		{"standing credentials", gotStanding, standing},
		{"access duration", r.AccessDuration, audit.Summarize(access)},
		{"time to access", r.TimeToAccess, audit.Summarize(toAccess)},
		{"revocation latency", r.Revocation, audit.Summarize(revocation)},
		{"break-glass per month", countMap(r.BreakGlassByMonth), months},
		{"break-glass unreviewed", r.BreakGlassUnreviewed, unreviewed},
		{"break-glass overdue", r.BreakGlassOverdue, overdue},
		{"by user", countMap(r.ByUser), byUser},
		{"by team", countMap(r.ByTeam), byTeam},
		{"by tier", countMap(r.ByTier), byTier},
	}
	for _, c := range checks {
		if fmt.Sprint(c.got) != fmt.Sprint(c.want) {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	if r.AccessDuration.N == 0 || r.TimeToAccess.N == 0 || (scope.All && (r.Revocation.N == 0 || len(standing) == 0 || unreviewed == 0)) {
		t.Errorf("the generated history leaves figures empty: %+v", r)
	}
}

func countMap(cs []audit.Count) map[string]int {
	m := map[string]int{}
	for _, c := range cs {
		m[c.Key] = c.N
	}
	return m
}

func cmpTime(a, b time.Time) time.Time {
	if !a.IsZero() {
		return a
	}
	return b
}
