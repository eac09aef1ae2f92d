package bot

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"
	"go.uber.org/zap"

	"github.com/clonebot/clonebot/approvals"
	"github.com/clonebot/clonebot/bot/render"
	"github.com/clonebot/clonebot/handlers"
)

var _ handlers.Notifier = (*Notifier)(nil)

// Notifier is handlers.Notifier on the Slack Web API. Every message write to a channel waits
// for that channel's next slot (at most one per Config.ChannelInterval, Slack's ~1/s), and a
// 429 answer pushes the channel's next slot back by its Retry-After and is retried. Safe for
// concurrent use.
type Notifier struct {
	api      *slack.Client
	dir      *Directory
	policy   *approvals.Policy
	log      *zap.Logger
	clock    Clock
	interval time.Duration
	retries  int

	mu       sync.Mutex
	next     map[string]time.Time // channel → earliest time of its next write
	progress map[string]*progressLine
	refs     ProgressRefs // shared positions of progress lines; nil: this process only
	home     func(ctx context.Context, user string) (handlers.Home, error)
}

// ShareProgress makes the Notifier find and record progress lines in refs, so replicas edit
// one line per request. Call it before use.
func (n *Notifier) ShareProgress(refs ProgressRefs) { n.refs = refs }

// progressLine is a request's one status message in its thread.
type progressLine struct {
	ts  string // "" until posted
	seq int    // the newest status asked for; an older one still waiting is dropped
}

// NewNotifier returns a Notifier with its own Directory (New shares it with the use cases).
// The App Home is rendered once New has connected the Notifier to the use cases.
func NewNotifier(api *slack.Client, policy *approvals.Policy, cfg Config, log *zap.Logger, clock Clock) *Notifier {
	cfg.applyDefaults()
	return &Notifier{api: api, dir: NewDirectory(api, cfg, clock), policy: policy, log: log, clock: clock, interval: cfg.ChannelInterval,
		retries: cfg.RateLimitRetries, next: map[string]time.Time{}, progress: map[string]*progressLine{}}
}

