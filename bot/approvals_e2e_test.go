package bot_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/clonebot/clonebot/approvals"
	"github.com/clonebot/clonebot/bot/render"
	"github.com/clonebot/clonebot/bot/slackfake"
	"github.com/clonebot/clonebot/bot/transport"
)

// blockActions lists the action_id=value of every button in an answer's JSON.
func blockActions(t *testing.T, answer string) []string {
	t.Helper()
	var m struct {
		Blocks []struct {
			Elements []struct {
				ActionID string `json:"action_id"`
				Value    string `json:"value"`
			} `json:"elements"`
		} `json:"blocks"`
	}
	if err := json.Unmarshal([]byte(answer), &m); err != nil {
		t.Fatalf("answer %s: %v", answer, err)
	}
	var out []string
	for _, b := range m.Blocks {
		for _, e := range b.Elements {
			out = append(out, e.ActionID+"="+e.Value)
		}
	}
	return out
}

// TestExtendOverTheCapOffersTheCap (issue 14, item 2): `/clone extend <id> 999h` is refused
// with the most that can be granted now and a button that grants it; nothing changes until
// it is clicked. The TTL warning's Extend button follows the same rule.
func TestExtendOverTheCapOffersTheCap(t *testing.T) {
	h := newHarness(t)
	srv := h.httpServer()
	cmd := h.fake.SlashCommand("UDEV", "CGEN", "prod yesterday") // dev: 8h, at most 24h in total
	h.post(srv.URL+transport.PathCommands, slackfake.CommandBody(cmd), time.Now(), signingSecret)
	mustContain(t, "the request's answer", h.answer(cmd.ResponseURL), "approved automatically")
	h.untilReady(h.only().ID)
	ready := h.only() // with its card's ts
	limit := ready.ReadyAt.Add(24 * time.Hour)

	// step 1: 999h is refused with the cap, the most that can be had now, and a button.
	ext := h.fake.SlashCommand("UDEV", "CGEN", "extend "+ready.ID+" 999h")
	h.post(srv.URL+transport.PathCommands, slackfake.CommandBody(ext), time.Now(), signingSecret)
	answer := jsonText(h.answer(ext.ResponseURL))
	mustContain(t, "the refusal", answer, ready.ID+" cannot be extended by 999h: the dev tier allows 24h in total from ready",
		"The most it can have now is 16h more, until "+limit.UTC().Format("2006-01-02 15:04 MST"),
		`"text":"Extend by 16h, until `+limit.UTC().Format("2006-01-02 15:04 MST"))
	if got := blockActions(t, answer); len(got) != 1 || got[0] != render.ActionExtendCap+"="+ready.ID {
		t.Fatalf("buttons %q, want the offer's", got)
	}
	if got, _ := h.store.Get(h.ctx, ready.ID); !got.ExpiresAt.Equal(ready.ExpiresAt) {
		t.Fatalf("the refused extension moved the expiry from %v to %v", ready.ExpiresAt, got.ExpiresAt)
	}

	// step 2: the button grants exactly that, and the thread says so.
	click := h.fake.BlockAction("UDEV", "CGEN", "", render.ActionExtendCap, ready.ID)
	h.post(srv.URL+transport.PathInteractions, slackfake.InteractionBody(click), time.Now(), signingSecret)
	mustContain(t, "the offer's answer", h.answer(click.ResponseURL), "Extended the clone by 16h to its tier's cap")
	if got, _ := h.store.Get(h.ctx, ready.ID); !got.ExpiresAt.Equal(limit) {
		t.Fatalf("expiry %v after the offer, want the cap %v", got.ExpiresAt, limit)
	}
	h.flush()
	var thread []string
	for _, c := range h.fake.CallsTo("chat.postMessage") {
		if c.Param("thread_ts") == ready.MessageTS {
			thread = append(thread, c.Param("text"))
		}
	}
	mustContain(t, "the thread", jsonText(strings.Join(thread, "\n")), "<@UDEV> extended the clone by 16h to its tier's cap")

	// step 3: at the cap, the TTL warning's Extend button and the offer are refused, offering nothing.
	for _, action := range []string{render.ActionExtend, render.ActionExtendCap} {
		again := h.fake.BlockAction("UDEV", "CREQ", ready.MessageTS, action, ready.ID)
		h.post(srv.URL+transport.PathInteractions, slackfake.InteractionBody(again), time.Now(), signingSecret)
		answer := jsonText(h.answer(again.ResponseURL))
		mustContain(t, action+"'s answer at the cap", answer, "already at its tier's cap of 24h")
		if got := blockActions(t, answer); len(got) != 0 {
			t.Fatalf("%s at the cap offers %q", action, got)
		}
	}
}

