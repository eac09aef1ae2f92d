package bot_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/slack-go/slack"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/clonebot/clonebot/app"
	"github.com/clonebot/clonebot/approvals"
	"github.com/clonebot/clonebot/bot/render"
	"github.com/clonebot/clonebot/bot/slackfake"
	"github.com/clonebot/clonebot/bot/transport"
	"github.com/clonebot/clonebot/internal/fakes"
	"github.com/clonebot/clonebot/internal/leakcheck"
	"github.com/clonebot/clonebot/internal/testenv"
	"github.com/clonebot/clonebot/jobs"
	"github.com/clonebot/clonebot/provisioner"
	"github.com/clonebot/clonebot/redisstore"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const (
	botToken      = "xoxb-test-bot-token-8d1f0c2a"
	appToken      = "xapp-test-app-token-51be7730"
	signingSecret = "signing-secret-3c9a77e0d4"
)

// t0 is the harness clock's start, the real time: the store is a real Redis.
var t0 = testenv.Now()

// yesterday is the backup day the requests ask for, as typed.
var yesterday = testenv.Day(t0, -1).Format(time.DateOnly)

// harness is clonebot's serve role, built by the constructor serve uses, on the offline Slack
// and a real Redis, with a provisioner that makes "clones" and plants their passwords where a
// leak would show; the tests play the restore agent's part.
type harness struct {
	t      *testing.T
	ctx    context.Context
	fake   *slackfake.Server
	app    *app.App
	store  *redisstore.Store
	clock  *fakes.Clock
	leaks  *leakcheck.Recorder
	pool   *transport.Pool
	dedupe transport.Deduper
	log    *zap.Logger
	logs   syncBuffer // every log line, for tests that look one up

	mu      sync.Mutex
	secrets []provisioner.Password // every password the provisioner made
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	clock := fakes.NewClock(t0) // the fake's trigger_ids expire by it too
	h := &harness{t: t, ctx: ctx, fake: slackfake.New(slackfake.WithClock(clock.Now)), clock: clock, leaks: leakcheck.New()}
	t.Cleanup(h.fake.Close)
	for _, s := range []string{botToken, appToken, signingSecret} {
		h.leaks.Secret(s)
	}
	for id, name := range map[string]string{"UDEV": "dana", "ULEAD": "lee", "USEC": "sam", "UONCALL": "olga", "UADMIN": "ada"} {
		u := slack.User{ID: id, Name: name, RealName: strings.ToUpper(name)}
		u.Profile.DisplayName = name
		h.fake.AddUser(u)
	}
	h.fake.AddUserGroup("S1", "developers", "UDEV", "UONCALL")
	h.fake.AddUserGroup("S2", "leads", "ULEAD")
	h.fake.AddUserGroup("S3", "security", "USEC")
	h.fake.AddUserGroup("S4", "oncall", "UONCALL")
	h.fake.AddUserGroup("S5", "platform", "UADMIN")
	h.fake.AddUserGroup("S6", "team-payments", "UDEV")
	h.fake.AddChannel("CREQ", "clone-requests")
	h.fake.AddChannel("CGEN", "general")
	h.fake.AddChannel("CINC", "inc-42")
	h.fake.AddChannel("CSEC", "security-alerts")

	rdb, prefix := testenv.Redis(t)
	h.leaks.LogOnFailure(t)
	h.log = zap.New(zapcore.NewTee(h.leaks.Logger().Core(),
		zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(&h.logs), zapcore.DebugLevel)))
	cfg := app.DefaultConfig()
	cfg.Redis.Prefix = prefix
	cfg.Slack.APIURL, cfg.Slack.BotToken = h.fake.APIURL(), botToken
	// A backup of prod every day; billing, which the policy names, has no backend: a broken
	// dependency.
	var days []time.Time
	for d := -30; d <= 0; d++ {
		days = append(days, testenv.Day(t0, d))
	}
	backends := provisioner.Backends{"prod": {Strategy: provisioner.StrategyRestore, Catalogue: fakes.Daily("prod", 3<<30, days...),
		Provisioner: &fakes.Provisioner{CreateFunc: h.create, DestroyFunc: func(context.Context, string) error { return nil },
			ExtendFunc: func(context.Context, string, time.Time) error { return nil }}}}
	var err error
	h.app, err = app.New(ctx, cfg, app.Options{Serve: true, Logger: h.log, Clock: h.clock, Owner: "bot-1",
		DB: redisstore.NewDB(rdb, prefix), Policy: fakes.Policy(), Rules: fakes.Rules(), Backends: backends})
	if err != nil {
		t.Fatal(err)
	}
	h.store = h.app.Store
	if h.pool, err = transport.NewPool(2, 16, prometheus.NewRegistry(), h.log); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.pool.Shutdown(context.Background()) })
	h.dedupe = transport.NewMemoryDeduper(time.Hour, time.Now)
	t.Cleanup(h.assertNoSecrets)
	return h
}

