package redisstore

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/clonebot/clonebot/approvals"
	"github.com/clonebot/clonebot/internal/fakes"
)

// TestNoticesRecordedWithEachChange: every change of a request records a card notice, and the
// notices its caller gave, in the same script; a change that changes nothing records nothing.
func TestNoticesRecordedWithEachChange(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	r := single("cl-n1")
	if err := f.s.Create(ctx, r, approvals.Limits{}, approvals.Note("", "hello")); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.Vote(ctx, approvals.VoteInput{RequestID: r.ID, Voter: "ULEAD", Groups: []string{"leads"},
		Decision: approvals.DecisionApprove, At: t0}); err != nil {
		t.Fatal(err)
	}
	// refused votes and a repeated transition record nothing
	if _, err := f.s.Vote(ctx, approvals.VoteInput{RequestID: r.ID, Voter: "ULEAD", Decision: approvals.DecisionApprove, At: t0}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := f.s.Transition(ctx, approvals.TransitionInput{RequestID: r.ID, To: approvals.StatusProvisioning, At: t0,
			Say: []approvals.Notice{{Kind: approvals.NoticeProgress, Text: "provisioning"}}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.s.Transition(ctx, approvals.TransitionInput{RequestID: r.ID, To: approvals.StatusReady, At: t0,
		Say: []approvals.Notice{approvals.Note("", "never")}}); !errors.Is(err, approvals.ErrIllegalTransition) {
		t.Fatalf("provisioning → ready: %v, want illegal", err)
	}
	got, err := fakes.TakeAllNotices(ctx, f.s)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"card cl-n1", "note cl-n1 [] hello", "card cl-n1", "vote cl-n1 [ULEAD] approved",
		"card cl-n1", "progress cl-n1 provisioning"}
	if !slices.Equal(got, want) {
		t.Fatalf("notices\n got  %q\n want %q", got, want)
	}
	if due, _ := f.s.NoticesDue(ctx, 10); len(due) != 0 {
		t.Fatalf("still due after every notice was taken: %v", due)
	}
}

func TestAnnounceOnce(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	warn := approvals.Notice{Kind: approvals.NoticeTTLWarning}
	for i, want := range []bool{true, false} {
		sent, err := f.s.Announce(ctx, "cl-a1", "warned:1", warn)
		if err != nil || sent != want {
			t.Fatalf("announce %d: %v, %v; want %v", i, sent, err, want)
		}
	}
	if sent, err := f.s.Announce(ctx, "cl-a1", "", warn); err != nil || !sent {
		t.Fatalf("announce without once: %v, %v", sent, err)
	}
	if got, _ := fakes.TakeAllNotices(ctx, f.s); !slices.Equal(got, []string{"ttl_warning cl-a1", "ttl_warning cl-a1"}) {
		t.Fatalf("notices %q", got)
	}
	if err := f.s.Forget(ctx, "cl-a1"); err != nil {
		t.Fatal(err)
	}
	if sent, _ := f.s.Announce(ctx, "cl-a1", "warned:1", warn); !sent {
		t.Fatal("a forgotten request's once-mark survived")
	}
}

// TestNoticesLease: one sender at a time takes a request's notices; acknowledging drops what was
// sent and keeps the rest, in order; a sender that lost the lease cannot drop anything.
func TestNoticesLease(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, s := range []string{"a", "b", "c"} {
		if _, err := f.s.Announce(ctx, "cl-l1", "", approvals.Note("", s)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := f.s.TakeNotices(ctx, "cl-l1", "bot-a", time.Minute, 2)
	if err != nil || len(got) != 2 || got[0].Text != "a" || got[1].Text != "b" {
		t.Fatalf("take: %+v, %v", got, err)
	}
	if _, err := f.s.TakeNotices(ctx, "cl-l1", "bot-b", time.Minute, 2); !errors.Is(err, approvals.ErrLeaseHeld) {
		t.Fatalf("a second sender took held notices: %v", err)
	}
	if _, err := f.s.AckNotices(ctx, "cl-l1", "bot-b", 2, true); !errors.Is(err, approvals.ErrLeaseHeld) {
		t.Fatalf("a sender without the lease acknowledged: %v", err)
	}
	left, err := f.s.AckNotices(ctx, "cl-l1", "bot-a", 1, true)
	if err != nil || left != 2 {
		t.Fatalf("ack 1: %d left, %v", left, err)
	}
	got, err = f.s.TakeNotices(ctx, "cl-l1", "bot-b", time.Minute, 10)
	if err != nil || len(got) != 2 || got[0].Text != "b" {
		t.Fatalf("after bot-a released: %+v, %v", got, err)
	}
	if left, err := f.s.AckNotices(ctx, "cl-l1", "bot-b", 2, true); err != nil || left != 0 {
		t.Fatalf("ack 2: %d left, %v", left, err)
	}
	if due, _ := f.s.NoticesDue(ctx, 10); len(due) != 0 {
		t.Fatalf("due after all were sent: %v", due)
	}
	// the keys the scripts derive are the key schema's
	if n, err := f.c.Exists(ctx, f.s.k.engine()+nameNotices+"cl-l1", f.s.k.engine()+nameNoticeLease+"cl-l1").Result(); err != nil || n != 0 {
		t.Fatalf("notice keys left: %d, %v", n, err)
	}
	if _, err := f.s.Announce(ctx, "cl-l1", "x", approvals.Note("", "d")); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{f.s.k.engine() + nameNotices + "cl-l1", f.s.k.notify(), f.s.k.marks("cl-l1")} {
		if n, err := f.c.Exists(ctx, key).Result(); err != nil || n != 1 {
			t.Fatalf("%s: %d, %v: the scripts and keys.go disagree on a key", key, n, err)
		}
	}
}

// TestProgressLine keeps where a request's progress line is and the report it shows (its
// attempt and time, to the millisecond, as notices keep them), and reads a line recorded
// before it kept more than its ts.
func TestProgressLine(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if ts, shown, err := f.s.ProgressLine(ctx, "cl-p1"); err != nil || ts != "" || shown.Attempt != 0 || !shown.At.IsZero() {
		t.Fatalf("no line yet: %q %+v %v", ts, shown, err)
	}
	at := t0.Add(1500 * time.Microsecond)
	if err := f.s.SetProgressLine(ctx, "cl-p1", "1700000000.000100", approvals.Notice{Kind: approvals.NoticeProgress, Text: "not kept", Attempt: 2, At: at}); err != nil {
		t.Fatal(err)
	}
	ts, shown, err := f.s.ProgressLine(ctx, "cl-p1")
	if err != nil || ts != "1700000000.000100" || shown.Attempt != 2 || !shown.At.Equal(at.Truncate(time.Millisecond)) {
		t.Fatalf("line: %q %+v %v", ts, shown, err)
	}
	if err := f.c.Set(ctx, f.s.k.progress("cl-p2"), "1700000000.000200", time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	if ts, shown, err := f.s.ProgressLine(ctx, "cl-p2"); err != nil || ts != "1700000000.000200" || shown.Attempt != 0 {
		t.Fatalf("a line of a ts alone: %q %+v %v", ts, shown, err)
	}
	// A progress notice keeps its attempt through the store.
	if _, err := f.s.Announce(ctx, "cl-p1", "", approvals.Notice{Kind: approvals.NoticeProgress, Text: "restoring", Attempt: 3, At: at}); err != nil {
		t.Fatal(err)
	}
	got, err := f.s.TakeNotices(ctx, "cl-p1", "t", time.Minute, 10)
	if err != nil || len(got) != 1 || got[0].Attempt != 3 || !got[0].At.Equal(at.Truncate(time.Millisecond)) {
		t.Fatalf("notices: %+v, %v", got, err)
	}
}
