package bot_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/clonebot/clonebot/approvals"
	"github.com/clonebot/clonebot/bot/render"
	"github.com/clonebot/clonebot/handlers"
)

// TestBreakGlassReviewLoop: a break-glass clone that ends gets a review task in the security
// channel; its requester may not review it, nor may anyone outside security; an overdue review
// is reminded once a day; a member of security reviews it with notes, and every step is in the
// audit outbox.
func TestBreakGlassReviewLoop(t *testing.T) {
	h := newHarness(t)
	h.fake.AddUserGroup("S3", "security", "USEC", "UONCALL") // the on-call requester is in security too
	ctx := h.ctx

	// step 1: break-glass in an incident channel, ready, then destroyed.
	rep, err := h.app.Service.BreakGlass(ctx, handlers.Actor{User: "UONCALL", Channel: "CINC"}, "prod", "INC-7 payments down")
	if err != nil {
		t.Fatal(err)
	}
	id := strings.Fields(rep.Text)[0]
	r := h.untilReady(id)
	if err := h.app.Lifecycle.DestroyNow(ctx, r, "UONCALL"); err != nil {
		t.Fatal(err)
	}
	if err := h.app.Lifecycle.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	h.flush()
	r, _ = h.store.Get(ctx, id)
	if r.Status != approvals.StatusDestroyed || !r.NeedsReview() || r.ReviewMessageTS == "" {
		t.Fatalf("after the destroy: %s, needs review %v, task %q", r.Status, r.NeedsReview(), r.ReviewMessageTS)
	}
	task, ok := h.fake.Message("CSEC", r.ReviewMessageTS)
	if !ok {
		t.Fatal("no review task in the security channel")
	}
	mustContain(t, "the review task", jsonText(string(task.Blocks)), "Break-glass review "+id, "INC-7 payments down", `"action_id":"review"`, "the requester may not review it")

	// step 2: the requester, and someone outside security, are refused.
	review := func(user, notes string) string {
		t.Helper()
		click := h.fake.BlockAction(user, "CSEC", r.ReviewMessageTS, render.ActionReview, id)
		h.app.Bot.Interaction(ctx, click)
		opens := h.fake.CallsTo("views.open")
		var req struct {
			View slack.ModalViewRequest `json:"view"`
		}
		if err := json.Unmarshal(opens[len(opens)-1].JSON, &req); err != nil || req.View.CallbackID != render.CallbackReview {
			t.Fatalf("review modal: %v %s", err, opens[len(opens)-1].JSON)
		}
		sub := h.fake.ViewSubmission(user, render.CallbackReview, req.View.PrivateMetadata, map[string]map[string]slack.BlockAction{
			render.InputNotes: {render.InputNotes: {Value: notes}}})
		h.app.Bot.Interaction(ctx, sub)
		h.flush()
		ephs := h.fake.CallsTo("chat.postEphemeral")
		return jsonText(ephs[len(ephs)-1].Param("blocks"))
	}
	mustContain(t, "the requester's review", review("UONCALL", "all fine"), "cannot review your own break-glass clone")
	mustContain(t, "an outsider's review", review("UDEV", "looks fine"), "Only the security team reviews")
	if got, _ := h.store.Get(ctx, id); got.Review != nil {
		t.Fatalf("a refused review was recorded: %+v", got.Review)
	}

	// step 3: overdue: one reminder a day, in the task's thread.
	reminders := func() int {
		n := 0
		for _, m := range h.fake.Messages() {
			if m.Channel == "CSEC" && m.ThreadTS == r.ReviewMessageTS && strings.Contains(m.Text, "is overdue") {
				n++
			}
		}
		return n
	}
	for i, step := range []time.Duration{time.Second, time.Hour, 24 * time.Hour} {
		h.clock.Set(r.ReviewDueAt.Add(step))
		if err := h.app.Lifecycle.Tick(ctx); err != nil {
			t.Fatal(err)
		}
		h.flush()
		if want := []int{1, 1, 2}[i]; reminders() != want {
			t.Fatalf("%s past due: %d reminders, want %d", step, reminders(), want)
		}
	}
	if err := h.app.Notifier.PublishHome(ctx, "USEC"); err != nil {
		t.Fatal(err)
	}
	view, _ := h.fake.HomeView("USEC")
	mustContain(t, "security's App Home", jsonText(string(view)), "waiting for your review", id)

	// step 4: security reviews it with notes.
	mustContain(t, "the review", review("USEC", "rotated the payments keys; INC-7 postmortem filed"), "You reviewed "+id)
	got, _ := h.store.Get(ctx, id)
	if got.Review == nil || got.Review.By != "USEC" || got.NeedsReview() {
		t.Fatalf("review %+v", got.Review)
	}
	task, _ = h.fake.Message("CSEC", r.ReviewMessageTS)
	if task.Updates == 0 || !strings.Contains(jsonText(string(task.Blocks)), "Reviewed by <@USEC>") ||
		strings.Contains(string(task.Blocks), `"action_id":"review"`) {
		t.Fatalf("the task was not shown reviewed: %s", task.Blocks)
	}
	if err := h.app.Notifier.PublishHome(ctx, "USEC"); err != nil {
		t.Fatal(err)
	}
	if view, _ := h.fake.HomeView("USEC"); strings.Contains(string(view), "waiting for your review") {
		t.Fatal("the reviewed clone is still in security's App Home")
	}
	h.clock.Set(r.ReviewDueAt.Add(72 * time.Hour))
	if err := h.app.Lifecycle.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	h.flush()
	if reminders() != 2 {
		t.Fatal("a reviewed clone was reminded of")
	}

	// step 5: the audit outbox has the whole loop.
	evs, err := h.store.ReadOutbox(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	var got5 []string
	for _, e := range evs {
		if e.RequestID == id && strings.HasPrefix(e.Type, "review") {
			got5 = append(got5, e.Type+":"+e.Actor+":"+e.Data["reason"])
		}
	}
	want := []string{"review_requested:clonebot:", "review_refused:UONCALL:self", "review_refused:UDEV:not_security",
		"review_reminded:clonebot:", "review_reminded:clonebot:", "reviewed:USEC:"}
	if !slices.Equal(got5, want) {
		t.Fatalf("audit events\n got  %q\n want %q", got5, want)
	}
}
