package bot

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"go.uber.org/zap"

	"github.com/clonebot/clonebot/approvals"
	"github.com/clonebot/clonebot/bot/command"
	"github.com/clonebot/clonebot/bot/render"
	"github.com/clonebot/clonebot/bot/transport"
	"github.com/clonebot/clonebot/handlers"
	"github.com/clonebot/clonebot/internal/clock"
)

var _ transport.Dispatcher = (*Bot)(nil)

// Bot is the transport.Dispatcher: it turns Slack payloads into use-case calls and answers
// the person who acted, ephemerally.
type Bot struct {
	svc    *handlers.Service
	api    *slack.Client
	notify *Notifier
	policy *approvals.Policy
	log    *zap.Logger
	clock  clock.Clock
	client *http.Client // posts answers to response_url
}

// Deps are what New wires together; all are required but HTTPClient (default: 5 s timeout).
type Deps struct {
	Slack      *slack.Client
	Service    *handlers.Service
	Notifier   *Notifier
	Policy     *approvals.Policy
	Logger     *zap.Logger
	Clock      clock.Clock
	HTTPClient *http.Client
}

// New returns the Bot.
func New(d Deps) (*Bot, error) {
	if d.Slack == nil || d.Service == nil || d.Notifier == nil || d.Policy == nil || d.Clock == nil || d.Logger == nil {
		return nil, errors.New("bot: Slack, Service, Notifier, Policy, clock.Clock and Logger are required")
	}
	if d.HTTPClient == nil {
		d.HTTPClient = &http.Client{Timeout: 5 * time.Second}
	}
	return &Bot{svc: d.Service, api: d.Slack, notify: d.Notifier, policy: d.Policy, log: d.Logger, clock: d.Clock, client: d.HTTPClient}, nil
}

// target is where an answer goes: a response_url, else an ephemeral message in a channel,
// else a DM.
type target struct {
	responseURL, channel, user string
}

// slackUnescape undoes the escaping Slack applies to slash-command text.
var slackUnescape = strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&")

// Command handles a /clone slash command.
func (b *Bot) Command(ctx context.Context, cmd slack.SlashCommand) {
	to := target{responseURL: cmd.ResponseURL, channel: cmd.ChannelID, user: cmd.UserID}
	log := b.log.With(zap.String("user", cmd.UserID), zap.String("channel", cmd.ChannelID))
	c, err := command.Parse(slackUnescape.Replace(cmd.Text), b.clock.Now())
	if err != nil {
		b.fail(ctx, log, to, err)
		return
	}
	if c.Kind == command.KindModal {
		meta, _ := json.Marshal(modalMeta{Channel: cmd.ChannelID})
		b.openModal(ctx, log.With(zap.String("kind", "modal")), to, cmd.TriggerID, render.RequestModal(b.policy, string(meta)), "type /clone")
		return
	}
	log = log.With(zap.String("command", string(c.Kind)))
	rep, err := b.run(ctx, handlers.Actor{User: cmd.UserID, Channel: cmd.ChannelID}, c)
	if err != nil {
		b.fail(ctx, log, to, err)
		return
	}
	b.answer(ctx, log, to, render.Reply(rep, b.clock.Now()))
}

// run calls the use case of a parsed command.
func (b *Bot) run(ctx context.Context, a handlers.Actor, c command.Command) (handlers.Reply, error) {
	run, ok := runners[c.Kind]
	if !ok {
		return handlers.Reply{}, fmt.Errorf("command %q has no use case", c.Kind)
	}
	return run(ctx, b.svc, a, c)
}

// modalMeta is the private_metadata of the modals: where to answer, and which request.
type modalMeta struct {
	Channel string `json:"channel,omitempty"`
	Request string `json:"request,omitempty"`
}

// Interaction handles button clicks and modal submissions.
func (b *Bot) Interaction(ctx context.Context, cb slack.InteractionCallback) {
	log := b.log.With(zap.String("user", cb.User.ID), zap.String("interaction", string(cb.Type)))
	switch cb.Type {
	case slack.InteractionTypeBlockActions:
		for _, act := range cb.ActionCallback.BlockActions {
			b.action(ctx, log.With(zap.String("action", act.ActionID), zap.String("request_id", act.Value)), cb, act)
		}
	case slack.InteractionTypeViewSubmission:
		b.submission(ctx, log.With(zap.String("callback", cb.View.CallbackID)), cb)
	default:
		log.Debug("interaction ignored")
	}
}

