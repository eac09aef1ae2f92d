package transport_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"go.uber.org/zap"

	"github.com/clonebot/clonebot/bot/slackfake"
	"github.com/clonebot/clonebot/bot/transport"
	"github.com/clonebot/clonebot/internal/testenv"
	"github.com/clonebot/clonebot/redisstore"
)

const secret = "test-signing-secret-0123456789"

// t0 is the clock of the verifier and of the signed timestamps: the real time, since the
// deduper's Redis keys expire by the server's clock.
var t0 = testenv.Now()

type httpSetup struct {
	hold           bool
	workers, queue int
	dedupe         transport.Deduper
}

func newHTTP(t *testing.T, s httpSetup) (string, *slackfake.Server, *recorder, *transport.Pool, func(string, map[string]string) float64) {
	t.Helper()
	if s.workers == 0 {
		s.workers, s.queue = 4, 16
	}
	if s.dedupe == nil {
		s.dedupe = transport.NewMemoryDeduper(time.Hour, func() time.Time { return t0 })
	}
	fake := slackfake.New()
	t.Cleanup(fake.Close)
	rec := newRecorder(s.hold)
	pool, reg := newPool(t, s.workers, s.queue)
	h, err := transport.NewHTTPHandler(transport.HTTPOptions{
		SigningSecret: secret, Dispatcher: rec, Pool: pool, Deduper: s.dedupe, Logger: zap.NewNop(),
		Now: func() time.Time { return t0 },
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	if s.hold {
		t.Cleanup(func() {
			select {
			case <-rec.hold:
			default:
				close(rec.hold)
			}
		})
	}
	return srv.URL, fake, rec, pool, func(name string, labels map[string]string) float64 { return metric(t, reg, name, labels) }
}

// post sends body to url, signed with secret at ts, and returns the status and body.
func post(t *testing.T, url, key string, ts time.Time, body []byte, header ...string) (int, string) {
	t.Helper()
	req, err := slackfake.SignedRequest(testCtx(t), url, key, ts, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestSignMatchesSlackGoVerifier(t *testing.T) {
	body := []byte("command=%2Fclone&text=prod+2024-05-01")
	ts, sig := transport.Sign(secret, time.Now(), body)
	h := http.Header{}
	h.Set(transport.HeaderTimestamp, ts)
	h.Set(transport.HeaderSignature, sig)
	v, err := slack.NewSecretsVerifier(h, secret)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = v.Write(body)
	if err := v.Ensure(); err != nil {
		t.Fatalf("slack-go rejects our signature: %v", err)
	}
}

func TestHTTPValidCommandIsDispatchedOnce(t *testing.T) {
	url, fake, rec, pool, _ := newHTTP(t, httpSetup{})
	cmd := fake.SlashCommand("U1", "C1", "prod 2024-05-01")
	status, body := post(t, url+transport.PathCommands, secret, t0, slackfake.CommandBody(cmd))
	if status != http.StatusOK || body != "" {
		t.Fatalf("status %d body %q, want 200 and an empty body", status, body)
	}
	drain(t, pool)
	if c, i, e := rec.counts(); c != 1 || i != 0 || e != 0 {
		t.Fatalf("dispatched %d commands, %d interactions, %d events; want 1 command", c, i, e)
	}
	got := rec.commands[0]
	if got.Text != "prod 2024-05-01" || got.UserID != "U1" || got.ChannelID != "C1" || got.ResponseURL != cmd.ResponseURL {
		t.Fatalf("command = %+v", got)
	}
}

func TestHTTPValidInteractionIsDispatched(t *testing.T) {
	url, fake, rec, pool, _ := newHTTP(t, httpSetup{})
	cb := fake.BlockAction("U2", "C1", "1700000000.000100", "approve", "req-1")
	if status, _ := post(t, url+transport.PathInteractions, secret, t0, slackfake.InteractionBody(cb)); status != 200 {
		t.Fatalf("status %d", status)
	}
	drain(t, pool)
	if _, i, _ := rec.counts(); i != 1 || rec.interactions[0].ActionCallback.BlockActions[0].Value != "req-1" {
		t.Fatalf("interactions = %+v", rec.interactions)
	}
}

func TestHTTPRefusesBadRequestsBeforeDispatch(t *testing.T) {
	good := slackfake.CommandBody(slack.SlashCommand{Command: "/clone", UserID: "U1", Text: "list"})
	tests := []struct {
		name   string
		path   string
		key    string
		ts     time.Time
		body   []byte
		header []string
		want   int
		reason string
	}{
		{"forged signature", transport.PathCommands, "another-secret", t0, good, nil, 401, "signature"},
		{"tampered signature", transport.PathCommands, secret, t0, good, []string{transport.HeaderSignature, "v0=00"}, 401, "signature"},
		{"missing signature", transport.PathCommands, secret, t0, good, []string{transport.HeaderSignature, ""}, 401, "signature"},
		{"stale timestamp", transport.PathCommands, secret, t0.Add(-5*time.Minute - time.Second), good, nil, 401, "stale"},
		{"future timestamp", transport.PathCommands, secret, t0.Add(5*time.Minute + time.Second), good, nil, 401, "stale"},
		{"timestamp not a number", transport.PathCommands, secret, t0, good, []string{transport.HeaderTimestamp, "yesterday"}, 401, "stale"},
		{"oversize body", transport.PathCommands, secret, t0, bytes.Repeat([]byte("a"), transport.DefaultMaxBodyBytes+1), nil, 413, "oversize"},
		{"malformed form", transport.PathCommands, secret, t0, []byte("command=%zz&user_id=U1"), nil, 400, "malformed"},
		{"command missing", transport.PathCommands, secret, t0, []byte("user_id=U1&text=list"), nil, 400, "malformed"},
		{"interaction not JSON", transport.PathInteractions, secret, t0, []byte("payload=%7Bnot-json"), nil, 400, "malformed"},
		{"interaction without user", transport.PathInteractions, secret, t0, []byte(`payload={"type":"block_actions"}`), nil, 400, "malformed"},
		{"event not JSON", transport.PathEvents, secret, t0, []byte(`{"type":`), nil, 400, "malformed"},
		{"forged event", transport.PathEvents, "another-secret", t0, slackfake.EventBody("Ev1", slackfake.AppHomeOpened("U1")), nil, 401, "signature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, _, rec, pool, metricOf := newHTTP(t, httpSetup{})
			status, _ := post(t, url+tt.path, tt.key, tt.ts, tt.body, tt.header...)
			if status != tt.want {
				t.Fatalf("status %d, want %d", status, tt.want)
			}
			drain(t, pool)
			if c, i, e := rec.counts(); c+i+e != 0 {
				t.Fatalf("dispatched %d commands, %d interactions, %d events; want none", c, i, e)
			}
			if got := metricOf("clonebot_slack_requests_rejected_total", map[string]string{"reason": tt.reason}); got != 1 {
				t.Fatalf("rejected{reason=%s} = %v, want 1", tt.reason, got)
			}
		})
	}
}

func TestHTTPOnlyPost(t *testing.T) {
	url, _, _, _, _ := newHTTP(t, httpSetup{})
	resp, err := http.Get(url + transport.PathCommands)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET status %d, want 405", resp.StatusCode)
	}
}

func TestHTTPURLVerification(t *testing.T) {
	url, _, rec, pool, _ := newHTTP(t, httpSetup{})
	status, body := post(t, url+transport.PathEvents, secret, t0, slackfake.URLVerificationBody("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"))
	if status != 200 || body != "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" {
		t.Fatalf("status %d body %q, want the challenge", status, body)
	}
	drain(t, pool)
	if _, _, e := rec.counts(); e != 0 {
		t.Fatalf("url_verification dispatched %d events", e)
	}
}

func TestHTTPEventRetryIsHandledOnce(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	dedupers := map[string]func() transport.Deduper{
		"memory": func() transport.Deduper { return transport.NewMemoryDeduper(time.Hour, func() time.Time { return t0 }) },
		"redis": func() transport.Deduper {
			return redisstore.NewDeduper(rdb, prefix+testenv.UniqueName("d"), time.Hour)
		},
	}
	for name, newDeduper := range dedupers {
		t.Run(name, func(t *testing.T) {
			url, _, rec, pool, metricOf := newHTTP(t, httpSetup{dedupe: newDeduper()})
			body := slackfake.EventBody("Ev0PV52K21", slackfake.AppHomeOpened("U1"))
			for retry, header := range [][]string{nil, {transport.HeaderRetryNum, "1"}, {transport.HeaderRetryNum, "2"}} {
				if status, _ := post(t, url+transport.PathEvents, secret, t0, body, header...); status != 200 {
					t.Fatalf("delivery %d: status %d", retry, status)
				}
			}
			other := slackfake.EventBody("Ev0OTHER", slackfake.AppHomeOpened("U2"))
			if status, _ := post(t, url+transport.PathEvents, secret, t0, other); status != 200 {
				t.Fatalf("other event: status %d", status)
			}
			drain(t, pool)
			if _, _, e := rec.counts(); e != 2 {
				t.Fatalf("handled %d events, want 2 (one per event_id)", e)
			}
			if rec.events[0].InnerEvent.Type != "app_home_opened" {
				t.Fatalf("inner event = %+v", rec.events[0].InnerEvent)
			}
			if d := metricOf("clonebot_slack_events_duplicate_total", nil); d != 2 {
				t.Fatalf("duplicates = %v, want 2", d)
			}
		})
	}
}

func TestRedisDeduperSharedByReplicas(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	ctx := testCtx(t)
	a := redisstore.NewDeduper(rdb, prefix, time.Hour)
	b := redisstore.NewDeduper(rdb, prefix, time.Hour)
	if first, err := a.FirstSeen(ctx, "Ev1"); err != nil || !first {
		t.Fatalf("replica a: %v, %v", first, err)
	}
	if first, err := b.FirstSeen(ctx, "Ev1"); err != nil || first {
		t.Fatalf("replica b saw Ev1 as new: %v, %v", first, err)
	}
	keys, err := rdb.Keys(ctx, prefix+"*").Result()
	if err != nil || len(keys) != 1 || keys[0] != prefix+"{slack-events}:Ev1" {
		t.Fatalf("keys = %v, %v", keys, err)
	}
	if ttl := rdb.TTL(ctx, keys[0]).Val(); ttl <= 0 || ttl > time.Hour {
		t.Fatalf("ttl = %v", ttl)
	}
}

func TestMemoryDeduperForgetsAfterTTL(t *testing.T) {
	now := t0
	d := transport.NewMemoryDeduper(time.Minute, func() time.Time { return now })
	ctx := context.Background()
	steps := []struct {
		advance time.Duration
		want    bool
	}{{0, true}, {30 * time.Second, false}, {31 * time.Second, true}, {0, false}}
	for i, s := range steps {
		now = now.Add(s.advance)
		if got, _ := d.FirstSeen(ctx, "Ev1"); got != s.want {
			t.Fatalf("step %d: FirstSeen = %v, want %v", i, got, s.want)
		}
	}
}

func TestHTTPAckPrecedesWork(t *testing.T) {
	url, fake, rec, pool, _ := newHTTP(t, httpSetup{hold: true})
	ctx := testCtx(t)
	// The response arrives while the dispatcher is still blocked: the ack did not wait for it.
	status, _ := post(t, url+transport.PathCommands, secret, t0, slackfake.CommandBody(fake.SlashCommand("U1", "C1", "list")))
	if status != 200 {
		t.Fatalf("status %d", status)
	}
	rec.waitEntered(t, ctx, transport.KindCommand)
	if c, _, _ := rec.counts(); c != 0 {
		t.Fatal("command finished before the test released it")
	}
	close(rec.hold)
	drain(t, pool)
	if c, _, _ := rec.counts(); c != 1 {
		t.Fatalf("handled %d commands, want 1", c)
	}
}

func TestHTTPFullPoolAnswersBusy(t *testing.T) {
	url, fake, rec, pool, metricOf := newHTTP(t, httpSetup{hold: true, workers: 1, queue: 1})
	ctx := testCtx(t)
	cmd := func() []byte { return slackfake.CommandBody(fake.SlashCommand("U1", "C1", "list")) }

	// One command occupies the worker, one waits in the queue.
	if status, _ := post(t, url+transport.PathCommands, secret, t0, cmd()); status != 200 {
		t.Fatalf("first: status %d", status)
	}
	rec.waitEntered(t, ctx, transport.KindCommand)
	if status, _ := post(t, url+transport.PathCommands, secret, t0, cmd()); status != 200 {
		t.Fatalf("second: status %d", status)
	}

	// Full: a command is told so in the response body...
	status, body := post(t, url+transport.PathCommands, secret, t0, cmd())
	var answer struct {
		ResponseType string `json:"response_type"`
		Text         string `json:"text"`
	}
	if err := json.Unmarshal([]byte(body), &answer); err != nil || status != 200 {
		t.Fatalf("busy command: status %d body %q", status, body)
	}
	if answer.ResponseType != "ephemeral" || answer.Text != transport.BusyText {
		t.Fatalf("busy answer = %q", body)
	}
	// ...a click through its response_url...
	cb := fake.BlockAction("U2", "C1", "1700000000.000100", "approve", "req-1")
	if status, _ := post(t, url+transport.PathInteractions, secret, t0, slackfake.InteractionBody(cb)); status != 200 {
		t.Fatalf("busy interaction: status %d", status)
	}
	if _, err := fake.WaitCalls(ctx, slackfake.MethodResponseURL, 1); err != nil {
		t.Fatal(err)
	}
	if got := fake.Responses(cb.ResponseURL); len(got) != 1 || got[0].Param("text") != transport.BusyText || got[0].Param("response_type") != "ephemeral" {
		t.Fatalf("response_url posts = %+v", got)
	}
	// ...and an event is acked, logged and counted.
	if status, _ := post(t, url+transport.PathEvents, secret, t0, slackfake.EventBody("Ev1", slackfake.AppHomeOpened("U1"))); status != 200 {
		t.Fatalf("busy event: status %d", status)
	}

	if got := metricOf("clonebot_slack_busy_rejections_total", map[string]string{"kind": "command"}); got != 1 {
		t.Fatalf("busy{command} = %v", got)
	}
	if got := metricOf("clonebot_slack_dropped_total", map[string]string{"kind": "event"}); got != 1 {
		t.Fatalf("dropped{event} = %v", got)
	}
	if got := metricOf("clonebot_slack_queue_depth", nil); got != 1 {
		t.Fatalf("queue depth = %v, want 1", got)
	}
	close(rec.hold)
	drain(t, pool)
	if c, i, e := rec.counts(); c != 2 || i != 0 || e != 0 {
		t.Fatalf("handled %d/%d/%d, want the 2 accepted commands only", c, i, e)
	}
	if strings.Join(rec.busy, ",") != "command,interaction,event" {
		t.Fatalf("Busy calls = %v", rec.busy)
	}
	if got := metricOf("clonebot_slack_handled_total", map[string]string{"kind": "command"}); got != 2 {
		t.Fatalf("handled{command} = %v", got)
	}
}

func TestServeListenerAnswersAndStops(t *testing.T) {
	_, _, rec, pool, _ := newHTTP(t, httpSetup{})
	h, err := transport.NewHTTPHandler(transport.HTTPOptions{SigningSecret: secret, Dispatcher: rec, Pool: pool,
		Deduper: transport.NewMemoryDeduper(time.Hour, time.Now), Logger: zap.NewNop(), Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- transport.ServeListener(ctx, "slack http", l, h, zap.NewNop()) }()
	status, body := post(t, "http://"+l.Addr().String()+transport.PathEvents, secret, t0, slackfake.URLVerificationBody("c1"))
	if status != 200 || body != "c1" {
		t.Fatalf("status %d body %q", status, body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("ServeListener after cancel: %v", err)
	}
}
