package transport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"go.uber.org/zap"
)

// HTTP mode paths.
const (
	PathCommands     = "/slack/commands"
	PathInteractions = "/slack/interactions"
	PathEvents       = "/slack/events"
)

// HTTPOptions configure the HTTP-mode handler.
type HTTPOptions struct {
	SigningSecret string
	Dispatcher    Dispatcher
	Pool          *Pool
	Deduper       Deduper
	Logger        *zap.Logger
	Now           func() time.Time // default time.Now
	MaxBodyBytes  int64            // default DefaultMaxBodyBytes
	Client        *http.Client     // posts busy answers to response_url; default: 3 s timeout
}

// HTTPHandler serves POST /slack/commands, /slack/interactions and /slack/events. Every
// request is checked, in this order and before any parsing, for its body size (413), its
// timestamp against the replay window (401) and its v0 signature (401); then it is parsed
// (400 when malformed), acked with 200, and its work queued on the pool.
type HTTPHandler struct {
	deps
	secret  string
	now     func() time.Time
	maxBody int64
	mux     *http.ServeMux
}

// NewHTTPHandler checks the options and builds the handler.
func NewHTTPHandler(o HTTPOptions) (*HTTPHandler, error) {
	h := &HTTPHandler{
		deps:    deps{d: o.Dispatcher, pool: o.Pool, dedupe: o.Deduper, log: o.Logger, client: o.Client},
		secret:  o.SigningSecret,
		now:     o.Now,
		maxBody: o.MaxBodyBytes,
		mux:     http.NewServeMux(),
	}
	if err := h.check(); err != nil {
		return nil, err
	}
	if h.secret == "" {
		return nil, fmt.Errorf("slack transport: %w: no signing secret", ErrInvalidConfig)
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.maxBody <= 0 {
		h.maxBody = DefaultMaxBodyBytes
	}
	if h.client == nil {
		h.client = &http.Client{Timeout: busyAnswerTimeout}
	}
	h.log = h.log.With(zap.String("transport", "http"))
	h.mux.HandleFunc("POST "+PathCommands, h.verified(h.command))
	h.mux.HandleFunc("POST "+PathInteractions, h.verified(h.interaction))
	h.mux.HandleFunc("POST "+PathEvents, h.verified(h.event))
	return h, nil
}

// ServeHTTP implements http.Handler.
func (h *HTTPHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// verified wraps next with the checks that run before any parsing.
func (h *HTTPHandler) verified(next func(http.ResponseWriter, *http.Request, []byte)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		// step 1: size. A declared length over the limit is refused without reading.
		if r.ContentLength > h.maxBody {
			h.refuse(w, http.StatusRequestEntityTooLarge, "oversize", nil)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
		if err != nil {
			if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
				h.refuse(w, http.StatusRequestEntityTooLarge, "oversize", nil)
				return
			}
			h.refuse(w, http.StatusBadRequest, "unreadable", err)
			return
		}
		// step 2: timestamp within the replay window, then the signature over the raw body.
		if err := verify(h.secret, h.now(), r.Header, body); err != nil {
			reason := "signature"
			if errors.Is(err, ErrStaleTimestamp) {
				reason = "stale"
			}
			h.refuse(w, http.StatusUnauthorized, reason, err)
			return
		}
		// step 3: parse, ack, queue.
		next(w, r, body)
	}
}

func (h *HTTPHandler) refuse(w http.ResponseWriter, status int, reason string, err error) {
	h.pool.m.rejected.WithLabelValues(reason).Inc()
	h.log.Info("slack request refused", zap.Int("status", status), zap.String("reason", reason), zap.Error(err))
	http.Error(w, http.StatusText(status), status)
}

func (h *HTTPHandler) command(w http.ResponseWriter, _ *http.Request, body []byte) {
	form, err := url.ParseQuery(string(body))
	if err != nil || form.Get("command") == "" || form.Get("user_id") == "" {
		h.refuse(w, http.StatusBadRequest, "malformed", err)
		return
	}
	cmd := slashCommand(form)
	gate := make(chan struct{})
	defer close(gate)
	if !h.pool.submit(KindCommand, gate, h.dispatchCommand(cmd)) {
		h.busy(KindCommand)
		writeJSON(w, busyMessage)
		return
	}
	ack(w)
}

func (h *HTTPHandler) interaction(w http.ResponseWriter, r *http.Request, body []byte) {
	form, err := url.ParseQuery(string(body))
	var cb slack.InteractionCallback
	if err == nil {
		err = json.Unmarshal([]byte(form.Get("payload")), &cb)
	}
	if err != nil || cb.Type == "" || cb.User.ID == "" {
		h.refuse(w, http.StatusBadRequest, "malformed", err)
		return
	}
	gate := make(chan struct{})
	defer close(gate)
	if !h.pool.submit(KindInteraction, gate, h.dispatchInteraction(cb)) {
		h.busy(KindInteraction)
		ack(w)
		h.answerBusyInteraction(context.WithoutCancel(r.Context()), cb)
		return
	}
	ack(w)
}

func (h *HTTPHandler) event(w http.ResponseWriter, r *http.Request, body []byte) {
	var outer struct {
		Type      string `json:"type"`
		Challenge string `json:"challenge"`
		EventID   string `json:"event_id"`
	}
	if err := json.Unmarshal(body, &outer); err != nil || outer.Type == "" {
		h.refuse(w, http.StatusBadRequest, "malformed", err)
		return
	}
	switch outer.Type {
	case slackevents.URLVerification:
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, outer.Challenge)
		return
	case slackevents.CallbackEvent:
	default: // app_rate_limited and future outer types: nothing to do
		ack(w)
		return
	}
	ev, err := slackevents.ParseEvent(body, slackevents.OptionNoVerifyToken())
	if err != nil {
		// An inner event type slack-go does not know is acked (or Slack retries it) and ignored.
		h.log.Info("event ignored: not parseable", zap.String("event_id", outer.EventID), zap.Error(err))
		ack(w)
		return
	}
	if r.Header.Get(HeaderRetryNum) != "" {
		h.log.Debug("event retry", zap.String("event_id", outer.EventID), zap.String("retry", r.Header.Get(HeaderRetryNum)))
	}
	if !h.newEvent(r.Context(), ev) {
		ack(w)
		return
	}
	gate := make(chan struct{})
	defer close(gate)
	if !h.pool.submit(KindEvent, gate, h.dispatchEvent(ev)) {
		h.busy(KindEvent)
		h.pool.m.dropped.WithLabelValues(KindEvent).Inc()
		h.log.Warn("event dropped: worker pool full", zap.String("event_id", outer.EventID), zap.String("type", ev.InnerEvent.Type))
	}
	ack(w)
}

