package transport

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"go.uber.org/zap"
)

// Dispatcher receives verified, parsed Slack payloads. It is called on the worker pool after
// the ack was sent, with a context that is cancelled when a shutdown runs out of time.
type Dispatcher interface {
	Command(ctx context.Context, cmd slack.SlashCommand)
	Interaction(ctx context.Context, cb slack.InteractionCallback)
	Event(ctx context.Context, ev slackevents.EventsAPIEvent)
}

// Busier is optionally implemented by a Dispatcher that wants to know when a payload of kind
// was refused because the pool was full. It is called on the transport's goroutine, before
// or with the ack, so it must return at once.
type Busier interface {
	Busy(kind string)
}

// BusyText is what a user is told when the pool is full.
const BusyText = "clonebot is busy, try again in a moment"

// busyAnswerTimeout bounds the response_url post that tells a user their click was refused.
const busyAnswerTimeout = 3 * time.Second

// ephemeral is a response_url / slash-command reply body.
type ephemeral struct {
	ResponseType    string `json:"response_type"`
	Text            string `json:"text"`
	ReplaceOriginal bool   `json:"replace_original"`
}

var busyMessage = ephemeral{ResponseType: slack.ResponseTypeEphemeral, Text: BusyText}

// deps are what both transports share.
type deps struct {
	d      Dispatcher
	pool   *Pool
	dedupe Deduper
	log    *zap.Logger
	client *http.Client // posts busy answers to response_url
}

func (x deps) check() error {
	switch {
	case x.d == nil:
		return fmt.Errorf("slack transport: %w: no Dispatcher", ErrInvalidConfig)
	case x.pool == nil:
		return fmt.Errorf("slack transport: %w: no Pool", ErrInvalidConfig)
	case x.dedupe == nil:
		return fmt.Errorf("slack transport: %w: no Deduper", ErrInvalidConfig)
	case x.log == nil:
		return fmt.Errorf("slack transport: %w: no Logger", ErrInvalidConfig)
	}
	return nil
}

// busy tells the Dispatcher, if it listens, that a payload of kind was refused.
func (x deps) busy(kind string) {
	if b, ok := x.d.(Busier); ok {
		b.Busy(kind)
	}
}

// newEvent decides whether an event is handled: it returns false for a duplicate event_id.
// A store error is logged and the event handled (at least once beats never).
func (x deps) newEvent(ctx context.Context, ev slackevents.EventsAPIEvent) bool {
	cb, ok := ev.Data.(*slackevents.EventsAPICallbackEvent)
	if !ok || cb.EventID == "" {
		return true
	}
	first, err := x.dedupe.FirstSeen(ctx, cb.EventID)
	if err != nil {
		x.log.Warn("event dedupe unavailable, handling the event", zap.String("event_id", cb.EventID), zap.Error(err))
		return true
	}
	if !first {
		x.pool.m.dupes.Inc()
		x.log.Debug("duplicate event ignored", zap.String("event_id", cb.EventID))
	}
	return first
}

// answerBusyInteraction tells the clicking user, through the interaction's response_url, that
// the click was not handled; without a response_url the drop is logged and counted.
func (x deps) answerBusyInteraction(ctx context.Context, cb slack.InteractionCallback) {
	if cb.ResponseURL == "" {
		x.pool.m.dropped.WithLabelValues(KindInteraction).Inc()
		x.log.Warn("interaction dropped: worker pool full", zap.String("type", string(cb.Type)), zap.String("user", cb.User.ID))
		return
	}
	ctx, cancel := context.WithTimeout(ctx, busyAnswerTimeout)
	defer cancel()
	body, _ := json.Marshal(busyMessage)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cb.ResponseURL, bytes.NewReader(body))
	if err != nil {
		x.log.Warn("busy answer not sent", zap.Error(err))
		return
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := x.client.Do(req)
	if err != nil {
		// The URL is a short-lived capability: log the cause without it.
		if ue, ok := errors.AsType[*url.Error](err); ok {
			err = ue.Err
		}
		x.log.Warn("busy answer not sent", zap.Error(err))
		return
	}
	_ = resp.Body.Close()
}

func (x deps) dispatchCommand(cmd slack.SlashCommand) func(context.Context) {
	return func(ctx context.Context) { x.d.Command(ctx, cmd) }
}

func (x deps) dispatchInteraction(cb slack.InteractionCallback) func(context.Context) {
	return func(ctx context.Context) { x.d.Interaction(ctx, cb) }
}

func (x deps) dispatchEvent(ev slackevents.EventsAPIEvent) func(context.Context) {
	return func(ctx context.Context) { x.d.Event(ctx, ev) }
}
