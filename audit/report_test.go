package audit

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clonebot/clonebot/internal/golden"
)

func TestSummarize(t *testing.T) {
	seconds := func(ns ...int) []time.Duration {
		out := make([]time.Duration, len(ns))
		for i, n := range ns {
			out[i] = time.Duration(n) * time.Second
		}
		return out
	}
	var oneToTwenty, oneToHundred []int
	for i := 1; i <= 100; i++ {
		if i <= 20 {
			oneToTwenty = append(oneToTwenty, 21-i) // unsorted on purpose
		}
		oneToHundred = append(oneToHundred, i)
	}
	s := time.Second
	tests := []struct {
		name string
		give []time.Duration
		want Stats
	}{
		{"none", nil, Stats{}},
		{"one", seconds(5), Stats{N: 1, Mean: 5 * s, P50: 5 * s, P95: 5 * s, P99: 5 * s}},
		{"two", seconds(1, 3), Stats{N: 2, Mean: 2 * s, P50: 1 * s, P95: 3 * s, P99: 3 * s}},
		{"1..20", seconds(oneToTwenty...), Stats{N: 20, Mean: 10500 * time.Millisecond, P50: 10 * s, P95: 19 * s, P99: 20 * s}},
		{"1..100", seconds(oneToHundred...), Stats{N: 100, Mean: 50500 * time.Millisecond, P50: 50 * s, P95: 95 * s, P99: 99 * s}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Summarize(tt.give); got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestFormatDuration(t *testing.T) {
	tests := []struct {
		give time.Duration
		want string
	}{
		{4200 * time.Millisecond, "4.2s"}, {0, "0.0s"}, {90 * time.Second, "2m"}, {3*time.Hour + 12*time.Minute, "3h12m"},
		{5 * time.Hour, "5h00m"}, {50 * time.Hour, "2d2h"}, {48 * time.Hour, "2d"},
	}
	for _, tt := range tests {
		if got := FormatDuration(tt.give); got != tt.want {
			t.Errorf("FormatDuration(%s) = %s, want %s", tt.give, got, tt.want)
		}
	}
}

// scenario is a small history whose every answer is known by hand (see the golden file).
type scenario struct {
	now    time.Time
	events []Event
	n      int
}

func (s *scenario) add(action, req, actor string, at time.Time, details ...string) {
	s.n++
	d := map[string]string{}
	for i := 0; i+1 < len(details); i += 2 {
		d[details[i]] = details[i+1]
	}
	s.events = append(s.events, Normalize(Event{ID: fmt.Sprintf("%d-0", s.n), Action: action, RequestID: req, Actor: actor,
		ActorName: map[string]string{"UALICE": "alice", "UBOB": "bob", "USEC": "sec", "UCAROL": "carol"}[actor], At: at,
		Tier: d["tier"], Source: "prod", Details: d}))
}

func ms(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

// made runs a clone from request to ready: approval (auto by clonebot, or votes), then
// provisioning, restoring and ready after toReady, expiring ttl after ready.
func (s *scenario) made(req, who, team, tier, mode string, at, toReady, ttl time.Duration, voters ...string) time.Time {
	t0 := s.now.Add(-at)
	s.add(ActionRequested, req, who, t0, "tier", tier, "mode", mode, "team", team, "reason", "INC-"+req)
	if len(voters) == 0 {
		s.add(ActionApproved, req, SystemActor, t0, "note", "approved automatically")
	}
	for i, v := range voters {
		s.add(ActionVoted, req, v, t0.Add(time.Duration(i+1)*time.Minute), "decision", "approve", "slot_name", "slot"+strconv.Itoa(i))
	}
	if len(voters) > 0 {
		s.add(ActionApproved, req, voters[len(voters)-1], t0.Add(time.Duration(len(voters))*time.Minute))
	}
	s.add(ActionProvisioning, req, SystemActor, t0.Add(toReady/2))
	ready := t0.Add(toReady)
	s.add(ActionReady, req, SystemActor, ready, "expires_at_ms", ms(ready.Add(ttl)))
	return ready
}

func (s *scenario) ended(req, by, why string, at time.Time) {
	s.add(ActionDestroying, req, by, at, "note", why)
	s.add(ActionDestroyed, req, SystemActor, at.Add(2*time.Second))
}

func newScenario() *scenario {
	// fixed date: the golden files print times; no server sees them
	s := &scenario{now: time.Date(2026, 3, 20, 12, 0, 0, 0, time.UTC)}
	day := 24 * time.Hour
	// cl-a: alice's debug clone (unmasked), two approvers, extended once, destroyed 5 s after its expiry.
	ready := s.made("cl-a", "UALICE", "payments", "debug", "dual", 10*day, 20*time.Minute, 4*time.Hour, "UBOB", "USEC")
	s.add(ActionExtended, "cl-a", "UALICE", ready.Add(time.Hour), "expires_at_ms", ms(ready.Add(6*time.Hour)))
	s.ended("cl-a", SystemActor, "expired", ready.Add(6*time.Hour+3*time.Second))
	// cl-b: carol's break-glass, destroyed by her after an hour, reviewed by sec.
	ready = s.made("cl-b", "UCAROL", "data", "breakglass", "breakglass", 3*day, 10*time.Minute, 2*time.Hour)
	s.ended("cl-b", "UCAROL", "destroy now", ready.Add(time.Hour))
	s.add(ActionReviewRequested, "cl-b", SystemActor, ready.Add(time.Hour+2*time.Second), "due_at_ms", ms(ready.Add(49*time.Hour)))
	s.add(ActionReviewed, "cl-b", "USEC", ready.Add(5*time.Hour), "notes", "INC confirmed; access proportionate")
	// cl-c: alice's dev clone (masked), alive.
	s.made("cl-c", "UALICE", "payments", "dev", "auto", 2*day, 5*time.Minute, 4*day)
	// cl-d: bob's debug clone, past its expiry and still alive: a standing credential.
	s.made("cl-d", "UBOB", "payments", "debug", "dual", 1*day, 30*time.Minute, 20*time.Hour, "UALICE", "USEC")
	// cl-e: carol's break-glass five days ago, ended four days ago, never reviewed: overdue.
	ready = s.made("cl-e", "UCAROL", "data", "breakglass", "breakglass", 5*day, 15*time.Minute, 2*time.Hour)
	s.ended("cl-e", SystemActor, "expired", ready.Add(2*time.Hour+10*time.Second))
	// cl-f: bob's staging request, denied.
	s.add(ActionRequested, "cl-f", "UBOB", s.now.Add(-4*day), "tier", "staging", "mode", "single", "team", "payments")
	s.add(ActionVoted, "cl-f", "USEC", s.now.Add(-4*day+time.Minute), "decision", "deny", "reason", "use dev")
	s.add(ActionDenied, "cl-f", "USEC", s.now.Add(-4*day+time.Minute))
	// cl-g: alice's debug clone 60 days ago: outside a 30-day report, inside 90 days of unmasked access.
	ready = s.made("cl-g", "UALICE", "payments", "debug", "dual", 60*day, time.Hour, 2*time.Hour, "UBOB", "USEC")
	s.ended("cl-g", SystemActor, "expired", ready.Add(2*time.Hour+time.Second))
	return s
}

var tierMasking = map[string]string{"dev": "full", "staging": "partial", "debug": "none", "breakglass": "none"}

func (s *scenario) clones() []*Clone {
	f := NewFolder(tierMasking)
	for _, e := range s.events {
		f.Add(e)
	}
	return f.Clones()
}

// TestAnswersAndReport prints every answer and the report of the scenario; the golden file is
// checked by hand against the scenario above, and the figures are asserted below.
func TestAnswersAndReport(t *testing.T) {
	s := newScenario()
	clones := s.clones()
	var b bytes.Buffer
	section := func(title string) { fmt.Fprintf(&b, "\n== %s\n", title) }
	section("unmasked, 90 days")
	must(t, WriteUnmasked(&b, UnmaskedAccess(clones, s.now.AddDate(0, 0, -90), s.now, Everyone), s.now))
	section("break-glass this quarter")
	must(t, WriteBreakGlass(&b, BreakGlassSince(clones, QuarterStart(s.now), s.now, Everyone), s.now, DefaultReviewWithin))
	section("approvals, 30 days")
	must(t, WriteApprovals(&b, Approvals(clones, s.now.AddDate(0, 0, -30), s.now, Everyone)))
	section("destroyed, 30 days")
	must(t, WriteDestroyed(&b, Destroyed(clones, s.now.AddDate(0, 0, -30), s.now, Everyone)))
	section("alive")
	must(t, WriteAlive(&b, Alive(clones, Everyone), s.now))
	section("report, 30 days")
	r := BuildReport(clones, ReportOptions{Now: s.now, Window: 30 * 24 * time.Hour, Scope: Everyone})
	b.WriteString(strings.Join(r.Lines(), "\n") + "\n")
	section("report, 30 days, as alice")
	b.WriteString(strings.Join(BuildReport(clones, ReportOptions{Now: s.now, Window: 30 * 24 * time.Hour, Scope: Scope{User: "UALICE"}}).Lines(), "\n") + "\n")
	golden.Check(t, "scenario.golden", b.Bytes())

	// the figures, by hand: access ends in the window for cl-a (6h00m05s), cl-b (1h00m02s), cl-e (2h00m12s).
	want := Stats{N: 3, Mean: (6*time.Hour + 5*time.Second + time.Hour + 2*time.Second + 2*time.Hour + 12*time.Second) / 3,
		P50: 2*time.Hour + 12*time.Second, P95: 6*time.Hour + 5*time.Second, P99: 6*time.Hour + 5*time.Second}
	if r.AccessDuration != want {
		t.Errorf("access duration %+v, want %+v", r.AccessDuration, want)
	}
	// ready in the window: cl-a 20m, cl-b 10m, cl-c 5m, cl-d 30m, cl-e 15m.
	if got := r.TimeToAccess; got.N != 5 || got.P50 != 15*time.Minute || got.P95 != 30*time.Minute {
		t.Errorf("time to access %+v", got)
	}
	// past expiry when revoked: cl-a 5 s, cl-e 12 s (cl-b was destroyed before its expiry).
	if got := r.Revocation; got.N != 2 || got.P50 != 5*time.Second || got.P99 != 12*time.Second {
		t.Errorf("revocation %+v", got)
	}
	if len(r.Standing) != 1 || r.Standing[0].RequestID != "cl-d" {
		t.Errorf("standing %v", r.Standing)
	}
	if r.BreakGlassUnreviewed != 1 || r.BreakGlassOverdue != 1 {
		t.Errorf("break-glass unreviewed %d, overdue %d; want 1, 1", r.BreakGlassUnreviewed, r.BreakGlassOverdue)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestRequestThroughAnAPIKey: a request made through an API key has the key as its actor and
// names the requester in its details; the clone is the requester's, and says which key.
func TestRequestThroughAnAPIKey(t *testing.T) {
	s := newScenario()
	s.events = nil
	s.add(ActionRequested, "cl-k", "api:k7", s.now, "tier", "dev", "mode", "auto", "team", "payments", DetailRequester, "service:ci")
	s.add(ActionRequested, "cl-s", "UALICE", s.now, "tier", "dev", "mode", "auto")
	clones := s.clones()
	if c := clones[0]; c.Requester != "service:ci" || c.RequestedVia != "api:k7" || c.RequesterName != "" {
		t.Errorf("through the API: %+v", c)
	}
	if c := clones[1]; c.Requester != "UALICE" || c.RequestedVia != "" || c.RequesterName != "alice" {
		t.Errorf("from Slack: %+v", c)
	}
}
