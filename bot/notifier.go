package bot

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/slack-go/slack"
	"go.uber.org/zap"

	"github.com/clonebot/clonebot/approvals"
	"github.com/clonebot/clonebot/bot/render"
	"github.com/clonebot/clonebot/handlers"
	"github.com/clonebot/clonebot/internal/clock"
)

// Mailbox is where the notices of every request wait to be sent, and what the Notifier needs
// of the request store to render them (redisstore.Store).
type Mailbox interface {
	// NoticesDue returns up to limit ids of requests with notices to send, oldest first.
	NoticesDue(ctx context.Context, limit int) ([]string, error)
	// TakeNotices takes (or renews) owner's lease on a request's notices and returns up to max
	// of them, oldest first. approvals.ErrLeaseHeld if another sender holds them.
	TakeNotices(ctx context.Context, id, owner string, ttl time.Duration, max int) ([]approvals.Notice, error)
	// AckNotices drops the first n, once sent, gives the lease up with release, and says how
	// many are left. approvals.ErrLeaseHeld if owner lost the lease.
	AckNotices(ctx context.Context, id, owner string, n int, release bool) (int, error)
	// Get returns a request. approvals.ErrNotFound.
	Get(ctx context.Context, id string) (*approvals.Request, error)
	// SetMessage records where a request's card is.
	SetMessage(ctx context.Context, id, channel, ts string) error
	// ProgressLine returns where a request's progress line is ("" before it is posted) and
	// the progress notice it shows; SetProgressLine records them.
	ProgressLine(ctx context.Context, id string) (ts string, shown approvals.Notice, err error)
	SetProgressLine(ctx context.Context, id, ts string, shown approvals.Notice) error
	// SetReviewMessage records where a break-glass clone's review task is.
	SetReviewMessage(ctx context.Context, id, ts string) error
}

// HomeFunc gathers a person's App Home (handlers.Service.Home).
type HomeFunc func(ctx context.Context, user string) (handlers.Home, error)

// NotifierConfig tunes delivery.
type NotifierConfig struct {
	Owner    string        // this replica's name: the lease owner of the notices it sends
	Poll     time.Duration // how often Run looks for notices to send
	Lease    time.Duration // how long one sender holds a request's notices without renewing
	Batch    int           // notices taken at once from one request
	Workers  int           // requests whose notices are sent at once
	MaxRetry time.Duration // the longest wait before a request whose send failed is tried again
}

// DefaultNotifierConfig returns the defaults for replica owner.
func DefaultNotifierConfig(owner string) NotifierConfig {
	return NotifierConfig{Owner: owner, Poll: 250 * time.Millisecond, Lease: 30 * time.Second, Batch: 50, Workers: 8, MaxRetry: time.Minute}
}

// Notifier delivers the notices the use cases and the lifecycle record with their changes: a
// request's card (posted once, then edited in place), its thread (timeline notes, the one
// progress line, the ready message, warnings, reminders), DMs, security alerts and App Homes.
// It renders each from the request as it is when sent, so updates of one message never go
// backwards, and coalesces what a backlog made stale: several card changes become one edit,
// several progress reports the newest. The notices of one request are sent by one replica at
// a time, in order (a lease in the store), which is also what makes the card exactly one.
//
// Every message write to a channel waits for that channel's next slot (at most one per
// Config.ChannelInterval, Slack's ~1/s), and a 429 answer pushes the channel's slot back by
// its Retry-After and is retried. None of this ever delays a state change: the store already
// holds it. A notice is dropped only once sent or refused by Slack for good; one that could
// not be sent (Slack unreachable, this process stopping) stays and is sent later, by this
// replica or another. Safe for concurrent use.
type Notifier struct {
	cfg      NotifierConfig
	api      *slack.Client
	dir      *Directory
	policy   *approvals.Policy
	box      Mailbox
	home     HomeFunc
	log      *zap.Logger
	clock    clock.Clock
	interval time.Duration
	retries  int
	apiErrs  *prometheus.CounterVec // by method and kind (rate_limited, error)

	mu      sync.Mutex
	next    map[string]time.Time // channel → earliest time of its next write
	busy    map[string]bool      // requests whose notices a worker of this process is sending
	backoff map[string]retry     // requests whose last send failed → when to try again
	wake    chan struct{}
}

