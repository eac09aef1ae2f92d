package transport

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"
	"go.uber.org/zap"
)

// Backoff paces reconnects: attempt n (from 1) waits between half and all of
// Initial·2^(n-1), capped at Max.
type Backoff struct {
	Initial time.Duration
	Max     time.Duration
	Rand    func() float64 // in [0,1); default math/rand/v2
}

// DefaultBackoff is the production pacing: 0.5–1 s after a drop, doubling up to a minute.
func DefaultBackoff() Backoff { return Backoff{Initial: time.Second, Max: time.Minute} }

// Delay is the wait before reconnect attempt n (n ≥ 1).
func (b Backoff) Delay(n int) time.Duration {
	d := b.Initial
	for i := 1; i < n && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	r := rand.Float64
	if b.Rand != nil {
		r = b.Rand
	}
	return d/2 + time.Duration(r()*float64(d/2))
}

// SocketOptions configure the Socket Mode transport.
type SocketOptions struct {
	AppToken   string // xapp-…
	APIURL     string // Web API base URL, where apps.connections.open is called
	Dispatcher Dispatcher
	Pool       *Pool
	Deduper    Deduper
	Logger     *zap.Logger
	Backoff    Backoff // default DefaultBackoff()
	// Wait waits d or until ctx ends (default: a timer). Tests inject one that records.
	Wait func(ctx context.Context, d time.Duration) error
	// HTTPClient calls apps.connections.open and posts busy answers (default: 10 s timeout).
	HTTPClient *http.Client
	// PingInterval: a connection not pinged by Slack for this long is dropped and reopened
	// (default: slack-go's 30 s).
	PingInterval time.Duration
}

// Socket is the Socket Mode transport.
//
// slack-go's socketmode.Client.RunContext already reconnects by itself when the socket
// drops, when Slack sends a `disconnect` envelope and when Slack stops pinging: it calls
// apps.connections.open again at once. Between failed opens it backs off on its own
// (100 ms doubling, capped at 5 min, no jitter; on a 429 it waits at least the Retry-After
// header), and it returns only for a fatal auth error (invalid_auth, not_authed,
// account_inactive, token_revoked, HTTP 404) or when its context ends. Socket wraps it twice:
// every apps.connections.open after the first goes through an HTTP client that first waits
// Backoff.Delay(attempts since the last hello), so a flapping connection cannot spin; and
// when RunContext returns with an error Socket logs it and runs it again, paced the same way.
type Socket struct {
	deps
	appToken string
	apiURL   string
	backoff  Backoff
	wait     func(context.Context, time.Duration) error
	ping     time.Duration

	connected atomic.Bool // a connection said hello and has not been replaced since

	mu       sync.Mutex
	opened   bool // apps.connections.open was called before
	attempts int  // opens since the last hello
}

// Connected reports whether a Socket Mode connection is up (for /readyz).
func (s *Socket) Connected() bool { return s.connected.Load() }

// NewSocket checks the options and builds the transport; Run connects.
func NewSocket(o SocketOptions) (*Socket, error) {
	s := &Socket{
		deps:     deps{d: o.Dispatcher, pool: o.Pool, dedupe: o.Deduper, log: o.Logger, client: o.HTTPClient},
		appToken: o.AppToken, apiURL: o.APIURL, backoff: o.Backoff, wait: o.Wait, ping: o.PingInterval,
	}
	if err := s.check(); err != nil {
		return nil, err
	}
	if s.appToken == "" {
		return nil, fmt.Errorf("slack transport: %w: no app-level token", ErrInvalidConfig)
	}
	if s.apiURL == "" {
		s.apiURL = DefaultAPIURL
	}
	if s.backoff.Initial <= 0 || s.backoff.Max < s.backoff.Initial {
		rnd := s.backoff.Rand
		s.backoff = DefaultBackoff()
		s.backoff.Rand = rnd
	}
	if s.wait == nil {
		s.wait = timerWait
	}
	if s.client == nil {
		s.client = &http.Client{Timeout: 10 * time.Second}
	}
	s.log = s.log.With(zap.String("transport", "socket"))
	return s, nil
}

func timerWait(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// pacedOpener is the HTTP client slack-go's socket mode client calls; it paces
// apps.connections.open (see Socket).
type pacedOpener struct{ s *Socket }

func (p pacedOpener) Do(req *http.Request) (*http.Response, error) {
	s := p.s
	if strings.HasSuffix(req.URL.Path, "/apps.connections.open") {
		if err := req.Context().Err(); err != nil {
			return nil, err // shutting down: no reconnect to pace
		}
		s.mu.Lock()
		first := !s.opened
		s.opened = true
		s.attempts++
		n := s.attempts
		s.mu.Unlock()
		if !first {
			d := s.backoff.Delay(n)
			s.log.Info("reconnecting to slack", zap.Int("attempt", n), zap.Duration("after", d))
			if err := s.wait(req.Context(), d); err != nil {
				return nil, err
			}
		}
	}
	return s.client.Do(req)
}

// Run connects to Slack and handles envelopes until ctx ends; it returns nil then.
func (s *Socket) Run(ctx context.Context) error {
	opts := []socketmode.Option{socketmode.OptionLog(zap.NewStdLog(s.log))}
	if s.ping > 0 {
		opts = append(opts, socketmode.OptionPingInterval(s.ping))
	}
	api := slack.New("", slack.OptionAppLevelToken(s.appToken), slack.OptionAPIURL(s.apiURL), slack.OptionHTTPClient(pacedOpener{s}))
	client := socketmode.New(api, opts...)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			// RunContext returns only with an error: a fatal one, or the end of ctx.
			if err := client.RunContext(ctx); ctx.Err() == nil {
				s.log.Error("socket mode stopped, restarting", zap.Error(err))
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			<-done
			s.connected.Store(false)
			return nil
		case evt := <-client.Events:
			s.handle(ctx, client, evt)
		}
	}
}

