package render

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/clonebot/clonebot/approvals"
	"github.com/clonebot/clonebot/deploy"
	"github.com/clonebot/clonebot/handlers"
	"github.com/clonebot/clonebot/internal/golden"
)

var t0 = time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)

// goldenJSON compares v, as indented JSON, with testdata/name.golden.json.
func goldenJSON(t *testing.T, name string, v any) {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep < and & readable in the golden files
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, name+".golden.json", buf.Bytes())
}

const hostileReason = "<!channel> ping <@U999> and <https://evil.example|click here> & <!here>"

var (
	slotPeer     = approvals.Slot{Name: "on-call peer", Approvers: []approvals.Principal{"group:oncall"}}
	slotSecurity = approvals.Slot{Name: "security or manager", Approvers: []approvals.Principal{"group:security", "group:managers"}}
)

func debugRequest() *approvals.Request {
	return &approvals.Request{
		ID: "cl-7f3k2q", Requester: "UREQ", Team: "payments", Source: "prod", Date: time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC),
		Tier: "debug", Masking: approvals.MaskNone, Mode: approvals.ModeDual, Slots: []approvals.Slot{slotPeer, slotSecurity},
		TTL: 4 * time.Hour, MaxTTL: 8 * time.Hour, Reason: hostileReason, Channel: "CREQ", MessageTS: "1700000000.000100",
		Status: approvals.StatusPending, CreatedAt: t0, PendingExpiresAt: t0.Add(time.Hour), UpdatedAt: t0,
		Votes: []approvals.Vote{{User: "UPEER", Decision: approvals.DecisionApprove, Slot: 0, At: t0.Add(5 * time.Minute)}},
		History: []approvals.Event{
			{Type: "requested", To: approvals.StatusPending, By: "UREQ", At: t0},
			{Type: "voted", By: "UPEER", Note: "approve", At: t0.Add(5 * time.Minute)},
		},
	}
}

func readyRequest(ref string) *approvals.Request {
	r := debugRequest()
	r.Status = approvals.StatusReady
	r.Votes = append(r.Votes, approvals.Vote{User: "USEC", Decision: approvals.DecisionApprove, Slot: 1, At: t0.Add(6 * time.Minute)})
	r.ReadyAt, r.ExpiresAt = t0.Add(20*time.Minute), t0.Add(4*time.Hour+20*time.Minute)
	r.Clone = &approvals.CloneInfo{Host: "clonebot-cl-7f3k2q.cluster-abc.eu-west-1.rds.amazonaws.com", Port: 5432,
		Database: "prod", User: "clone_cl_7f3k2q", CredentialRef: ref}
	return r
}

const arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:clonebot/cl-7f3k2q-AbCdEf"

