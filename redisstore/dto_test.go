package redisstore

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/clonebot/clonebot/approvals"
	"github.com/clonebot/clonebot/internal/testenv"
)

// full sets every field of a request, with times at millisecond precision in UTC (what the
// store keeps) and strings that JSON must escape.
func full() *approvals.Request {
	return &approvals.Request{
		ID: "cl-7f3k2q", Requester: "U1", Via: "api:k1", Team: "payments", Source: "prod",
		Date: testenv.Day(t0, -1).Add(14*time.Hour + 30*time.Minute + 15123*time.Millisecond), PointInTime: true,
		Tier: "debug", Masking: approvals.MaskNone, Mode: approvals.ModeDual,
		Slots:  []approvals.Slot{slotOncall, slotSecurity},
		TTL:    48 * time.Hour, // 1.728e14 ns: corrupted if it ever went through cjson as a number
		MaxTTL: 48*time.Hour + 1500*time.Millisecond,
		Reason: `INC-4411 "payments" down \ ünïcødé </script> @channel`, Channel: "C123", MessageTS: "1763800000.000100",
		Status: approvals.StatusPending,
		Votes: []approvals.Vote{
			{User: "U2", Decision: approvals.DecisionApprove, Slot: 0, At: t0.Add(time.Millisecond)},
			{User: "U3", Decision: approvals.DecisionDeny, Slot: -1, Reason: "no \"ticket\"", At: t0.Add(2 * time.Second)},
		},
		History: []approvals.Event{{Type: "imported", From: approvals.StatusPending, To: approvals.StatusPending, By: "U9", Note: "n", At: t0}},
		Backup:  approvals.Backup{Kind: "file", Location: "s3://b/prod/x.dump", Size: 3 << 30, Checksum: "ab12"},
		Clone: &approvals.CloneInfo{Host: "h.example", Port: 5433, Database: "db", User: "clone_u",
			CredentialRef: "arn:aws:secretsmanager:eu-west-1:1:secret:x", Resources: []string{"cluster/a", "instance/b"}},
		Failure:          "restore: disk full",
		CreatedAt:        t0,
		PendingExpiresAt: t0.Add(time.Hour),
		ReadyAt:          t0.Add(2 * time.Hour),
		ExpiresAt:        t0.Add(50 * time.Hour),
		ReviewDueAt:      t0.Add(48 * time.Hour),
		UpdatedAt:        t0.Add(3 * time.Millisecond),
	}
}

func TestHashRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		give *approvals.Request
	}{
		{"every field", full()},
		{"minimal", &approvals.Request{ID: "cl-2", Requester: "U1", Status: approvals.StatusApproved}},
		{"epoch and pre-epoch times", &approvals.Request{ID: "cl-3", Requester: "U1", Status: approvals.StatusPending,
			// fixed date: a pure hash encoding round trip; no server sees it
			Date: time.Unix(0, 0).UTC(), CreatedAt: time.Date(1969, 7, 20, 20, 17, 0, 0, time.UTC)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fields, err := toHash(tt.give)
			if err != nil {
				t.Fatal(err)
			}
			h := map[string]string{}
			for i := 0; i < len(fields); i += 2 {
				h[fields[i].(string)] = fields[i+1].(string)
			}
			got, err := fromHash(h)
			if err != nil {
				t.Fatal(err)
			}
			assertSame(t, got, tt.give)
		})
	}
}

// TestCreateGetRoundTrip stores every field through Redis and reads it back.
func TestCreateGetRoundTrip(t *testing.T) {
	f := newFixture(t)
	r := full()
	f.create(r)
	want := *r
	want.History = append(append([]approvals.Event(nil), r.History...),
		approvals.Event{Type: "requested", To: approvals.StatusPending, By: "api:k1", At: t0}) // made through the API: by its key
	assertSame(t, f.get(r.ID), &want)
}

// TestLuaWrittenFieldsRoundTrip checks what the scripts write: votes, timeline events, the
// clone, the failure and the ready-time arithmetic on a 48h TTL.
func TestLuaWrittenFieldsRoundTrip(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	r := single("cl-lua")
	r.TTL = 48 * time.Hour
	f.create(r)
	reason := `not "now" \ ünï </b>`
	voteAt := t0.Add(1234 * time.Millisecond)
	res, err := f.s.Vote(ctx, approvals.VoteInput{RequestID: r.ID, Voter: "ULEAD", Groups: []string{"leads"},
		Decision: approvals.DecisionApprove, Reason: reason, At: voteAt})
	if err != nil {
		t.Fatal(err)
	}
	wantVote := approvals.Vote{User: "ULEAD", Decision: approvals.DecisionApprove, Slot: 0, Eligible: []int{0}, Reason: reason, At: voteAt}
	if len(res.Request.Votes) != 1 || !reflect.DeepEqual(res.Request.Votes[0], wantVote) {
		t.Fatalf("votes %+v, want [%+v]", res.Request.Votes, wantVote)
	}
	clone := &approvals.CloneInfo{Host: "h", Port: 5432, Database: "d", User: "u", CredentialRef: "arn:x", Resources: []string{"a"}}
	readyAt := t0.Add(10*time.Minute + 7*time.Millisecond)
	f.move(r.ID, approvals.StatusProvisioning, readyAt)
	f.move(r.ID, approvals.StatusRestoring, readyAt)
	got, err := f.s.Transition(ctx, approvals.TransitionInput{RequestID: r.ID, To: approvals.StatusReady,
		By: "clonebot", Note: `masked "ok"`, At: readyAt, Clone: clone})
	if err != nil {
		t.Fatal(err)
	}
	if !got.ReadyAt.Equal(readyAt) || !got.ExpiresAt.Equal(readyAt.Add(48*time.Hour)) || got.TTL != 48*time.Hour {
		t.Fatalf("ready at %v expires %v ttl %v; want %v, %v, 48h", got.ReadyAt, got.ExpiresAt, got.TTL, readyAt, readyAt.Add(48*time.Hour))
	}
	if !reflect.DeepEqual(got.Clone, clone) {
		t.Fatalf("clone %+v, want %+v", got.Clone, clone)
	}
	last := got.History[len(got.History)-1]
	wantEvent := approvals.Event{Type: "ready", From: approvals.StatusRestoring, To: approvals.StatusReady, By: "clonebot", Note: `masked "ok"`, At: readyAt}
	if last != wantEvent {
		t.Fatalf("last event %+v, want %+v", last, wantEvent)
	}
	failed, err := f.s.Transition(ctx, approvals.TransitionInput{RequestID: r.ID, To: approvals.StatusFailed, Failure: "disk \"full\"", At: readyAt})
	if err != nil {
		t.Fatal(err)
	}
	if failed.Failure != `disk "full"` || !reflect.DeepEqual(failed.Clone, clone) {
		t.Fatalf("failure %q clone %+v", failed.Failure, failed.Clone)
	}
	assertSame(t, f.get(r.ID), failed)
}

func assertSame(t *testing.T, got, want *approvals.Request) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", " ")
		w, _ := json.MarshalIndent(want, "", " ")
		t.Fatalf("request differs\ngot:  %s\nwant: %s", g, w)
	}
}