// action handles one button.
func (b *Bot) action(ctx context.Context, log *zap.Logger, cb slack.InteractionCallback, act *slack.BlockAction) {
	to := target{responseURL: cb.ResponseURL, channel: cb.Channel.ID, user: cb.User.ID}
	a := handlers.Actor{User: cb.User.ID}
	id := act.Value
	if !approvals.ValidID(id) {
		log.Warn("button with a bad request id")
		return
	}
	var rep handlers.Reply
	var err error
	switch act.ActionID {
	case render.ActionApprove:
		rep, err = b.svc.Vote(ctx, a, id, approvals.DecisionApprove, "")
		if err == nil && rep.Confirm != nil {
			// The tier's approvers confirm in a modal; the vote happens when it is submitted.
			meta, _ := json.Marshal(modalMeta{Channel: cb.Channel.ID, Request: id})
			b.openModal(ctx, log, to, cb.TriggerID, render.ConfirmModal(rep.Confirm, string(meta)), "click Approve")
			return
		}
	case render.ActionDeny:
		// Deny asks for a reason first; the vote happens when the modal is submitted.
		meta, _ := json.Marshal(modalMeta{Channel: cb.Channel.ID, Request: id})
		b.openModal(ctx, log, to, cb.TriggerID, render.DenyModal(id, string(meta)), "click Deny")
		return
	case render.ActionExtend:
		rep, err = b.svc.Extend(ctx, a, id, render.ExtendBy)
	case render.ActionExtendCap:
		rep, err = b.svc.ExtendToCap(ctx, a, id)
	case render.ActionDestroyNow:
		rep, err = b.svc.Destroy(ctx, a, id)
	case render.ActionCancel:
		rep, err = b.svc.Cancel(ctx, a, id)
	case render.ActionReview:
		// Reviewed asks for notes first; the review is recorded when the modal is submitted.
		meta, _ := json.Marshal(modalMeta{Channel: cb.Channel.ID, Request: id})
		if _, err := b.api.OpenViewContext(ctx, cb.TriggerID, render.ReviewModal(id, string(meta))); err != nil {
			b.fail(ctx, log, to, fmt.Errorf("views.open: %w", err))
		}
		return
	default:
		log.Debug("unknown action ignored")
		return
	}
	if err != nil {
		b.fail(ctx, log, to, err)
		return
	}
	b.answer(ctx, log, to, render.Reply(rep, b.clock.Now()))
}

// submission handles the request modal, the Deny-reason modal and the review-notes modal. They were acked empty;
// the answer goes ephemerally to the channel they came from, or by DM.
func (b *Bot) submission(ctx context.Context, log *zap.Logger, cb slack.InteractionCallback) {
	var meta modalMeta
	_ = json.Unmarshal([]byte(cb.View.PrivateMetadata), &meta)
	to := target{channel: meta.Channel, user: cb.User.ID}
	a := handlers.Actor{User: cb.User.ID, Channel: meta.Channel}
	var rep handlers.Reply
	var err error
	switch cb.View.CallbackID {
	case render.CallbackRequest:
		var c command.Command
		if c, err = command.ParseForm(requestForm(cb.View.State), b.clock.Now()); err == nil {
			rep, err = b.run(ctx, a, c)
		}
	case render.CallbackDeny, render.CallbackConfirm:
		if !approvals.ValidID(meta.Request) {
			log.Warn("vote modal without a request id")
			return
		}
		if cb.View.CallbackID == render.CallbackConfirm {
			rep, err = b.svc.ConfirmApproval(ctx, a, meta.Request)
			break
		}
		rep, err = b.svc.Vote(ctx, a, meta.Request, approvals.DecisionDeny, inputValue(cb.View.State, render.InputReason))
	case render.CallbackReview:
		if !approvals.ValidID(meta.Request) {
			log.Warn("review modal without a request id")
			return
		}
		rep, err = b.svc.Review(ctx, a, meta.Request, inputValue(cb.View.State, render.InputNotes))
	default:
		log.Debug("unknown modal ignored")
		return
	}
	if err != nil {
		b.fail(ctx, log, to, err)
		return
	}
	b.answer(ctx, log, to, render.Reply(rep, b.clock.Now()))
}

// staleTrigger are the views.open errors of a trigger_id Slack no longer honours: it lasts
// three seconds and opens one view.
var staleTrigger = map[string]bool{"expired_trigger_id": true, "exchanged_trigger_id": true, "invalid_trigger_id": true}

