package bot_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

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