type retry struct {
	at   time.Time
	wait time.Duration
}

// NotifierDeps are what a Notifier needs; all are required.
type NotifierDeps struct {
	Slack     *slack.Client
	Directory *Directory
	Policy    *approvals.Policy
	Mailbox   Mailbox
	Home      HomeFunc
	Logger    *zap.Logger
	Clock     clock.Clock
	Metrics   prometheus.Registerer // optional: Slack API errors and rate limits by method
}

// NewNotifier returns a Notifier.
func NewNotifier(cfg Config, ncfg NotifierConfig, d NotifierDeps) (*Notifier, error) {
	cfg.applyDefaults()
	switch {
	case d.Slack == nil || d.Directory == nil || d.Policy == nil || d.Mailbox == nil || d.Home == nil || d.Logger == nil || d.Clock == nil:
		return nil, errors.New("bot: the Notifier needs Slack, Directory, Policy, Mailbox, Home, Logger and clock.Clock")
	case ncfg.Owner == "" || ncfg.Poll <= 0 || ncfg.Lease <= 0 || ncfg.Batch <= 0 || ncfg.Workers <= 0 || ncfg.MaxRetry <= 0:
		return nil, fmt.Errorf("bot: notifier config %+v: an owner and positive settings are required", ncfg)
	}
	n := &Notifier{cfg: ncfg, api: d.Slack, dir: d.Directory, policy: d.Policy, box: d.Mailbox, home: d.Home,
		log: d.Logger, clock: d.Clock, interval: cfg.ChannelInterval, retries: cfg.RateLimitRetries,
		next: map[string]time.Time{}, busy: map[string]bool{}, backoff: map[string]retry{}, wake: make(chan struct{}, 1),
		apiErrs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "clonebot_slack_api_errors_total",
			Help: "Slack Web API calls of the notifier that failed, by method and kind (rate_limited: a 429, retried after Retry-After; error: anything else)."},
			[]string{"method", "kind"})}
	if d.Metrics != nil {
		if err := d.Metrics.Register(n.apiErrs); err != nil {
			return nil, fmt.Errorf("bot: register metrics: %w", err)
		}
	}
	return n, nil
}

// Wake makes Run look for notices now rather than at its next poll (the use cases of this
// process just recorded some).
func (n *Notifier) Wake() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// Run sends notices until ctx ends, then waits for the sends under way (each gives up its
// current Slack call when ctx ends; what it had not acknowledged is sent again later).
func (n *Notifier) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	sem := make(chan struct{}, n.cfg.Workers)
	t := time.NewTicker(n.cfg.Poll)
	defer t.Stop()
	for {
		ids, err := n.box.NoticesDue(ctx, 4*n.cfg.Workers)
		if err != nil && ctx.Err() == nil {
			n.log.Warn("notices not read", zap.Error(err))
		}
		for _, id := range ids {
			if !n.claim(id) {
				continue
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				n.unclaim(id)
				return nil
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				defer n.unclaim(id)
				n.deliver(ctx, id)
			}()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-n.wake:
		}
	}
}

// Flush sends every notice recorded so far, one request after another, and returns when none
// is left (or one could not be sent). Tests and the demo use it to see what Slack shows after a
// step.
func (n *Notifier) Flush(ctx context.Context) error {
	for range 1000 { // bounded: each round sends at least one request's notices or stops
		ids, err := n.box.NoticesDue(ctx, 100)
		if err != nil || len(ids) == 0 {
			return err
		}
		progress := false
		for _, id := range ids {
			if n.claim(id) {
				progress = n.deliver(ctx, id) || progress
				n.unclaim(id)
			}
		}
		if !progress {
			return fmt.Errorf("notices of %d request(s) could not be sent (see the log)", len(ids))
		}
	}
	return errors.New("notices keep coming; flush gave up")
}

