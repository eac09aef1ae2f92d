package transport_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/clonebot/clonebot/bot/slackfake"
	"github.com/clonebot/clonebot/bot/transport"
)

// waits records the reconnect waits the socket asked for and returns at once.
type waits struct {
	mu sync.Mutex
	d  []time.Duration
}

func (w *waits) wait(_ context.Context, d time.Duration) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.d = append(w.d, d)
	return nil
}

func (w *waits) got() []time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]time.Duration(nil), w.d...)
}

var testBackoff = transport.Backoff{Initial: 100 * time.Millisecond, Max: 400 * time.Millisecond, Rand: func() float64 { return 0.5 }}

type socketEnv struct {
	fake  *slackfake.Server
	sock  *transport.Socket
	rec   *recorder
	pool  *transport.Pool
	waits *waits
	stop  func() // stops the socket, then drains the pool
	mf    func(name string, labels map[string]string) float64
}

// startSocket runs a Socket Mode transport against a fake; prepare runs on the fake first.
func startSocket(t *testing.T, hold bool, workers, queue int, prepare func(*slackfake.Server)) *socketEnv {
	t.Helper()
	fake := slackfake.New()
	t.Cleanup(fake.Close)
	if prepare != nil {
		prepare(fake)
	}
	rec := newRecorder(hold)
	pool, reg := newPool(t, workers, queue)
	w := &waits{}
	s, err := transport.NewSocket(transport.SocketOptions{
		AppToken: "xapp-1-test", APIURL: fake.APIURL(), Dispatcher: rec, Pool: pool,
		Deduper: transport.NewMemoryDeduper(time.Hour, func() time.Time { return t0 }),
		Logger:  zaptest.NewLogger(t), Backoff: testBackoff, Wait: w.wait,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
			if hold {
				close(rec.hold)
			}
			drain(t, pool)
		})
	}
	t.Cleanup(stop)
	return &socketEnv{fake: fake, sock: s, rec: rec, pool: pool, waits: w, stop: stop,
		mf: func(name string, labels map[string]string) float64 { return metric(t, reg, name, labels) }}
}