// slot waits for channel's next write slot and reserves the one after it.
func (n *Notifier) slot(ctx context.Context, channel string) error {
	n.mu.Lock()
	now := n.clock.Now()
	at := n.next[channel]
	if at.Before(now) {
		at = now
	}
	n.next[channel] = at.Add(n.interval)
	n.mu.Unlock()
	if wait := at.Sub(now); wait > 0 {
		select {
		case <-n.clock.After(wait):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// backOff moves channel's next slot to at least now + d (Slack's Retry-After).
func (n *Notifier) backOff(channel string, d time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if at := n.clock.Now().Add(d); at.After(n.next[channel]) {
		n.next[channel] = at
	}
}

// write runs a Web API write to channel in its slot, retrying rate-limited answers.
func (n *Notifier) write(ctx context.Context, channel string, call func() error) error {
	for attempt := 0; ; attempt++ {
		if err := n.slot(ctx, channel); err != nil {
			return err
		}
		err := call()
		var rl *slack.RateLimitedError
		if !errors.As(err, &rl) || attempt >= n.retries {
			return err
		}
		n.log.Info("slack rate limit, retrying", zap.String("channel", channel), zap.Duration("retry_after", rl.RetryAfter))
		n.backOff(channel, rl.RetryAfter)
	}
}

func (n *Notifier) post(ctx context.Context, channel string, m render.Message, opts ...slack.MsgOption) (string, string, error) {
	var ch, ts string
	err := n.write(ctx, channel, func() error {
		var err error
		ch, ts, err = n.api.PostMessageContext(ctx, channel, append(m.Options(), opts...)...)
		return err
	})
	if err != nil {
		return "", "", fmt.Errorf("chat.postMessage to %s: %w", channel, err)
	}
	return ch, ts, nil
}

func (n *Notifier) update(ctx context.Context, channel, ts string, m render.Message) error {
	err := n.write(ctx, channel, func() error {
		_, _, _, err := n.api.UpdateMessageContext(ctx, channel, ts, m.Options()...)
		return err
	})
	if err != nil {
		return fmt.Errorf("chat.update %s/%s: %w", channel, ts, err)
	}
	return nil
}

// inThread posts m under r's card (or, without a card, in its channel).
func (n *Notifier) inThread(ctx context.Context, r *approvals.Request, m render.Message) (string, error) {
	var opts []slack.MsgOption
	if r.MessageTS != "" {
		opts = append(opts, slack.MsgOptionTS(r.MessageTS))
	}
	_, ts, err := n.post(ctx, r.Channel, m, opts...)
	return ts, err
}

// CardChanged posts r's card, or re-renders it in place with chat.update.
func (n *Notifier) CardChanged(ctx context.Context, r *approvals.Request) (string, string, error) {
	card := render.Card(r, n.clock.Now())
	if r.Status.Terminal() || r.Status == approvals.StatusReady || r.Status == approvals.StatusFailed {
		n.forget(r.ID) // no more progress for it
	}
	defer n.approverHomes(ctx, r)
	if r.MessageTS == "" {
		return n.post(ctx, r.Channel, card)
	}
	return r.Channel, r.MessageTS, n.update(ctx, r.Channel, r.MessageTS, card)
}

// maxApproverHomes bounds the App Home tabs re-published for one change of a request, within
// Slack's views.publish rate limit.
const maxApproverHomes = 50

// approverHomes re-publishes the App Home of everyone who may decide r while it is pending or
// has just been decided: their "waiting for your approval" list changed. Failures are logged.
func (n *Notifier) approverHomes(ctx context.Context, r *approvals.Request) {
	switch r.Status {
	case approvals.StatusPending, approvals.StatusApproved, approvals.StatusDenied, approvals.StatusExpired, approvals.StatusCancelled:
	default:
		return
	}
	// The requester's and the voters' homes are refreshed by the use case that changed r.
	seen := map[string]bool{r.Requester: true}
	for _, v := range r.Votes {
		seen[v.User] = true
	}
	var users []string
	add := func(u string) {
		if !seen[u] {
			seen[u] = true
			users = append(users, u)
		}
	}
	for _, sl := range r.Slots {
		for _, p := range sl.Approvers {
			kind, name, _ := strings.Cut(string(p), ":")
			switch kind {
			case "user":
				add(name)
			case "group":
				members, err := n.dir.Members(ctx, name)
				if err != nil {
					n.log.Warn("approvers' app homes not refreshed", zap.String("request_id", r.ID), zap.Error(err))
					return
				}
				for _, m := range members {
					add(m)
				}
			}
		}
	}
	if len(users) > maxApproverHomes {
		n.log.Info("refreshing only some approvers' app homes", zap.String("request_id", r.ID), zap.Int("approvers", len(users)))
		users = users[:maxApproverHomes]
	}
	n.HomeChanged(ctx, users...)
}

// ThreadNote adds a timeline line under r's card.
func (n *Notifier) ThreadNote(ctx context.Context, r *approvals.Request, note handlers.Note) error {
	_, err := n.inThread(ctx, r, render.Note(note, n.clock.Now()))
	return err
}

// Progress sets r's one progress line in its thread: posted the first time, edited after.
// Calls made while an earlier one waits for the channel's slot supersede it, so a burst of
// progress costs one write per interval and shows the newest status.
func (n *Notifier) Progress(ctx context.Context, r *approvals.Request, status string) error {
	n.mu.Lock()
	line := n.progress[r.ID]
	if line == nil {
		line = &progressLine{}
		n.progress[r.ID] = line
	}
	line.seq++
	mine := line.seq
	n.mu.Unlock()

	m := render.Progress(r, status)
	return n.write(ctx, r.Channel, func() error {
		n.mu.Lock()
		superseded, ts := line.seq != mine, line.ts
		n.mu.Unlock()
		if superseded {
			return nil
		}
		if ts == "" && n.refs != nil {
			shared, err := n.refs.Get(ctx, r.ID)
			if err != nil {
				n.log.Warn("progress line position unavailable", zap.String("request_id", r.ID), zap.Error(err))
			}
			ts = shared
		}
		if ts != "" {
			_, _, _, err := n.api.UpdateMessageContext(ctx, r.Channel, ts, m.Options()...)
			return err
		}
		opts := m.Options()
		if r.MessageTS != "" {
			opts = append(opts, slack.MsgOptionTS(r.MessageTS))
		}
		_, ts, err := n.api.PostMessageContext(ctx, r.Channel, opts...)
		if err != nil {
			return err
		}
		n.mu.Lock()
		line.ts = ts
		n.mu.Unlock()
		if n.refs != nil {
			if err := n.refs.Set(ctx, r.ID, ts); err != nil {
				n.log.Warn("progress line position not shared", zap.String("request_id", r.ID), zap.Error(err))
			}
		}
		return nil
	})
}

// Ready posts where the clone is and its credential reference in the thread, and DMs the
// requester the same.
func (n *Notifier) Ready(ctx context.Context, r *approvals.Request) error {
	m := render.Ready(r)
	if _, err := n.inThread(ctx, r, m); err != nil {
		return err
	}
	n.forget(r.ID)
	_, _, err := n.post(ctx, r.Requester, m)
	return err
}

// PendingReminder reminds the approvers of r's open slots, in its thread, that it expires in
// left; user groups are mentioned by ID so their members are notified.
func (n *Notifier) PendingReminder(ctx context.Context, r *approvals.Request, left time.Duration) error {
	var mentions []string
	filled := r.FilledSlots()
	for i, sl := range r.Slots {
		if filled[i] != "" {
			continue
		}
		for _, p := range sl.Approvers {
			kind, name, _ := strings.Cut(string(p), ":")
			switch kind {
			case "user":
				mentions = append(mentions, "<@"+name+">")
			case "group":
				id, ok, err := n.dir.GroupID(ctx, name)
				if err != nil {
					return err
				}
				if ok {
					mentions = append(mentions, "<!subteam^"+id+">")
				}
			}
		}
	}
	_, err := n.inThread(ctx, r, render.PendingReminder(r, left, mentions))
	return err
}

// Directory returns the Notifier's Directory.
func (n *Notifier) Directory() *Directory { return n.dir }

// forget drops a request's progress line once it no longer changes.
func (n *Notifier) forget(id string) {
	n.mu.Lock()
	delete(n.progress, id)
	n.mu.Unlock()
	if n.refs != nil {
		if err := n.refs.Forget(context.Background(), id); err != nil {
			n.log.Warn("progress line position not dropped", zap.String("request_id", id), zap.Error(err))
		}
	}
}

// TTLWarning posts the expiry warning with Extend and Destroy-now buttons in the thread.
func (n *Notifier) TTLWarning(ctx context.Context, r *approvals.Request, left time.Duration) error {
	_, err := n.inThread(ctx, r, render.TTLWarning(r, left))
	return err
}

// SecurityAlert posts to the policy's security channel.
func (n *Notifier) SecurityAlert(ctx context.Context, a handlers.Alert) error {
	if n.policy.SecurityChannel == "" {
		return errors.New("security alert: no security_channel in the policy")
	}
	_, _, err := n.post(ctx, n.policy.SecurityChannel, render.SecurityAlert(a))
	return err
}

// DM sends a person a direct message.
func (n *Notifier) DM(ctx context.Context, user, text string) error {
	_, _, err := n.post(ctx, user, render.Message{Text: render.Escape(text)})
	return err
}

// HomeChanged re-publishes the App Home of each user; failures are logged.
func (n *Notifier) HomeChanged(ctx context.Context, users ...string) {
	seen := map[string]bool{}
	for _, u := range users {
		if u == "" || seen[u] {
			continue
		}
		seen[u] = true
		if err := n.PublishHome(ctx, u); err != nil {
			n.log.Warn("app home not published", zap.String("user", u), zap.Error(err))
		}
	}
}

// PublishHome renders and publishes one person's App Home.
func (n *Notifier) PublishHome(ctx context.Context, user string) error {
	n.mu.Lock()
	home := n.home
	n.mu.Unlock()
	if home == nil {
		return errors.New("app home: the notifier is not connected to the use cases (bot.New)")
	}
	h, err := home(ctx, user)
	if err != nil {
		return err
	}
	view := render.Home(h, n.clock.Now())
	return n.write(ctx, "home:"+user, func() error {
		_, err := n.api.PublishViewContext(ctx, slack.PublishViewContextRequest{UserID: user, View: view})
		return err
	})
}

func (n *Notifier) setHome(f func(ctx context.Context, user string) (handlers.Home, error)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.home = f
}