// claim marks id as being sent by this process, unless it already is or its retry is not due.
func (n *Notifier) claim(id string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.busy[id] || n.clock.Now().Before(n.backoff[id].at) {
		return false
	}
	n.busy[id] = true
	return true
}

func (n *Notifier) unclaim(id string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.busy, id)
}

// failed schedules the next try of request id, waiting twice as long as the last time.
func (n *Notifier) failed(id string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	w := min(max(2*n.backoff[id].wait, time.Second), n.cfg.MaxRetry)
	n.backoff[id] = retry{at: n.clock.Now().Add(w), wait: w}
}

// deliver sends request id's notices until none is left, another replica holds them, one
// cannot be sent now, or stop ends. A notice whose send has begun is finished and acknowledged
// even when stop ends meanwhile (the process is shutting down), so what Slack took is not sent
// twice; the calls are bounded by the lease instead.
func (n *Notifier) deliver(stop context.Context, id string) bool {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(stop), n.cfg.Lease)
	defer cancel()
	log := n.log.With(zap.String("request_id", id))
	did := false
	for stop.Err() == nil {
		notices, err := n.box.TakeNotices(ctx, id, n.cfg.Owner, n.cfg.Lease, n.cfg.Batch)
		if errors.Is(err, approvals.ErrLeaseHeld) {
			return did
		}
		if err != nil {
			log.Warn("notices not taken", zap.Error(err))
			return did
		}
		r, err := n.box.Get(ctx, id)
		if errors.Is(err, approvals.ErrNotFound) {
			r = nil // notices about no request (the kill switch's), or of one that is gone
		} else if err != nil {
			log.Warn("request of the notices not read", zap.Error(err))
			n.release(ctx, id, 0)
			return did
		}
		sent, err := n.batch(ctx, stop, r, notices)
		did = did || sent > 0
		if err != nil {
			log.Warn("notice not sent; it is tried again later", zap.Int("sent", sent), zap.Error(err))
			n.failed(id)
			n.release(ctx, id, sent)
			return did
		}
		left, err := n.box.AckNotices(ctx, id, n.cfg.Owner, sent, true)
		if err != nil {
			log.Warn("sent notices not acknowledged", zap.Error(err))
			return did
		}
		n.mu.Lock()
		delete(n.backoff, id)
		n.mu.Unlock()
		if left == 0 {
			return did
		}
	}
	return did
}

// release acknowledges the first sent notices and gives the lease up.
func (n *Notifier) release(ctx context.Context, id string, sent int) {
	if _, err := n.box.AckNotices(context.WithoutCancel(ctx), id, n.cfg.Owner, sent, true); err != nil {
		n.log.Warn("notices not released", zap.String("request_id", id), zap.Error(err))
	}
}

// batch sends notices about r (nil: no request) in order and returns how many of them, from
// the first, are done with: sent, made stale by a later one, or refused by Slack for good. It
// stops at the first that could not be sent now, or before the next one once stop has ended.
func (n *Notifier) batch(ctx, stop context.Context, r *approvals.Request, notices []approvals.Notice) (int, error) {
	lastCard, newest := -1, -1 // the last card notice; the newest progress report
	for i, no := range notices {
		switch no.Kind {
		case approvals.NoticeCard:
			lastCard = i
		case approvals.NoticeProgress:
			if newest < 0 || !no.Stale(notices[newest]) {
				newest = i
			}
		}
	}
	homes, posted := false, false
	for i, no := range notices {
		if err := stop.Err(); err != nil {
			return i, err
		}
		var err error
		switch no.Kind {
		case approvals.NoticeCard:
			// The first card notice posts the card if there is none, so the thread has a
			// parent; the last one shows the request as it is now. Those between are stale.
			if r == nil || posted || (r.MessageTS != "" && i != lastCard) {
				continue
			}
			posted = r.MessageTS == ""
			err = n.card(ctx, r)
			homes = true
		case approvals.NoticeProgress:
			if r == nil || i != newest {
				continue // stale: the line shows the newest report
			}
			err = n.progress(ctx, r, no)
		default:
			err = n.send(ctx, r, no)
		}
		if err != nil && !permanent(err) {
			return i, err
		}
		if err != nil {
			n.log.Warn("notice refused by Slack; dropped", zap.String("kind", string(no.Kind)), zap.Error(err))
		}
	}
	if homes {
		n.homes(ctx, r)
	}
	return len(notices), nil
}