func TestGolden(t *testing.T) {
	denied := debugRequest()
	denied.Status = approvals.StatusDenied
	denied.Votes = append(denied.Votes, approvals.Vote{User: "USEC", Decision: approvals.DecisionDeny, Slot: -1, Reason: "use <!here> staging", At: t0.Add(7 * time.Minute)})
	failed := readyRequest(arn)
	failed.Status, failed.Failure = approvals.StatusFailed, "masking failed on table users; the clone was not released"
	breakGlass := readyRequest(arn)
	breakGlass.Tier, breakGlass.Mode, breakGlass.Slots, breakGlass.Votes = "breakglass", approvals.ModeBreakGlass, nil, nil
	breakGlass.ReviewDueAt = t0.Add(48 * time.Hour)
	// Slots that share a group (issue 14): a lead approved first, into the first slot.
	rematch := debugRequest()
	rematch.Slots = []approvals.Slot{
		{Name: "on-call or lead", Approvers: []approvals.Principal{"group:oncall", "group:leads"}},
		{Name: "lead or security", Approvers: []approvals.Principal{"group:leads", "group:security"}},
	}
	rematch.Votes = []approvals.Vote{{User: "ULEAD", Decision: approvals.DecisionApprove, Slot: 0, Eligible: []int{0, 1}, At: t0.Add(5 * time.Minute)}}
	// Then an on-call engineer, who can only fill the first: the lead moves to the second.
	rematched := debugRequest()
	rematched.Slots, rematched.Status = rematch.Slots, approvals.StatusApproved
	rematched.Votes = []approvals.Vote{
		{User: "ULEAD", Decision: approvals.DecisionApprove, Slot: 1, Eligible: []int{0, 1}, At: t0.Add(5 * time.Minute)},
		{User: "UPEER", Decision: approvals.DecisionApprove, Slot: 0, Eligible: []int{0}, At: t0.Add(6 * time.Minute)},
	}
	// Extended by 2h: the card says the life it has now, not only the TTL asked for.
	extended := readyRequest(arn)
	extended.ExpiresAt = extended.ExpiresAt.Add(2 * time.Hour)
	p, err := approvals.ParsePolicy(deploy.PolicyExample)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		give any
	}{
		{"card_pending", Card(debugRequest(), t0.Add(10*time.Minute))},
		{"card_denied", Card(denied, t0.Add(10*time.Minute))},
		{"card_ready", Card(readyRequest(arn), t0.Add(time.Hour))},
		{"card_extended", Card(extended, t0.Add(time.Hour))},
		{"card_failed", Card(failed, t0.Add(time.Hour))},
		{"card_breakglass", Card(breakGlass, t0.Add(time.Hour))},
		{"card_pending_rematch", Card(rematch, t0.Add(10*time.Minute))},
		{"card_rematched", Card(rematched, t0.Add(10*time.Minute))},
		{"vote_rematched", Vote(rematched, approvals.Notice{Kind: approvals.NoticeVote, By: "UPEER", Outcome: approvals.VoteApproved, At: t0.Add(6 * time.Minute)})},
		{"vote_first", Vote(rematched, approvals.Notice{Kind: approvals.NoticeVote, By: "ULEAD", Outcome: approvals.VoteCounted, At: t0.Add(5 * time.Minute)})},
		{"note", Note("USEC", "denied the request: "+hostileReason, t0)},
		{"note_clonebot", Note("", "the clone is being made", t0)},
		{"progress", Progress(readyRequest(arn), "restoring table users: 1.2 GiB of 3.0 GiB")},
		{"ready_aws", Ready(readyRequest(arn))},
		{"ready_local", Ready(readyRequest("file:///var/lib/clonebot/secrets/cl-7f3k2q"))},
		{"ttl_warning", TTLWarning(readyRequest(arn), time.Hour)},
		{"pending_reminder", PendingReminder(debugRequest(), 15*time.Minute, []string{"<!subteam^S0SEC>", "<@UBOSS>"})},
		{"security_alert", SecurityAlert("UONCALL", "Break-glass: unmasked clone. Reason: "+hostileReason, breakGlass)},
		{"reply_refused", Refusal(`Unknown source "<!channel>".`, []string{"Configured sources: billing, prod"},
			[]string{`/clone <source> <date> [tier=dev|staging|debug] [ttl=4h] [reason="..."]`})},
		{"reply_list", Reply(handlers.Reply{Text: "Your active clones and pending requests (2):", Requests: []*approvals.Request{readyRequest(arn), debugRequest()}}, t0.Add(time.Hour))},
		{"reply_status", Reply(handlers.Reply{Text: "cl-7f3k2q: pending", Timeline: debugRequest()}, t0)},
		{"failure", Failure("ref-1a2b3c4d")},
		{"reply_refused_offer", WithOffer(Refusal("cl-7f3k2q cannot be extended by 999h: the debug tier allows 8h in total from ready. The most it can have now is 3h40m more, until 2026-11-22 17:20 UTC.", nil, nil),
			handlers.Offer{Kind: handlers.OfferExtendToCap, RequestID: "cl-7f3k2q", By: 3*time.Hour + 40*time.Minute, Until: t0.Add(8*time.Hour + 20*time.Minute)})},
		{"home", Home(handlers.Home{Mine: []*approvals.Request{readyRequest(arn)}, Awaiting: []*approvals.Request{debugRequest()}}, t0.Add(time.Hour))},
		{"home_empty", Home(handlers.Home{}, t0)},
		{"modal_request", RequestModal(p, "C123")},
		{"modal_deny", DenyModal("cl-7f3k2q", `{"id":"cl-7f3k2q","channel":"CREQ"}`)},
		{"modal_confirm", ConfirmModal(debugRequest(), `{"channel":"CREQ","request":"cl-7f3k2q"}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { goldenJSON(t, tt.name, tt.give) })
	}
}

// TestNoMentionsEscape proves no rendered message can carry a live mention or link from user
// text: after escaping, the hostile reason's <!channel>, <@U999> and <https://…> are gone.
func TestNoMentionsEscape(t *testing.T) {
	for name, m := range map[string]Message{
		"card":    Card(debugRequest(), t0),
		"confirm": Message{Blocks: ConfirmModal(debugRequest(), "").Blocks.BlockSet},
		"note":    Note("UPEER", hostileReason, t0),
		"alert":   SecurityAlert("U1", hostileReason, nil),
		"reply":   Reply(handlers.Reply{Text: hostileReason, Lines: []string{hostileReason}}, t0),
		"refusal": Refusal(hostileReason, []string{hostileReason}, nil),
		"vote":    Vote(&approvals.Request{Votes: []approvals.Vote{{User: "UPEER", Decision: approvals.DecisionDeny, Reason: hostileReason}}}, approvals.Notice{Kind: approvals.NoticeVote, By: "UPEER"}),
	} {
		b, _ := json.Marshal(m)
		s := string(b)
		for _, bad := range []string{"<!channel>", "<!here>", "<@U999>", "<https://"} {
			if strings.Contains(s, bad) || strings.Contains(s, strings.ReplaceAll(bad, "<", `\u003c`)) {
				t.Errorf("%s: %q survived escaping", name, bad)
			}
		}
		if !strings.Contains(s, "&lt;!channel&gt;") && !strings.Contains(s, `\u0026lt;!channel\u0026gt;`) {
			t.Errorf("%s: the escaped reason is missing: %s", name, s)
		}
	}
}

func TestEscape(t *testing.T) {
	if got := Escape("a & <b> <!channel>"); got != "a &amp; &lt;b&gt; &lt;!channel&gt;" {
		t.Fatalf("Escape = %q", got)
	}
}
