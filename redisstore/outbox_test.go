package redisstore

import (
	"context"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/clonebot/clonebot/approvals"
)

// TestOutboxContent checks the event each operation appends, field by field.
func TestOutboxContent(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	at := t0.Add(time.Minute)
	msStr := func(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }
	tests := []struct {
		name string
		do   func() error
		want []OutboxEvent // IDs ignored
	}{
		{"create", func() error { return f.s.Create(ctx, dual("cl-o"), approvals.Limits{}) },
			[]OutboxEvent{{Type: "requested", RequestID: "cl-o", Actor: requester, At: t0, Data: map[string]string{
				"tier": "debug", "source": "prod", "mode": "dual", "masking": "none", "ttl_ms": "14400000", "reason": "INC-1 check", "team": "payments"}}}},
		{"message", func() error { return f.s.SetMessage(ctx, "cl-o", "C1", "1.2") },
			[]OutboxEvent{{Type: "message", RequestID: "cl-o", Actor: "clonebot", At: t0, Data: withContext("C1", map[string]string{"channel": "C1", "message_ts": "1.2"})}}},
		{"vote counted", func() error {
			_, err := f.s.Vote(ctx, approvals.VoteInput{RequestID: "cl-o", Voter: "UONA", Groups: []string{"oncall"}, Decision: approvals.DecisionApprove, At: at})
			return err
		}, []OutboxEvent{{Type: "voted", RequestID: "cl-o", Actor: "UONA", At: at, Data: withContext("C1", map[string]string{"decision": "approve", "slot": "0", "slot_name": "oncall"})}}},
		{"vote approves", func() error {
			_, err := f.s.Vote(ctx, approvals.VoteInput{RequestID: "cl-o", Voter: "UBOSS", Decision: approvals.DecisionApprove, Reason: "ok", At: at})
			return err
		}, []OutboxEvent{
			{Type: "voted", RequestID: "cl-o", Actor: "UBOSS", At: at, Data: withContext("C1", map[string]string{"decision": "approve", "slot": "1", "slot_name": "security", "reason": "ok"})},
			{Type: "approved", RequestID: "cl-o", Actor: "UBOSS", At: at, Data: withContext("C1", map[string]string{"from": "pending", "to": "approved",
				"approvers": "oncall: UONA; security: UBOSS"})},
		}},
		{"an approval that moves an earlier one", func() error {
			f.create(overlapping("cl-o5"))
			f.vote("cl-o5", "ULEAD", approvals.DecisionApprove, at, "leads")
			_, err := f.s.Vote(ctx, approvals.VoteInput{RequestID: "cl-o5", Voter: "UONA", Groups: []string{"oncall"}, Decision: approvals.DecisionApprove, At: at})
			return err
		}, []OutboxEvent{
			{Type: "requested", RequestID: "cl-o5", Actor: requester, At: t0, Data: map[string]string{
				"tier": "debug", "source": "prod", "mode": "dual", "masking": "none", "ttl_ms": "14400000", "reason": "INC-1 check", "team": "payments"}},
			{Type: "voted", RequestID: "cl-o5", Actor: "ULEAD", At: at, Data: withContext("", map[string]string{"decision": "approve", "slot": "0", "slot_name": "on-call or lead"})},
			{Type: "voted", RequestID: "cl-o5", Actor: "UONA", At: at, Data: withContext("", map[string]string{"decision": "approve", "slot": "0", "slot_name": "on-call or lead",
				"reassigned": "ULEAD now counts as lead or security"})},
			{Type: "approved", RequestID: "cl-o5", Actor: "UONA", At: at, Data: withContext("", map[string]string{"from": "pending", "to": "approved",
				"approvers": "on-call or lead: UONA; lead or security: ULEAD"})},
		}},
		{"transition", func() error {
			_, err := f.s.Transition(ctx, approvals.TransitionInput{RequestID: "cl-o", To: approvals.StatusProvisioning, By: "clonebot", Note: "starting", At: at})
			return err
		}, []OutboxEvent{{Type: "provisioning", RequestID: "cl-o", Actor: "clonebot", At: at, Data: withContext("C1", map[string]string{"from": "approved", "to": "provisioning", "note": "starting"})}}},
		{"ready", func() error {
			f.move("cl-o", approvals.StatusRestoring, at)
			f.move("cl-o", approvals.StatusReady, at)
			return nil
		}, []OutboxEvent{
			{Type: "restoring", RequestID: "cl-o", Actor: "clonebot", At: at, Data: withContext("C1", map[string]string{"from": "provisioning", "to": "restoring"})},
			{Type: "ready", RequestID: "cl-o", Actor: "clonebot", At: at, Data: withContext("C1", map[string]string{"from": "restoring", "to": "ready", "expires_at_ms": msStr(at.Add(4 * time.Hour))})},
		}},
		{"extend", func() error {
			_, err := f.s.Extend(ctx, "cl-o", requester, at.Add(6*time.Hour), at)
			return err
		}, []OutboxEvent{{Type: "extended", RequestID: "cl-o", Actor: requester, At: at, Data: withContext("C1", map[string]string{
			"from_expires_at_ms": msStr(at.Add(4 * time.Hour)), "expires_at_ms": msStr(at.Add(6 * time.Hour))})}}},
		{"failed", func() error {
			_, err := f.s.Transition(ctx, approvals.TransitionInput{RequestID: "cl-o", To: approvals.StatusFailed, By: "clonebot", Failure: "boom", At: at})
			return err
		}, []OutboxEvent{{Type: "failed", RequestID: "cl-o", Actor: "clonebot", At: at, Data: withContext("C1", map[string]string{"from": "ready", "to": "failed", "failure": "boom"})}}},
		{"cancel", func() error {
			f.create(dual("cl-o2"))
			_, err := f.s.Cancel(ctx, "cl-o2", requester, at)
			return err
		}, []OutboxEvent{
			{Type: "requested", RequestID: "cl-o2", Actor: requester, At: t0, Data: map[string]string{
				"tier": "debug", "source": "prod", "mode": "dual", "masking": "none", "ttl_ms": "14400000", "reason": "INC-1 check", "team": "payments"}},
			{Type: "cancelled", RequestID: "cl-o2", Actor: requester, At: at, Data: withContext("", map[string]string{"from": "pending", "to": "cancelled"})},
		}},
		{"deny", func() error {
			f.create(dual("cl-o3"))
			_, err := f.s.Vote(ctx, approvals.VoteInput{RequestID: "cl-o3", Voter: "USEC", Groups: []string{"security"}, Decision: approvals.DecisionDeny, Reason: "no", At: at})
			return err
		}, []OutboxEvent{
			{Type: "requested", RequestID: "cl-o3", Actor: requester, At: t0, Data: map[string]string{
				"tier": "debug", "source": "prod", "mode": "dual", "masking": "none", "ttl_ms": "14400000", "reason": "INC-1 check", "team": "payments"}},
			{Type: "voted", RequestID: "cl-o3", Actor: "USEC", At: at, Data: withContext("", map[string]string{"decision": "deny", "slot": "-1", "reason": "no"})},
			{Type: "denied", RequestID: "cl-o3", Actor: "USEC", At: at, Data: withContext("", map[string]string{"from": "pending", "to": "denied"})},
		}},
		{"create through the API", func() error {
			r := dual("cl-o4")
			r.Via = "api:k7"
			return f.s.Create(ctx, r, approvals.Limits{})
		}, []OutboxEvent{{Type: "requested", RequestID: "cl-o4", Actor: "api:k7", At: t0, Data: map[string]string{
			"tier": "debug", "source": "prod", "mode": "dual", "masking": "none", "ttl_ms": "14400000", "reason": "INC-1 check", "team": "payments",
			"requester": requester}}}},
		{"no-ops emit nothing", func() error {
			f.vote("cl-o3", "USEC", approvals.DecisionDeny, at, "security")                                             // already voted
			f.vote("cl-o3", "UONA", approvals.DecisionApprove, at, "oncall")                                            // not pending
			f.move("cl-o", approvals.StatusFailed, at)                                                                  // retry
			_, _ = f.s.Transition(ctx, approvals.TransitionInput{RequestID: "cl-o", To: approvals.StatusReady, At: at}) // illegal
			_, _ = f.s.Cancel(ctx, "cl-o2", requester, at)                                                              // not pending
			return f.s.SetMessage(ctx, "cl-o", "C1", "1.2")                                                             // same place
		}, nil},
	}
	for _, tt := range tests {
		cursor := f.lastID()
		if err := tt.do(); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		got, err := f.s.ReadOutbox(ctx, cursor, 0)
		if err != nil {
			t.Fatal(err)
		}
		for i := range got {
			got[i].ID = ""
		}
		if !reflect.DeepEqual(got, tt.want) && !(len(got) == 0 && len(tt.want) == 0) {
			t.Errorf("%s: outbox\n got %+v\nwant %+v", tt.name, got, tt.want)
		}
	}
}

