package slackfake_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/slack-go/slack"

	"github.com/clonebot/clonebot/bot/slackfake"
)

const botToken = "xoxb-fake-bot-token"

func newFake(t *testing.T) (*slackfake.Server, *slack.Client) {
	t.Helper()
	f := slackfake.New()
	t.Cleanup(f.Close)
	return f, slack.New(botToken, slack.OptionAPIURL(f.APIURL()))
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestChatMessagesAreRecordedWithMonotonicTS(t *testing.T) {
	f, api := newFake(t)
	ctx := testCtx(t)

	ch, ts1, err := api.PostMessageContext(ctx, "C0REQ", slack.MsgOptionText("card", false))
	if err != nil || ch != "C0REQ" {
		t.Fatalf("postMessage = %q, %v", ch, err)
	}
	_, ts2, err := api.PostMessageContext(ctx, "C0REQ", slack.MsgOptionText("reply", false), slack.MsgOptionTS(ts1))
	if err != nil {
		t.Fatal(err)
	}
	if ts1 != "1700000000.000100" || ts2 <= ts1 {
		t.Fatalf("timestamps %q then %q, want 1700000000.000100 then a larger one", ts1, ts2)
	}
	if _, _, _, err := api.UpdateMessageContext(ctx, "C0REQ", ts1, slack.MsgOptionText("card v2", false)); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := api.UpdateMessageContext(ctx, "C0REQ", "1.2", slack.MsgOptionText("x", false)); err == nil || err.Error() != "message_not_found" {
		t.Fatalf("update of unknown message: %v, want message_not_found", err)
	}
	if _, err := api.PostEphemeralContext(ctx, "C0REQ", "U1", slack.MsgOptionText("only you", false)); err != nil {
		t.Fatal(err)
	}

	card, ok := f.Message("C0REQ", ts1)
	if !ok || card.Text != "card v2" || card.Updates != 1 {
		t.Fatalf("card = %+v, want text card v2 after 1 update", card)
	}
	msgs := f.Messages()
	if len(msgs) != 3 || msgs[1].ThreadTS != ts1 || !msgs[2].Ephemeral || msgs[2].User != "U1" {
		t.Fatalf("messages = %+v", msgs)
	}
	calls := f.CallsTo("chat.postMessage")
	if len(calls) != 2 || calls[0].Token != botToken || calls[0].Param("text") != "card" {
		t.Fatalf("postMessage calls = %+v", calls)
	}
}

func TestDirectoryMethods(t *testing.T) {
	f, api := newFake(t)
	ctx := testCtx(t)
	f.AddUser(slack.User{ID: "U1", Name: "ada", RealName: "Ada L"})
	f.AddUserGroup("S1", "oncall", "U1", "U2")
	f.AddChannel("C1", "incident-4411")

	groups, err := api.GetUserGroupsContext(ctx, slack.GetUserGroupsOptionIncludeUsers(true))
	if err != nil || len(groups) != 1 || groups[0].Handle != "oncall" {
		t.Fatalf("usergroups.list = %+v, %v", groups, err)
	}
	members, err := api.GetUserGroupMembersContext(ctx, "S1")
	if err != nil || strings.Join(members, ",") != "U1,U2" {
		t.Fatalf("usergroups.users.list = %v, %v", members, err)
	}
	u, err := api.GetUserInfoContext(ctx, "U1")
	if err != nil || u.Name != "ada" || u.RealName != "Ada L" {
		t.Fatalf("users.info = %+v, %v", u, err)
	}
	if _, err := api.GetUserInfoContext(ctx, "U404"); err == nil || err.Error() != "user_not_found" {
		t.Fatalf("unknown user: %v", err)
	}
	ch, err := api.GetConversationInfoContext(ctx, &slack.GetConversationInfoInput{ChannelID: "C1"})
	if err != nil || ch.Name != "incident-4411" {
		t.Fatalf("conversations.info = %+v, %v", ch, err)
	}
	auth, err := api.AuthTestContext(ctx)
	if err != nil || auth.UserID != slackfake.BotUser {
		t.Fatalf("auth.test = %+v, %v", auth, err)
	}
}

func TestViews(t *testing.T) {
	f, api := newFake(t)
	ctx := testCtx(t)
	modal := slack.ModalViewRequest{Type: slack.VTModal, CallbackID: "clone_request",
		Title: slack.NewTextBlockObject(slack.PlainTextType, "Request a clone", false, false)}
	v, err := api.OpenViewContext(ctx, f.TriggerID(), modal)
	if err != nil || v.ID == "" || v.CallbackID != "clone_request" {
		t.Fatalf("views.open = %+v, %v", v, err)
	}
	home := slack.HomeTabViewRequest{Type: slack.VTHomeTab, Blocks: slack.Blocks{BlockSet: []slack.Block{
		slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, "My clones", false, false), nil, nil)}}}
	if _, err := api.PublishViewContext(ctx, slack.PublishViewContextRequest{UserID: "U1", View: home}); err != nil {
		t.Fatal(err)
	}
	got, ok := f.HomeView("U1")
	if !ok || !strings.Contains(string(got), "My clones") {
		t.Fatalf("home view = %s", got)
	}
	if c := f.CallsTo("views.publish"); len(c) != 1 || c[0].Token != botToken || c[0].Param("user_id") != "U1" {
		t.Fatalf("views.publish calls = %+v", c)
	}
}