// openModal opens view with the trigger of the interaction that asked for it (again says how
// to ask again: "click Approve"). A trigger Slack no longer honours (the interaction took too
// long to reach clonebot) is answered with "again"; nothing was changed.
func (b *Bot) openModal(ctx context.Context, log *zap.Logger, to target, trigger string, view slack.ModalViewRequest, again string) {
	_, err := b.api.OpenViewContext(ctx, trigger, view)
	var se slack.SlackErrorResponse
	switch {
	case err == nil:
	case errors.As(err, &se) && staleTrigger[se.Err]:
		log.Warn("modal not opened: stale trigger", zap.String("slack_error", se.Err))
		b.answer(ctx, log, to, render.Refusal(fmt.Sprintf("Slack's window to open the form closed before clonebot could open it, so nothing happened; %s again.", again), nil, nil))
	default:
		b.fail(ctx, log, to, fmt.Errorf("views.open: %w", err))
	}
}

// requestForm reads the fields of the request form.
func requestForm(st *slack.ViewState) command.Form {
	return command.Form{Source: inputValue(st, render.InputSource), Date: inputValue(st, render.InputDate),
		Tier: inputValue(st, render.InputTier), TTL: inputValue(st, render.InputTTL), Reason: inputValue(st, render.InputReason)}
}

// inputValue reads a modal input by its block ID (= action ID): text or the selected option.
func inputValue(st *slack.ViewState, id string) string {
	if st == nil {
		return ""
	}
	act, ok := st.Values[id][id]
	if !ok {
		return ""
	}
	if act.SelectedOption.Value != "" {
		return act.SelectedOption.Value
	}
	return act.Value
}

// Event handles Events API events: app_home_opened publishes the person's App Home.
func (b *Bot) Event(ctx context.Context, ev slackevents.EventsAPIEvent) {
	if ev.Type != slackevents.CallbackEvent {
		return
	}
	if e, ok := ev.InnerEvent.Data.(*slackevents.AppHomeOpenedEvent); ok {
		if e.Tab != "" && e.Tab != "home" {
			return
		}
		if err := b.notify.PublishHome(ctx, e.User); err != nil {
			ref := newRef()
			b.log.Error("app home", zap.String("ref", ref), zap.String("user", e.User), zap.Error(err))
		}
	}
}

// answer sends an ephemeral answer; a failure to answer can only be logged. It first wakes
// the Notifier, so what the use case recorded reaches Slack without waiting for its next poll.
func (b *Bot) answer(ctx context.Context, log *zap.Logger, to target, m render.Message) {
	b.notify.Wake()
	var err error
	switch {
	case to.responseURL != "":
		blocks := slack.Blocks{BlockSet: m.Blocks}
		err = slack.PostWebhookCustomHTTPContext(ctx, to.responseURL, b.client, &slack.WebhookMessage{
			ResponseType: slack.ResponseTypeEphemeral, Text: m.Text, Blocks: &blocks})
		if err != nil {
			err = errors.New("post to response_url: " + redactURL(err))
		}
	case to.channel != "":
		_, err = b.api.PostEphemeralContext(ctx, to.channel, to.user, m.Options()...)
	default:
		_, _, err = b.api.PostMessageContext(ctx, to.user, m.Options()...)
	}
	if err != nil {
		log.Warn("answer not delivered", zap.Error(err))
	}
}

// urls matches URLs in error text: a response_url is a short-lived capability and stays
// out of the log.
var urls = regexp.MustCompile(`https?://\S+`)

func redactURL(err error) string { return urls.ReplaceAllString(err.Error(), "[url]") }

// fail answers a use case's error: a refusal (*handlers.Error) or a malformed command
// (*command.Error) with what to type instead; anything else is a failure, logged with a new
// reference id, of which the person sees only the reference.
func (b *Bot) fail(ctx context.Context, log *zap.Logger, to target, err error) {
	var refusal *handlers.Error
	var malformed *command.Error
	switch {
	case errors.As(err, &refusal):
		m := render.Refusal(refusal.Message, refusal.Lines, nil)
		if refusal.Offer != nil {
			m = render.WithOffer(m, *refusal.Offer)
		}
		b.answer(ctx, log, to, m)
	case errors.As(err, &malformed):
		b.answer(ctx, log, to, render.Refusal(malformed.Msg, nil, malformed.Usage))
	default:
		ref := newRef()
		log.Error("request failed", zap.String("ref", ref), zap.Error(err))
		b.answer(ctx, log, to, render.Failure(ref))
	}
}

// newRef returns a short random reference for a logged failure.
func newRef() string {
	var buf [4]byte
	_, _ = rand.Read(buf[:])
	return "ref-" + hex.EncodeToString(buf[:])
}