func TestReadOutboxPagesAndTrim(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, id := range []string{"cl-p1", "cl-p2", "cl-p3", "cl-p4", "cl-p5"} {
		f.create(dual(id))
	}
	var seen []string
	cursor := ""
	for {
		page, err := f.s.ReadOutbox(ctx, cursor, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		if len(page) > 2 {
			t.Fatalf("page of %d", len(page))
		}
		for _, e := range page {
			seen = append(seen, e.RequestID)
		}
		cursor = page[len(page)-1].ID
	}
	if want := []string{"cl-p1", "cl-p2", "cl-p3", "cl-p4", "cl-p5"}; !slices.Equal(seen, want) {
		t.Fatalf("read %v, want %v", seen, want)
	}
	all := f.outbox()
	if err := f.s.TrimOutbox(ctx, all[3].ID); err != nil {
		t.Fatal(err)
	}
	left := f.outbox()
	if len(left) != 2 || left[0].ID != all[3].ID {
		t.Fatalf("after trim: %+v", left)
	}
}

// withContext adds what every outbox event carries of its request (dual's): tier, source, mode,
// masking and, once the card is posted, its channel.
func withContext(channel string, data map[string]string) map[string]string {
	out := map[string]string{"tier": "debug", "source": "prod", "mode": "dual", "masking": "none"}
	if channel != "" {
		out["channel"] = channel
	}
	for k, v := range data {
		out[k] = v
	}
	return out
}