// TestViewsOpenSpendsTriggers: as Slack documents, a trigger_id opens one view, within three
// seconds of its interaction; an unknown one opens none.
func TestViewsOpenSpendsTriggers(t *testing.T) {
	start := time.Now()
	var elapsed atomic.Int64 // the fake's clock, moved by the test
	f := slackfake.New(slackfake.WithClock(func() time.Time { return start.Add(time.Duration(elapsed.Load())) }))
	t.Cleanup(f.Close)
	api := slack.New(botToken, slack.OptionAPIURL(f.APIURL()))
	ctx := testCtx(t)
	modal := slack.ModalViewRequest{Type: slack.VTModal, Title: slack.NewTextBlockObject(slack.PlainTextType, "Confirm", false, false)}
	used, stale := f.TriggerID(), f.TriggerID()
	if _, err := api.OpenViewContext(ctx, used, modal); err != nil {
		t.Fatal(err)
	}
	elapsed.Store(int64(slackfake.TriggerTTL + time.Millisecond))
	tests := []struct{ name, trigger, want string }{
		{"used twice", used, "exchanged_trigger_id"},
		{"past three seconds", stale, "expired_trigger_id"},
		{"never handed out", "99." + slackfake.TeamID + ".trigger", "invalid_trigger_id"},
	}
	for _, tt := range tests {
		_, err := api.OpenViewContext(ctx, tt.trigger, modal)
		var se slack.SlackErrorResponse
		if !errors.As(err, &se) || se.Err != tt.want {
			t.Errorf("%s: views.open = %v, want %s", tt.name, err, tt.want)
		}
	}
}

func TestInjectedFaults(t *testing.T) {
	f, api := newFake(t)
	ctx := testCtx(t)

	f.RateLimitNext("chat.postMessage", 1, 7*time.Second)
	_, _, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("x", false))
	var rl *slack.RateLimitedError
	if !errors.As(err, &rl) || rl.RetryAfter != 7*time.Second {
		t.Fatalf("rate-limited post: %v, want RateLimitedError after 7s", err)
	}
	f.ServerErrorNext("chat.postMessage", 1)
	_, _, err = api.PostMessageContext(ctx, "C1", slack.MsgOptionText("x", false))
	var sc slack.StatusCodeError
	if !errors.As(err, &sc) || sc.Code != http.StatusInternalServerError {
		t.Fatalf("server error post: %v, want StatusCodeError 500", err)
	}
	if _, _, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("x", false)); err != nil {
		t.Fatalf("post after the faults: %v", err)
	}
	calls := f.CallsTo("chat.postMessage")
	if len(calls) != 3 || calls[0].Status != 429 || calls[1].Status != 500 || calls[2].Status != 200 {
		t.Fatalf("statuses = %+v", calls)
	}
	if len(f.Messages()) != 1 {
		t.Fatalf("faulted calls posted messages: %+v", f.Messages())
	}
}

// slack-go retries a 429 itself only when built with OptionRetry; it then waits the
// Retry-After the server sent.
func TestSlackGoRetriesRateLimitWhenAsked(t *testing.T) {
	f, _ := newFake(t)
	api := slack.New(botToken, slack.OptionAPIURL(f.APIURL()), slack.OptionRetry(2))
	f.RateLimitNext("chat.update", 1, 0)
	_, ts, err := api.PostMessageContext(testCtx(t), "C1", slack.MsgOptionText("x", false))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := api.UpdateMessageContext(testCtx(t), "C1", ts, slack.MsgOptionText("y", false)); err != nil {
		t.Fatalf("update with one 429 and OptionRetry: %v", err)
	}
	if c := f.CallsTo("chat.update"); len(c) != 2 || c[0].Status != 429 || c[1].Status != 200 {
		t.Fatalf("chat.update calls = %+v", c)
	}
}