// create makes a "clone" whose password is kept in Secrets Manager: the harness remembers the
// password, so a leak of it anywhere is found.
func (h *harness) create(_ context.Context, spec provisioner.Spec, _ provisioner.ProgressFunc) (provisioner.Clone, error) {
	pw, err := provisioner.GeneratePassword()
	if err != nil {
		return provisioner.Clone{}, err
	}
	h.mu.Lock()
	h.secrets = append(h.secrets, pw)
	h.mu.Unlock()
	return provisioner.Clone{RequestID: spec.RequestID, Host: "clone.example.internal", Port: 5432, Database: "prod", User: "clone_user",
		CredentialRef: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:clonebot/" + spec.RequestID}, nil
}

// flush sends what clonebot recorded to say to Slack.
func (h *harness) flush() {
	h.t.Helper()
	if err := h.app.Notifier.Flush(h.ctx); err != nil {
		h.t.Fatal(err)
	}
}

// untilReady runs the lifecycle and plays the restore agent until request id is ready.
func (h *harness) untilReady(id string) *approvals.Request {
	h.t.Helper()
	for range 5 {
		if err := h.app.Lifecycle.Tick(h.ctx); err != nil {
			h.t.Fatal(err)
		}
		r, err := h.store.Get(h.ctx, id)
		if err != nil {
			h.t.Fatal(err)
		}
		switch r.Status {
		case approvals.StatusReady:
			h.flush()
			return r
		case approvals.StatusRestoring:
			d, err := h.app.DB.Queue().Next(h.ctx, "agent-1", time.Hour, -1)
			if err != nil || d == nil {
				h.t.Fatalf("no restore job for %s (%v)", id, err)
			}
			if err := h.app.DB.Queue().Finish(h.ctx, d, jobs.Event{RequestID: id, State: jobs.StateReady, At: h.clock.Now()}); err != nil {
				h.t.Fatal(err)
			}
		}
	}
	h.t.Fatalf("%s is not ready after 5 lifecycle passes", id)
	return nil
}

// assertNoSecrets scans everything the bot sent to Slack and everything it logged for the
// tokens, the signing secret and every password the provisioner made.
func (h *harness) assertNoSecrets() {
	h.mu.Lock()
	for _, pw := range h.secrets {
		h.leaks.Secret(pw.Reveal())
	}
	h.mu.Unlock()
	payloads := h.fake.AllPayloads()
	h.leaks.Text(payloads)
	if secrets, texts := h.leaks.Counts(); secrets < 3 || texts == 0 || payloads == "" {
		h.t.Errorf("leak scan saw %d secrets and %d texts; it must see something to prove anything", secrets, texts)
	}
	for _, l := range h.leaks.Leaks() {
		h.t.Errorf("a secret reached Slack or the log: %.300s", l)
	}
}

// httpServer serves the HTTP transport with the bot behind it.
func (h *harness) httpServer() *httptest.Server {
	handler, err := transport.NewHTTPHandler(transport.HTTPOptions{SigningSecret: signingSecret, Dispatcher: h.app.Bot,
		Pool: h.pool, Deduper: h.dedupe, Logger: h.log})
	if err != nil {
		h.t.Fatal(err)
	}
	srv := httptest.NewServer(handler)
	h.t.Cleanup(srv.Close)
	return srv
}

func (h *harness) post(url string, body []byte, ts time.Time, secret string) int {
	h.t.Helper()
	req, err := slackfake.SignedRequest(h.ctx, url, secret, ts, body)
	if err != nil {
		h.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// waitCalls waits for the nth call of method and returns it.
func (h *harness) waitCalls(method string, n int) []slackfake.Call {
	h.t.Helper()
	calls, err := h.fake.WaitCalls(h.ctx, method, n)
	if err != nil {
		h.t.Fatal(err)
	}
	return calls
}

// answer waits for the ephemeral answer posted to responseURL.
func (h *harness) answer(responseURL string) string {
	h.t.Helper()
	for n := 1; ; n++ {
		h.waitCalls(slackfake.MethodResponseURL, n)
		if rs := h.fake.Responses(responseURL); len(rs) > 0 {
			return string(rs[0].JSON)
		}
	}
}

func (h *harness) only() *approvals.Request {
	h.t.Helper()
	rs, err := h.store.ListActive(h.ctx)
	if err != nil || len(rs) != 1 {
		h.t.Fatalf("want one active request, have %d (%v)", len(rs), err)
	}
	return rs[0]
}

// jsonText undoes encoding/json's HTML escaping, so assertions read as Slack shows the text.
func jsonText(s string) string {
	return strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&").Replace(s)
}

func mustContain(t *testing.T, what, s string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(s, p) {
			t.Fatalf("%s does not contain %q:\n%s", what, p, s)
		}
	}
}

func TestHTTPRequestApproveAndRefusals(t *testing.T) {
	h := newHarness(t)
	srv := h.httpServer()

	// step 1: a signed slash command → the card is posted in the request channel.
	cmd := h.fake.SlashCommand("UDEV", "CGEN", "prod "+yesterday+` tier=staging reason="&lt;!channel&gt; see <@U999>"`)
	if code := h.post(srv.URL+transport.PathCommands, slackfake.CommandBody(cmd), time.Now(), signingSecret); code != http.StatusOK {
		t.Fatalf("slash command: HTTP %d", code)
	}
	mustContain(t, "the requester's answer", h.answer(cmd.ResponseURL), "requested: prod as of "+yesterday+", tier staging", "ephemeral")
	h.flush()
	card := h.waitCalls("chat.postMessage", 1)[0]
	r := h.only()
	if card.Param("channel") != "CREQ" || r.MessageTS == "" || r.Status != approvals.StatusPending {
		t.Fatalf("card in %q, request %+v", card.Param("channel"), r)
	}
	blocks := jsonText(card.Param("blocks"))
	mustContain(t, "the card", blocks, `"action_id":"approve"`, `&lt;!channel&gt; see &lt;@U999&gt;`)
	if strings.Contains(blocks, "<!channel>") || strings.Contains(blocks, "<@U999>") {
		t.Fatalf("the reason pings someone: %s", blocks)
	}

	// step 2: the requester's own click is refused ephemerally and changes nothing.
	self := h.fake.BlockAction("UDEV", "CREQ", r.MessageTS, render.ActionApprove, r.ID)
	if code := h.post(srv.URL+transport.PathInteractions, slackfake.InteractionBody(self), time.Now(), signingSecret); code != http.StatusOK {
		t.Fatalf("click: HTTP %d", code)
	}
	mustContain(t, "the self-approval answer", h.answer(self.ResponseURL), "You cannot approve or deny your own request")
	if got := h.only(); got.Status != approvals.StatusPending || len(got.Votes) != 0 {
		t.Fatalf("self-approval changed the request: %+v", got)
	}

	// step 3: an eligible approver → card updated in place, a thread reply, the clone made.
	approve := h.fake.BlockAction("ULEAD", "CREQ", r.MessageTS, render.ActionApprove, r.ID)
	h.post(srv.URL+transport.PathInteractions, slackfake.InteractionBody(approve), time.Now(), signingSecret)
	mustContain(t, "the approver's answer", h.answer(approve.ResponseURL), "You approved "+r.ID)
	h.flush()
	updates := h.waitCalls("chat.update", 1)
	if updates[0].Param("ts") != r.MessageTS || strings.Contains(updates[0].Param("blocks"), `"action_id":"approve"`) {
		t.Fatalf("the card was not re-rendered without buttons: %s", updates[0].Param("blocks"))
	}
	var threaded []string
	for _, c := range h.fake.CallsTo("chat.postMessage") {
		if c.Param("thread_ts") == r.MessageTS {
			threaded = append(threaded, c.Param("text"))
		}
	}
	mustContain(t, "the thread", jsonText(strings.Join(threaded, "\n")), "<@ULEAD> approved as lead or security")
	ready := h.untilReady(r.ID)
	threaded = nil
	for _, c := range h.fake.CallsTo("chat.postMessage") {
		if c.Param("thread_ts") == r.MessageTS {
			threaded = append(threaded, c.Param("text"))
		}
	}
	mustContain(t, "the thread", jsonText(strings.Join(threaded, "\n")), "is ready")
	var dm bool
	for _, c := range h.fake.CallsTo("chat.postMessage") {
		if c.Param("channel") == "UDEV" && strings.Contains(jsonText(c.Param("blocks")), "aws secretsmanager get-secret-value --secret-id arn:aws:secretsmanager:") {
			dm = true
		}
	}
	if !dm {
		t.Fatal("the requester got no DM with the credential reference")
	}

	// step 4: an hour before expiry, the TTL warning's Extend button gives the clone an hour more.
	h.clock.Set(ready.ExpiresAt.Add(-time.Hour))
	if err := h.app.Lifecycle.Tick(h.ctx); err != nil {
		t.Fatal(err)
	}
	h.flush()
	warnings := 0
	for _, c := range h.fake.CallsTo("chat.postMessage") {
		if c.Param("thread_ts") == r.MessageTS && strings.Contains(c.Param("text"), "will be destroyed in 1h") {
			warnings++
		}
	}
	if warnings != 1 {
		t.Fatalf("%d TTL warnings an hour before expiry, want 1", warnings)
	}
	extend := h.fake.BlockAction("UDEV", "CREQ", r.MessageTS, render.ActionExtend, r.ID)
	h.post(srv.URL+transport.PathInteractions, slackfake.InteractionBody(extend), time.Now(), signingSecret)
	mustContain(t, "the extend answer", h.answer(extend.ResponseURL), "Extended the clone until")
	if got, _ := h.store.Get(h.ctx, r.ID); !got.ExpiresAt.Equal(ready.ExpiresAt.Add(time.Hour)) {
		t.Fatalf("expiry %v after extend, want %v", got.ExpiresAt, ready.ExpiresAt.Add(time.Hour))
	}

	// step 5: a duplicate click is refused ephemerally.
	again := h.fake.BlockAction("ULEAD", "CREQ", r.MessageTS, render.ActionApprove, r.ID)
	h.post(srv.URL+transport.PathInteractions, slackfake.InteractionBody(again), time.Now(), signingSecret)
	mustContain(t, "the duplicate click's answer", h.answer(again.ResponseURL), "already")
	if got, _ := h.store.Get(h.ctx, r.ID); got.Status != approvals.StatusReady || len(got.Votes) != 1 {
		t.Fatalf("a duplicate click changed the request: %s, %d votes", got.Status, len(got.Votes))
	}
}

func TestHTTPForgedAndStaleRequestsChangeNothing(t *testing.T) {
	h := newHarness(t)
	srv := h.httpServer()
	body := slackfake.CommandBody(h.fake.SlashCommand("UDEV", "CGEN", "prod latest"))
	tests := []struct {
		name   string
		ts     time.Time
		secret string
	}{
		{"forged signature", time.Now(), "not-the-signing-secret"},
		{"stale timestamp", time.Now().Add(-6 * time.Minute), signingSecret},
	}
	for _, tt := range tests {
		if code := h.post(srv.URL+transport.PathCommands, body, tt.ts, tt.secret); code != http.StatusUnauthorized {
			t.Fatalf("%s: HTTP %d, want 401", tt.name, code)
		}
	}
	// A good request afterwards proves the pool was idle, not slow: its card is the first call.
	good := h.fake.SlashCommand("UDEV", "CGEN", "help")
	h.post(srv.URL+transport.PathCommands, slackfake.CommandBody(good), time.Now(), signingSecret)
	h.answer(good.ResponseURL)
	h.flush()
	if rs, _ := h.store.ListActive(h.ctx); len(rs) != 0 {
		t.Fatalf("refused requests stored %d requests", len(rs))
	}
	if n := len(h.fake.CallsTo("chat.postMessage")); n != 0 {
		t.Fatalf("refused requests posted %d messages", n)
	}
}

func TestHTTPReplayedEventHandledOnce(t *testing.T) {
	h := newHarness(t)
	srv := h.httpServer()
	body := slackfake.EventBody("Ev0REPLAY1", slackfake.AppHomeOpened("UDEV"))
	for range 3 {
		if code := h.post(srv.URL+transport.PathEvents, body, time.Now(), signingSecret); code != http.StatusOK {
			t.Fatalf("event: HTTP %d", code)
		}
	}
	// A different event afterwards: once its view is published, the replays had their chance.
	h.post(srv.URL+transport.PathEvents, slackfake.EventBody("Ev0OTHER2", slackfake.AppHomeOpened("ULEAD")), time.Now(), signingSecret)
	h.waitCalls("views.publish", 2)
	var forDev int
	for _, c := range h.fake.CallsTo("views.publish") {
		if c.Param("user_id") == "UDEV" {
			forDev++
		}
	}
	if forDev != 1 {
		t.Fatalf("the replayed event was handled %d times", forDev)
	}
	view, _ := h.fake.HomeView("UDEV")
	mustContain(t, "the App Home", string(view), "Your clones", "Waiting for your approval")
}

func TestSocketModeRequestAndApprove(t *testing.T) {
	h := newHarness(t)
	sock, err := transport.NewSocket(transport.SocketOptions{AppToken: appToken, APIURL: h.fake.APIURL(), Dispatcher: h.app.Bot,
		Pool: h.pool, Deduper: h.dedupe, Logger: h.log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(h.ctx)
	done := make(chan error, 1)
	go func() { done <- sock.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	if err := h.fake.WaitConnections(h.ctx, 1); err != nil {
		t.Fatal(err)
	}

	cmd := h.fake.SlashCommand("UDEV", "CGEN", "prod yesterday tier=staging")
	env := h.fake.Deliver(slackfake.EnvelopeSlashCommands, cmd)
	if _, err := h.fake.WaitAck(h.ctx, env); err != nil {
		t.Fatal(err)
	}
	mustContain(t, "the requester's answer", h.answer(cmd.ResponseURL), "requested: prod as of "+yesterday)
	h.flush()
	h.waitCalls("chat.postMessage", 1)
	r := h.only()

	click := h.fake.BlockAction("USEC", "CREQ", r.MessageTS, render.ActionApprove, r.ID)
	env = h.fake.Deliver(slackfake.EnvelopeInteractive, click)
	if _, err := h.fake.WaitAck(h.ctx, env); err != nil {
		t.Fatal(err)
	}
	mustContain(t, "the approver's answer", h.answer(click.ResponseURL), "You approved")
	h.flush()
	h.waitCalls("chat.update", 1)
	h.untilReady(r.ID)
}

func TestDenyWithReasonModal(t *testing.T) {
	h := newHarness(t)
	srv := h.httpServer()
	cmd := h.fake.SlashCommand("UDEV", "CGEN", "prod latest tier=staging")
	h.post(srv.URL+transport.PathCommands, slackfake.CommandBody(cmd), time.Now(), signingSecret)
	h.answer(cmd.ResponseURL)
	h.flush()
	r := h.only()

	deny := h.fake.BlockAction("ULEAD", "CREQ", r.MessageTS, render.ActionDeny, r.ID)
	h.post(srv.URL+transport.PathInteractions, slackfake.InteractionBody(deny), time.Now(), signingSecret)
	open := h.waitCalls("views.open", 1)[0]
	var req struct {
		View slack.ModalViewRequest `json:"view"`
	}
	if err := json.Unmarshal(open.JSON, &req); err != nil || req.View.CallbackID != render.CallbackDeny {
		t.Fatalf("deny modal: %v %s", err, open.JSON)
	}
	if got := h.only(); got.Status != approvals.StatusPending {
		t.Fatalf("Deny decided before the reason: %s", got.Status)
	}

	sub := h.fake.ViewSubmission("ULEAD", render.CallbackDeny, req.View.PrivateMetadata, map[string]map[string]slack.BlockAction{
		render.InputReason: {render.InputReason: {Value: "use the staging data <!here>"}}})
	h.post(srv.URL+transport.PathInteractions, slackfake.InteractionBody(sub), time.Now(), signingSecret)
	eph := h.waitCalls("chat.postEphemeral", 1)[0]
	if eph.Param("channel") != "CREQ" || eph.Param("user") != "ULEAD" {
		t.Fatalf("answer to %s/%s", eph.Param("channel"), eph.Param("user"))
	}
	h.flush()
	h.waitCalls("chat.update", 1)
	got, _ := h.store.Get(h.ctx, r.ID)
	if got.Status != approvals.StatusDenied || got.Votes[0].Reason != "use the staging data <!here>" {
		t.Fatalf("after the deny modal: %s %+v", got.Status, got.Votes)
	}
}

func TestRequestModal(t *testing.T) {
	h := newHarness(t)
	srv := h.httpServer()
	cmd := h.fake.SlashCommand("UDEV", "CGEN", "")
	h.post(srv.URL+transport.PathCommands, slackfake.CommandBody(cmd), time.Now(), signingSecret)
	open := h.waitCalls("views.open", 1)[0]
	var req struct {
		View slack.ModalViewRequest `json:"view"`
	}
	if err := json.Unmarshal(open.JSON, &req); err != nil || req.View.CallbackID != render.CallbackRequest {
		t.Fatalf("request modal: %v %s", err, open.JSON)
	}
	values := func(date, ttl string) map[string]map[string]slack.BlockAction {
		return map[string]map[string]slack.BlockAction{
			render.InputSource: {render.InputSource: {SelectedOption: slack.OptionBlockObject{Value: "prod"}}},
			render.InputDate:   {render.InputDate: {Value: date}},
			render.InputTTL:    {render.InputTTL: {Value: ttl}},
			render.InputReason: {render.InputReason: {Value: `needs "quotes" too`}},
		}
	}
	// A date that tries to smuggle an option in is refused, and nothing is stored.
	bad := h.fake.ViewSubmission("UDEV", render.CallbackRequest, req.View.PrivateMetadata, values("latest tier=staging", ""))
	h.post(srv.URL+transport.PathInteractions, slackfake.InteractionBody(bad), time.Now(), signingSecret)
	mustContain(t, "the refusal", jsonText(h.waitCalls("chat.postEphemeral", 1)[0].Param("blocks")), "the date field takes one word")
	if rs, _ := h.store.ListActive(h.ctx); len(rs) != 0 {
		t.Fatalf("a refused form stored %d requests", len(rs))
	}
	good := h.fake.ViewSubmission("UDEV", render.CallbackRequest, req.View.PrivateMetadata, values("yesterday", "2h"))
	h.post(srv.URL+transport.PathInteractions, slackfake.InteractionBody(good), time.Now(), signingSecret)
	mustContain(t, "the answer", jsonText(h.waitCalls("chat.postEphemeral", 2)[1].Param("blocks")), "approved automatically", "ttl 2h")
	if r := h.only(); r.Reason != `needs "quotes" too` || r.TTL != 2*time.Hour {
		t.Fatalf("request from the form: %+v", r)
	}
}

// TestFailureShowsOnlyAReference: a broken dependency (the catalogue does not know a source
// the policy names) is logged with a reference id; the person sees only the reference.
func TestFailureShowsOnlyAReference(t *testing.T) {
	h := newHarness(t)
	srv := h.httpServer()
	cmd := h.fake.SlashCommand("UDEV", "CGEN", "billing latest")
	h.post(srv.URL+transport.PathCommands, slackfake.CommandBody(cmd), time.Now(), signingSecret)
	answer := jsonText(h.answer(cmd.ResponseURL))
	ref := regexp.MustCompile(`ref-[0-9a-f]{8}`).FindString(answer)
	if ref == "" || strings.Contains(answer, "unknown source") {
		t.Fatalf("answer %s: want a reference and no internal detail", answer)
	}
	var logged bool
	for _, line := range strings.Split(h.logs.String(), "\n") {
		if strings.Contains(line, `"ref":"`+ref+`"`) && strings.Contains(line, "unknown source") {
			logged = true
		}
	}
	if !logged {
		t.Fatalf("the error was not logged with its reference %s:\n%s", ref, h.logs.String())
	}
}