// permanent reports whether Slack refused a call for good (an unknown channel, a bot not in
// it, a message gone): trying again cannot help, so the notice is dropped.
func permanent(err error) bool {
	var se slack.SlackErrorResponse
	var sc slack.StatusCodeError
	switch {
	case errors.As(err, &se):
		return true
	case errors.As(err, &sc):
		return sc.Code >= 400 && sc.Code < 500 && sc.Code != 429
	}
	return false
}

// send sends one notice that is neither the card nor the progress line.
func (n *Notifier) send(ctx context.Context, r *approvals.Request, no approvals.Notice) error {
	if r == nil && no.Kind != approvals.NoticeAlert && no.Kind != approvals.NoticeDM && no.Kind != approvals.NoticeGolden {
		return nil // about a request that is gone: nothing to show it under
	}
	switch no.Kind {
	case approvals.NoticeNote:
		return n.inThread(ctx, r, render.Note(no.By, no.Text, no.At))
	case approvals.NoticeVote:
		return n.inThread(ctx, r, render.Vote(r, no))
	case approvals.NoticeReady:
		if err := n.inThread(ctx, r, render.Ready(r)); err != nil {
			return err
		}
		_, _, err := n.post(ctx, r.Requester, render.Ready(r))
		return err
	case approvals.NoticeTTLWarning:
		if r.Status != approvals.StatusReady {
			return nil // destroyed or extended past it meanwhile
		}
		return n.inThread(ctx, r, render.TTLWarning(r, r.TimeLeft(n.clock.Now())))
	case approvals.NoticeReminder:
		if r.Status != approvals.StatusPending {
			return nil // decided meanwhile
		}
		return n.reminder(ctx, r)
	case approvals.NoticeAlert:
		if n.policy.SecurityChannel == "" {
			return errNoSecurityChannel
		}
		_, _, err := n.post(ctx, n.policy.SecurityChannel, render.SecurityAlert(no.By, no.Text, r))
		return err
	case approvals.NoticeDM:
		_, _, err := n.post(ctx, no.To, render.Message{Text: render.Escape(no.Text)})
		return err
	case approvals.NoticeGolden: // about a golden copy, not a request
		if n.policy.RequestChannel == "" {
			return errNoRequestChannel
		}
		_, _, err := n.post(ctx, n.policy.RequestChannel, render.Message{Text: render.Escape(no.Text)})
		return err
	case approvals.NoticeReviewTask, approvals.NoticeReviewDue, approvals.NoticeReviewed:
		return n.review(ctx, r, no)
	}
	n.log.Warn("notice of an unknown kind dropped", zap.String("kind", string(no.Kind)))
	return nil
}