// slashCommand reads the fields of Slack's slash-command form.
func slashCommand(f url.Values) slack.SlashCommand {
	return slack.SlashCommand{
		TeamID: f.Get("team_id"), TeamDomain: f.Get("team_domain"),
		EnterpriseID: f.Get("enterprise_id"), EnterpriseName: f.Get("enterprise_name"),
		IsEnterpriseInstall: f.Get("is_enterprise_install") == "true",
		ChannelID:           f.Get("channel_id"), ChannelName: f.Get("channel_name"),
		UserID: f.Get("user_id"), UserName: f.Get("user_name"),
		Command: f.Get("command"), Text: f.Get("text"),
		ResponseURL: f.Get("response_url"), TriggerID: f.Get("trigger_id"), APIAppID: f.Get("api_app_id"),
	}
}

// ack writes an empty 200 and flushes it, so Slack has its answer before the work starts.
func ack(w http.ResponseWriter) {
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
	_ = http.NewResponseController(w).Flush()
}

func writeJSON(w http.ResponseWriter, v any) {
	body, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
	_ = http.NewResponseController(w).Flush()
}

// ServeListener serves handler on l until ctx ends, then shuts the server down, giving
// in-flight requests up to 10 s. It returns nil after a clean shutdown. name says which
// listener it is ("slack http", "metrics") in its log and errors.
func ServeListener(ctx context.Context, name string, l net.Listener, handler http.Handler, log *zap.Logger) error {
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second, IdleTimeout: 60 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	log.Info(name+" listening", zap.String("addr", l.Addr().String()))
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s on %s: %w", name, l.Addr(), err)
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		return fmt.Errorf("shut down %s on %s: %w", name, l.Addr(), err)
	}
	return nil
}