func TestResponseURLAndAllPayloads(t *testing.T) {
	f, api := newFake(t)
	ctx := testCtx(t)
	cmd := f.SlashCommand("U1", "C1", "prod 2024-05-01")
	if !strings.HasPrefix(cmd.ResponseURL, f.URL()+"/response/") || cmd.TriggerID == "" {
		t.Fatalf("command = %+v", cmd)
	}
	_, _, err := api.PostMessageContext(ctx, "", slack.MsgOptionText("ephemeral answer", false),
		slack.MsgOptionResponseURL(cmd.ResponseURL, slack.ResponseTypeEphemeral))
	if err != nil {
		t.Fatal(err)
	}
	got := f.Responses(cmd.ResponseURL)
	if len(got) != 1 || got[0].Param("text") != "ephemeral answer" || got[0].Param("response_type") != "ephemeral" {
		t.Fatalf("response_url posts = %+v", got)
	}
	all := f.AllPayloads()
	if !strings.Contains(all, "ephemeral answer") || strings.Contains(all, botToken) {
		t.Fatalf("AllPayloads must hold the text and not the token:\n%s", all)
	}
}

func TestWaitCallsHonoursContext(t *testing.T) {
	f, _ := newFake(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := f.WaitCalls(ctx, "chat.postMessage", 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitCalls on a cancelled context: %v", err)
	}
}

func TestSocketDeliversEnvelopesAndRecordsAcks(t *testing.T) {
	f, _ := newFake(t)
	ctx := testCtx(t)
	// Delivered before anyone connects: queued until hello.
	id := f.Deliver(slackfake.EnvelopeSlashCommands, f.SlashCommand("U1", "C1", "help"))

	_, wsURL, err := slack.New("xapp-fake", slack.OptionAPIURL(f.APIURL()), slack.OptionAppLevelToken("xapp-fake")).StartSocketModeContext(ctx)
	if err != nil {
		t.Fatal(err)
	}
	conn, _, err := websocket.DefaultDialer.DialContext(ctx, wsURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var env struct {
		Type       string          `json:"type"`
		EnvelopeID string          `json:"envelope_id"`
		Payload    json.RawMessage `json:"payload"`
	}
	for _, want := range []string{slackfake.EnvelopeHello, slackfake.EnvelopeSlashCommands} {
		if err := conn.ReadJSON(&env); err != nil || env.Type != want {
			t.Fatalf("read envelope: %+v, %v; want %s", env, err, want)
		}
	}
	var cmd slack.SlashCommand
	if env.EnvelopeID != id || json.Unmarshal(env.Payload, &cmd) != nil || cmd.Text != "help" {
		t.Fatalf("envelope = %s %s", env.EnvelopeID, env.Payload)
	}
	if err := conn.WriteJSON(map[string]any{"envelope_id": id, "payload": map[string]string{"text": "ok"}}); err != nil {
		t.Fatal(err)
	}
	ack, err := f.WaitAck(ctx, id)
	if err != nil || string(ack.Payload) != `{"text":"ok"}` {
		t.Fatalf("ack = %+v, %v", ack, err)
	}
	if f.Connections() != 1 {
		t.Fatalf("connections = %d", f.Connections())
	}
	if c := f.CallsTo("apps.connections.open"); len(c) != 1 || c[0].Token != "xapp-fake" {
		t.Fatalf("apps.connections.open calls = %+v", c)
	}

	f.Drop()
	if _, _, err := conn.ReadMessage(); err == nil {
		t.Fatal("read after Drop succeeded")
	}
}

func TestBuildersRoundTrip(t *testing.T) {
	f, _ := newFake(t)
	cb := f.BlockAction("U2", "C1", "1700000000.000100", "approve", "req-1")
	var back slack.InteractionCallback
	body := string(slackfake.InteractionBody(cb))
	if !strings.HasPrefix(body, "payload=") {
		t.Fatalf("body = %s", body)
	}
	js, _ := json.Marshal(&cb)
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	acts := back.ActionCallback.BlockActions
	if back.Type != slack.InteractionTypeBlockActions || len(acts) != 1 || acts[0].ActionID != "approve" || acts[0].Value != "req-1" || back.User.ID != "U2" {
		t.Fatalf("round trip = %+v", back)
	}
	vs := f.ViewSubmission("U1", "clone_request", "C1", map[string]map[string]slack.BlockAction{
		"source": {"source": {Type: "plain_text_input", Value: "prod"}}})
	js, _ = json.Marshal(&vs)
	back = slack.InteractionCallback{}
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	if back.View.CallbackID != "clone_request" || back.View.State.Values["source"]["source"].Value != "prod" {
		t.Fatalf("view submission round trip = %+v", back.View)
	}
}