// openedView waits for the nth views.open call and returns the view it asked for.
func (h *harness) openedView(n int) slack.ModalViewRequest {
	h.t.Helper()
	var req struct {
		View slack.ModalViewRequest `json:"view"`
	}
	if err := json.Unmarshal(h.waitCalls("views.open", n)[n-1].JSON, &req); err != nil {
		h.t.Fatal(err)
	}
	return req.View
}

// TestApproveConfirmsInAModal (issue 14, item 5): on the debug tier (unmasked, so confirm:
// modal by default) an Approve click only opens a modal restating what is approved; only its
// submission votes. A click whose trigger Slack no longer honours changes nothing and says to
// click again.
func TestApproveConfirmsInAModal(t *testing.T) {
	h := newHarness(t)
	h.fake.AddUser(slack.User{ID: "UPEER", Name: "pete"})
	h.fake.AddUserGroup("S4", "oncall", "UONCALL", "UPEER")
	srv := h.httpServer()
	click := func(user, action string, id string, wait time.Duration) slack.InteractionCallback {
		r := h.only()
		cb := h.fake.BlockAction(user, "CREQ", r.MessageTS, action, id)
		h.clock.Advance(wait) // how long Slack took to deliver the click
		h.post(srv.URL+transport.PathInteractions, slackfake.InteractionBody(cb), time.Now(), signingSecret)
		return cb
	}
	submit := func(user string, view slack.ModalViewRequest) string {
		sub := h.fake.ViewSubmission(user, view.CallbackID, view.PrivateMetadata, nil)
		n := len(h.fake.CallsTo("chat.postEphemeral"))
		h.post(srv.URL+transport.PathInteractions, slackfake.InteractionBody(sub), time.Now(), signingSecret)
		return jsonText(h.waitCalls("chat.postEphemeral", n+1)[n].Param("blocks"))
	}

	cmd := h.fake.SlashCommand("UONCALL", "CGEN", `prod yesterday tier=debug reason="INC-7 orders stuck"`)
	h.post(srv.URL+transport.PathCommands, slackfake.CommandBody(cmd), time.Now(), signingSecret)
	mustContain(t, "the requester's answer", h.answer(cmd.ResponseURL), "tier debug (no masking)")
	h.flush()
	r := h.only()

	// step 1: security clicks Approve: a modal restates the request; nothing is counted.
	click("USEC", render.ActionApprove, r.ID, 0)
	view := h.openedView(1)
	b, _ := json.Marshal(view)
	mustContain(t, "the confirmation modal", jsonText(string(b)), `"callback_id":"confirm_approval"`, "Approve "+r.ID+"?",
		"*unmasked* copy of *prod*", "*Requester*\\n<@UONCALL>", "*Date*\\n"+yesterday, "*Masking*\\nnone",
		"*Duration*\\n4h", "INC-7 orders stuck", `"submit":{"type":"plain_text","text":"Approve"`)
	if got := h.only(); len(got.Votes) != 0 || got.Status != approvals.StatusPending {
		t.Fatalf("the click alone voted: %+v", got.Votes)
	}

	// step 2: the on-call peer's click reaches clonebot after Slack's three seconds: no modal,
	// no vote, an answer that says to click again.
	late := click("UPEER", render.ActionApprove, r.ID, slackfake.TriggerTTL+time.Second)
	mustContain(t, "the late click's answer", jsonText(h.answer(late.ResponseURL)), "nothing happened; click Approve again")
	if got := h.only(); len(got.Votes) != 0 {
		t.Fatalf("a stale click voted: %+v", got.Votes)
	}

	// step 3: security submits the modal: counted; submitting it twice counts once.
	mustContain(t, "security's answer", submit("USEC", view), "You approved "+r.ID+"; it still needs one more approval")
	mustContain(t, "security's second submission", submit("USEC", view), "You already approved "+r.ID)

	// step 4: the peer clicks again, in time, and confirms: approved.
	click("UPEER", render.ActionApprove, r.ID, 0)
	mustContain(t, "the peer's answer", submit("UPEER", h.openedView(3)), "You approved "+r.ID+"; the clone is being made")
	got := h.only()
	if got.Status != approvals.StatusApproved || len(got.Votes) != 2 {
		t.Fatalf("after both confirmations: %s, %+v", got.Status, got.Votes)
	}
	h.flush()
	var thread []string
	for _, c := range h.fake.CallsTo("chat.postMessage") {
		if c.Param("thread_ts") == r.MessageTS {
			thread = append(thread, c.Param("text"))
		}
	}
	mustContain(t, "the thread", jsonText(strings.Join(thread, "\n")), "<@USEC> approved as security or manager",
		"<@UPEER> approved as on-call peer; the request is approved")

	// step 5: a click once it is decided is answered at once, without a modal.
	done := click("ULEAD", render.ActionApprove, r.ID, 0)
	mustContain(t, "a click after the decision", jsonText(h.answer(done.ResponseURL)), "already approved")
	if n := len(h.fake.CallsTo("views.open")); n != 3 {
		t.Fatalf("%d views.open calls, want 3", n)
	}
}