// review posts a break-glass clone's review task to the security channel, reminds of it in its
// thread, or, once reviewed, shows the review on the task.
func (n *Notifier) review(ctx context.Context, r *approvals.Request, no approvals.Notice) error {
	ch := n.policy.SecurityChannel
	if ch == "" {
		return errNoSecurityChannel
	}
	switch {
	case no.Kind == approvals.NoticeReviewTask && r.ReviewMessageTS == "":
		_, ts, err := n.post(ctx, ch, render.ReviewTask(r, n.clock.Now()))
		if err != nil {
			return err
		}
		r.ReviewMessageTS = ts
		return n.box.SetReviewMessage(ctx, r.ID, ts)
	case no.Kind == approvals.NoticeReviewDue:
		if !r.NeedsReview() {
			return nil // reviewed meanwhile
		}
		var opts []slack.MsgOption
		if r.ReviewMessageTS != "" {
			opts = append(opts, slack.MsgOptionTS(r.ReviewMessageTS), slack.MsgOptionBroadcast())
		}
		_, _, err := n.post(ctx, ch, render.ReviewDue(r), opts...)
		return err
	case no.Kind == approvals.NoticeReviewed && r.ReviewMessageTS != "":
		return n.update(ctx, ch, r.ReviewMessageTS, render.ReviewTask(r, n.clock.Now()))
	}
	return nil
}

// errNoRequestChannel is permanent: a policy without a request channel hears nothing of its
// golden copies (they are in /clone golden and the audit log all the same).
var errNoRequestChannel = slack.SlackErrorResponse{Err: "the policy names no request_channel"}

// errNoSecurityChannel is permanent: a policy without a security channel cannot be alerted.
var errNoSecurityChannel = slack.SlackErrorResponse{Err: "the policy names no security_channel"}

// card posts r's card, or re-renders it in place, and records where a new one is.
func (n *Notifier) card(ctx context.Context, r *approvals.Request) error {
	card := render.Card(r, n.clock.Now())
	if r.MessageTS != "" {
		return n.update(ctx, r.Channel, r.MessageTS, card)
	}
	ch, ts, err := n.post(ctx, r.Channel, card)
	if err != nil {
		return err
	}
	// Recorded before anything else is sent: were it lost, the card would be posted again.
	if err := n.box.SetMessage(ctx, r.ID, ch, ts); err != nil {
		return fmt.Errorf("record the card of %s: %w", r.ID, err)
	}
	r.Channel, r.MessageTS = ch, ts
	return nil
}

// progress sets r's one progress line in its thread to say no: posted the first time, edited
// after, unless the line already shows a later report (approvals.Notice.Stale).
func (n *Notifier) progress(ctx context.Context, r *approvals.Request, no approvals.Notice) error {
	ts, shown, err := n.box.ProgressLine(ctx, r.ID)
	if err != nil {
		return err
	}
	if no.Stale(shown) {
		return nil // the line shows a later report: never go back, nor to another attempt's counts
	}
	m := render.Progress(r, no.Text)
	if ts != "" {
		if err := n.update(ctx, r.Channel, ts, m); err != nil {
			return err
		}
		return n.box.SetProgressLine(ctx, r.ID, ts, no)
	}
	var opts []slack.MsgOption
	if r.MessageTS != "" {
		opts = append(opts, slack.MsgOptionTS(r.MessageTS))
	}
	_, ts, err = n.post(ctx, r.Channel, m, opts...)
	if err != nil {
		return err
	}
	return n.box.SetProgressLine(ctx, r.ID, ts, no)
}

// reminder reminds the approvers r still needs (those of the slots one more approval could
// fill, approvals.NeededSlots), in its thread, that it expires soon; user groups are
// mentioned by ID so their members are notified.
func (n *Notifier) reminder(ctx context.Context, r *approvals.Request) error {
	var mentions []string
	for _, i := range r.NeededSlots() {
		for _, p := range r.Slots[i].Approvers {
			var mention string
			kind, name, _ := strings.Cut(string(p), ":")
			switch kind {
			case "user":
				mention = "<@" + name + ">"
			case "group":
				id, ok, err := n.dir.GroupID(ctx, name)
				if err != nil {
					return err
				}
				if ok {
					mention = "<!subteam^" + id + ">"
				}
			}
			if mention != "" && !slices.Contains(mentions, mention) { // a group may be in two slots
				mentions = append(mentions, mention)
			}
		}
	}
	return n.inThread(ctx, r, render.PendingReminder(r, r.PendingExpiresAt.Sub(n.clock.Now()), mentions))
}