func (s *Socket) handle(ctx context.Context, client *socketmode.Client, evt socketmode.Event) {
	switch evt.Type {
	case socketmode.EventTypeConnecting:
		s.connected.Store(false)
		s.log.Debug("connecting to slack")
	case socketmode.EventTypeConnected:
		s.log.Info("connected to slack")
	case socketmode.EventTypeHello:
		s.connected.Store(true)
		s.mu.Lock()
		s.attempts = 0
		s.mu.Unlock()
	case socketmode.EventTypeErrorBadMessage:
		// An envelope slack-go cannot parse (an inner event type it does not know): ack it so
		// Slack does not resend it, and ignore it.
		s.log.Info("envelope ignored: not parseable", zap.Any("detail", errorOf(evt.Data)))
		if bad, ok := evt.Data.(*socketmode.ErrorBadMessage); ok {
			var req socketmode.Request
			if json.Unmarshal(bad.Message, &req) == nil && req.EnvelopeID != "" {
				s.ack(ctx, client, &req, nil)
			}
		}
	case socketmode.EventTypeConnectionError, socketmode.EventTypeIncomingError,
		socketmode.EventTypeErrorWriteFailed, socketmode.EventTypeInvalidAuth:
		s.log.Warn("socket mode trouble", zap.String("event", string(evt.Type)), zap.Any("detail", errorOf(evt.Data)))
	case socketmode.EventTypeSlashCommand:
		if cmd, ok := evt.Data.(slack.SlashCommand); ok && evt.Request != nil {
			s.submitAndAck(ctx, client, evt.Request, KindCommand, s.dispatchCommand(cmd), busyMessage)
		}
	case socketmode.EventTypeInteractive:
		cb, ok := evt.Data.(slack.InteractionCallback)
		if ok && evt.Request != nil && !s.submitAndAck(ctx, client, evt.Request, KindInteraction, s.dispatchInteraction(cb), nil) {
			s.answerBusyInteraction(ctx, cb)
		}
	case socketmode.EventTypeEventsAPI:
		ev, ok := evt.Data.(slackevents.EventsAPIEvent)
		if !ok || evt.Request == nil {
			return
		}
		s.ack(ctx, client, evt.Request, nil)
		if !s.newEvent(ctx, ev) {
			return
		}
		if !s.pool.Submit(KindEvent, s.dispatchEvent(ev)) {
			s.busy(KindEvent)
			s.pool.m.dropped.WithLabelValues(KindEvent).Inc()
			s.log.Warn("event dropped: worker pool full", zap.String("type", ev.InnerEvent.Type))
		}
	}
}

// submitAndAck queues fn to run once the ack is sent, then acks: with busyPayload when the
// pool refused the work. It reports whether the work was queued.
func (s *Socket) submitAndAck(ctx context.Context, client *socketmode.Client, req *socketmode.Request,
	kind string, fn func(context.Context), busyPayload any) bool {
	gate := make(chan struct{})
	defer close(gate)
	if !s.pool.submit(kind, gate, fn) {
		s.busy(kind)
		s.ack(ctx, client, req, busyPayload)
		return false
	}
	s.ack(ctx, client, req, nil)
	return true
}

// ackTimeout bounds queueing an ack while the connection is being reopened.
const ackTimeout = 5 * time.Second

func (s *Socket) ack(ctx context.Context, client *socketmode.Client, req *socketmode.Request, payload any) {
	ctx, cancel := context.WithTimeout(ctx, ackTimeout)
	defer cancel()
	if err := client.AckCtx(ctx, req.EnvelopeID, payload); err != nil {
		s.log.Warn("ack not sent", zap.String("envelope_id", req.EnvelopeID), zap.Error(err))
	}
}

// errorOf extracts the error slack-go wraps in its connection events.
func errorOf(data any) any {
	switch d := data.(type) {
	case *slack.ConnectionErrorEvent:
		return d.ErrorObj.Error()
	case *slack.IncomingEventError:
		return d.ErrorObj.Error()
	case *socketmode.ErrorBadMessage:
		return d.Cause.Error()
	case *socketmode.ErrorWriteFailed:
		return d.Cause.Error()
	case error:
		return d.Error()
	}
	return nil
}