func TestSocketAcksAndDispatchesEveryKind(t *testing.T) {
	env := startSocket(t, false, 2, 8, nil)
	ctx := testCtx(t)
	f := env.fake
	ids := []string{
		f.Deliver(slackfake.EnvelopeSlashCommands, f.SlashCommand("U1", "C1", "prod 2024-05-01")),
		f.Deliver(slackfake.EnvelopeInteractive, f.BlockAction("U2", "C1", "1700000000.000100", "approve", "req-1")),
		f.Deliver(slackfake.EnvelopeEventsAPI, json.RawMessage(slackfake.EventBody("Ev1", slackfake.AppHomeOpened("U1")))),
	}
	for _, id := range ids {
		ack, err := f.WaitAck(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if len(ack.Payload) != 0 && string(ack.Payload) != "null" {
			t.Fatalf("ack of %s carries %s, want no payload", id, ack.Payload)
		}
	}
	if !env.sock.Connected() {
		t.Fatal("Connected() = false with a connection up")
	}
	env.stop()
	if env.sock.Connected() {
		t.Fatal("Connected() = true after Run returned")
	}
	if c, i, e := env.rec.counts(); c != 1 || i != 1 || e != 1 {
		t.Fatalf("dispatched %d commands, %d interactions, %d events; want one each", c, i, e)
	}
	if env.rec.commands[0].Text != "prod 2024-05-01" || env.rec.interactions[0].ActionCallback.BlockActions[0].ActionID != "approve" ||
		env.rec.events[0].InnerEvent.Type != "app_home_opened" {
		t.Fatalf("payloads = %+v / %+v / %+v", env.rec.commands, env.rec.interactions, env.rec.events)
	}
	if c := f.CallsTo("apps.connections.open"); len(c) != 1 || c[0].Token != "xapp-1-test" {
		t.Fatalf("apps.connections.open calls = %+v", c)
	}
	if w := env.waits.got(); len(w) != 0 {
		t.Fatalf("first connect waited %v", w)
	}
}

func TestSocketAckPrecedesWork(t *testing.T) {
	env := startSocket(t, true, 1, 1, nil)
	ctx := testCtx(t)
	id := env.fake.Deliver(slackfake.EnvelopeSlashCommands, env.fake.SlashCommand("U1", "C1", "list"))
	if _, err := env.fake.WaitAck(ctx, id); err != nil {
		t.Fatal(err)
	}
	env.rec.waitEntered(t, ctx, transport.KindCommand)
	if c, _, _ := env.rec.counts(); c != 0 {
		t.Fatal("command finished before the test released it")
	}
}

func TestSocketEventRedeliveryHandledOnce(t *testing.T) {
	env := startSocket(t, false, 2, 8, nil)
	ctx := testCtx(t)
	body := json.RawMessage(slackfake.EventBody("Ev7", slackfake.AppHomeOpened("U1")))
	for range 3 {
		if _, err := env.fake.WaitAck(ctx, env.fake.Deliver(slackfake.EnvelopeEventsAPI, body)); err != nil {
			t.Fatal(err)
		}
	}
	env.stop()
	if _, _, e := env.rec.counts(); e != 1 {
		t.Fatalf("handled %d events, want 1", e)
	}
}

func TestSocketFullPoolAnswersBusyInAck(t *testing.T) {
	env := startSocket(t, true, 1, 1, nil)
	ctx := testCtx(t)
	f := env.fake
	f.Deliver(slackfake.EnvelopeSlashCommands, f.SlashCommand("U1", "C1", "list"))
	env.rec.waitEntered(t, ctx, transport.KindCommand)
	f.Deliver(slackfake.EnvelopeSlashCommands, f.SlashCommand("U1", "C1", "list"))

	ack, err := f.WaitAck(ctx, f.Deliver(slackfake.EnvelopeSlashCommands, f.SlashCommand("U1", "C1", "list")))
	if err != nil {
		t.Fatal(err)
	}
	var answer struct {
		ResponseType string `json:"response_type"`
		Text         string `json:"text"`
	}
	if err := json.Unmarshal(ack.Payload, &answer); err != nil || answer.ResponseType != "ephemeral" || answer.Text != transport.BusyText {
		t.Fatalf("busy ack payload = %s (%v)", ack.Payload, err)
	}

	cb := f.BlockAction("U2", "C1", "1700000000.000100", "approve", "req-1")
	if _, err := f.WaitAck(ctx, f.Deliver(slackfake.EnvelopeInteractive, cb)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WaitCalls(ctx, slackfake.MethodResponseURL, 1); err != nil {
		t.Fatal(err)
	}
	if got := f.Responses(cb.ResponseURL); len(got) != 1 || got[0].Param("text") != transport.BusyText {
		t.Fatalf("response_url posts = %+v", got)
	}
	env.stop()
	if c, i, _ := env.rec.counts(); c != 2 || i != 0 {
		t.Fatalf("handled %d commands and %d interactions, want the 2 accepted commands", c, i)
	}
	if got := env.mf("clonebot_slack_busy_rejections_total", map[string]string{"kind": "interaction"}); got != 1 {
		t.Fatalf("busy{interaction} = %v", got)
	}
}

func TestSocketReconnects(t *testing.T) {
	tests := []struct {
		name  string
		cause func(*slackfake.Server)
	}{
		{"after the socket drops", func(f *slackfake.Server) { f.Drop() }},
		{"after a disconnect envelope", func(f *slackfake.Server) { f.Deliver(slackfake.EnvelopeDisconnect, nil) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := startSocket(t, false, 2, 8, nil)
			ctx := testCtx(t)
			// An ack proves the client has read the hello that precedes the envelope.
			if _, err := env.fake.WaitAck(ctx, env.fake.Deliver(slackfake.EnvelopeSlashCommands, env.fake.SlashCommand("U1", "C1", "list"))); err != nil {
				t.Fatal(err)
			}
			tt.cause(env.fake)
			if err := env.fake.WaitConnections(ctx, 2); err != nil {
				t.Fatal(err)
			}
			id := env.fake.Deliver(slackfake.EnvelopeSlashCommands, env.fake.SlashCommand("U1", "C1", "help"))
			if _, err := env.fake.WaitAck(ctx, id); err != nil {
				t.Fatal(err)
			}
			waits := env.waits.got()
			env.stop()
			if c, _, _ := env.rec.counts(); c != 2 {
				t.Fatalf("handled %d commands, want 2 (one before, one after reconnecting)", c)
			}
			if len(waits) != 1 || waits[0] != testBackoff.Delay(1) {
				t.Fatalf("reconnect waits = %v, want [%v]", waits, testBackoff.Delay(1))
			}
		})
	}
}

// slack-go honours a 429's Retry-After on apps.connections.open (it waits at least that long,
// here 1 s) and retries; our pacing applies to the retry as well.
func TestSocketConnectRetriesAfterRateLimit(t *testing.T) {
	env := startSocket(t, false, 1, 1, func(f *slackfake.Server) {
		f.RateLimitNext("apps.connections.open", 1, time.Second)
	})
	ctx := testCtx(t)
	if err := env.fake.WaitConnections(ctx, 1); err != nil {
		t.Fatal(err)
	}
	calls := env.fake.CallsTo("apps.connections.open")
	if len(calls) != 2 || calls[0].Status != 429 || calls[1].Status != 200 {
		t.Fatalf("apps.connections.open calls = %+v", calls)
	}
	if w := env.waits.got(); len(w) != 1 || w[0] != testBackoff.Delay(2) {
		t.Fatalf("waits = %v, want [%v]", w, testBackoff.Delay(2))
	}
}

func TestBackoffDelay(t *testing.T) {
	b := transport.Backoff{Initial: time.Second, Max: 5 * time.Second, Rand: func() float64 { return 0 }}
	full := transport.Backoff{Initial: time.Second, Max: 5 * time.Second, Rand: func() float64 { return 0.999999 }}
	tests := []struct {
		attempt  int
		min, max time.Duration
	}{
		{1, 500 * time.Millisecond, time.Second},
		{2, time.Second, 2 * time.Second},
		{3, 2 * time.Second, 4 * time.Second},
		{4, 2500 * time.Millisecond, 5 * time.Second},
		{60, 2500 * time.Millisecond, 5 * time.Second},
	}
	for _, tt := range tests {
		if got := b.Delay(tt.attempt); got != tt.min {
			t.Errorf("Delay(%d) without jitter = %v, want %v", tt.attempt, got, tt.min)
		}
		if got := full.Delay(tt.attempt); got <= tt.min || got > tt.max {
			t.Errorf("Delay(%d) with full jitter = %v, want in (%v, %v]", tt.attempt, got, tt.min, tt.max)
		}
	}
}