// inThread posts m under r's card (or, without a card, in its channel).
func (n *Notifier) inThread(ctx context.Context, r *approvals.Request, m render.Message) error {
	var opts []slack.MsgOption
	if r.MessageTS != "" {
		opts = append(opts, slack.MsgOptionTS(r.MessageTS))
	}
	_, _, err := n.post(ctx, r.Channel, m, opts...)
	return err
}

// maxApproverHomes bounds the App Home tabs re-published for one change of a request, within
// Slack's views.publish rate limit.
const maxApproverHomes = 50

// homes re-publishes the App Home of everyone whose home shows r: its requester and voters and,
// while it is pending or has just been decided, everyone who may decide it. Failures are logged.
func (n *Notifier) homes(ctx context.Context, r *approvals.Request) {
	users := []string{r.Requester}
	for _, v := range r.Votes {
		users = append(users, v.User)
	}
	switch r.Status {
	case approvals.StatusPending, approvals.StatusApproved, approvals.StatusDenied, approvals.StatusExpired, approvals.StatusCancelled:
		approvers, err := n.approvers(ctx, r)
		if err != nil {
			n.log.Warn("approvers' app homes not refreshed", zap.String("request_id", r.ID), zap.Error(err))
		}
		if len(approvers) > maxApproverHomes {
			n.log.Info("refreshing only some approvers' app homes", zap.String("request_id", r.ID), zap.Int("approvers", len(approvers)))
			approvers = approvers[:maxApproverHomes]
		}
		users = append(users, approvers...)
	}
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

// approvers returns the people r's slots name, directly or through their groups.
func (n *Notifier) approvers(ctx context.Context, r *approvals.Request) ([]string, error) {
	var out []string
	for _, sl := range r.Slots {
		for _, p := range sl.Approvers {
			kind, name, _ := strings.Cut(string(p), ":")
			switch kind {
			case "user":
				out = append(out, name)
			case "group":
				members, err := n.dir.Members(ctx, name)
				if err != nil {
					return out, err
				}
				out = append(out, members...)
			}
		}
	}
	return out, nil
}

// PublishHome renders and publishes one person's App Home.
func (n *Notifier) PublishHome(ctx context.Context, user string) error {
	h, err := n.home(ctx, user)
	if err != nil {
		return err
	}
	view := render.Home(h, n.clock.Now())
	return n.write(ctx, "home:"+user, "views.publish", func() error {
		_, err := n.api.PublishViewContext(ctx, slack.PublishViewContextRequest{UserID: user, View: view})
		return err
	})
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

// write runs a Web API write (method) to channel in its slot, retrying rate-limited answers.
func (n *Notifier) write(ctx context.Context, channel, method string, call func() error) error {
	for attempt := 0; ; attempt++ {
		if err := n.slot(ctx, channel); err != nil {
			return err
		}
		err := call()
		var rl *slack.RateLimitedError
		if errors.As(err, &rl) {
			n.apiErrs.WithLabelValues(method, "rate_limited").Inc()
		} else if err != nil {
			n.apiErrs.WithLabelValues(method, "error").Inc()
		}
		if !errors.As(err, &rl) || attempt >= n.retries {
			return err
		}
		n.log.Info("slack rate limit, retrying", zap.String("channel", channel), zap.Duration("retry_after", rl.RetryAfter))
		n.backOff(channel, rl.RetryAfter)
	}
}

func (n *Notifier) post(ctx context.Context, channel string, m render.Message, opts ...slack.MsgOption) (string, string, error) {
	var ch, ts string
	err := n.write(ctx, channel, "chat.postMessage", func() error {
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
	err := n.write(ctx, channel, "chat.update", func() error {
		_, _, _, err := n.api.UpdateMessageContext(ctx, channel, ts, m.Options()...)
		return err
	})
	if err != nil {
		return fmt.Errorf("chat.update %s/%s: %w", channel, ts, err)
	}
	return nil
}
