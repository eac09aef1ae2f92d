package bot_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"go.uber.org/zap"

	"github.com/clonebot/clonebot/approvals"
	"github.com/clonebot/clonebot/bot"
	"github.com/clonebot/clonebot/bot/slackfake"
	"github.com/clonebot/clonebot/handlers"
	"github.com/clonebot/clonebot/internal/fakes"
	"github.com/clonebot/clonebot/internal/testenv"
	"github.com/clonebot/clonebot/redisstore"
)

// notifierEnv is a Notifier on the offline Slack and a real store.
type notifierEnv struct {
	t     *testing.T
	ctx   context.Context
	fake  *slackfake.Server
	clock *fakes.Clock
	store *redisstore.Store
}

func newNotifierEnv(t *testing.T) *notifierEnv {
	t.Helper()
	fake := slackfake.New()
	t.Cleanup(fake.Close)
	rdb, prefix := testenv.Redis(t)
	clock := fakes.NewClock(t0)
	return &notifierEnv{t: t, ctx: context.Background(), fake: fake, clock: clock,
		store: redisstore.New(rdb, prefix, redisstore.WithClock(clock.Now))}
}

// notifier returns a replica's Notifier, named owner, on the env's Slack and store.
func (e *notifierEnv) notifier(owner string) *bot.Notifier {
	e.t.Helper()
	api := slack.New(botToken, slack.OptionAPIURL(e.fake.APIURL()))
	n, err := bot.NewNotifier(bot.Config{}, bot.DefaultNotifierConfig(owner), bot.NotifierDeps{
		Slack: api, Directory: bot.NewDirectory(api, bot.Config{}, e.clock), Policy: fakes.Policy(), Mailbox: e.store,
		Home:   func(context.Context, string) (handlers.Home, error) { return handlers.Home{}, nil },
		Logger: zap.NewNop(), Clock: e.clock,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// request stores a request in status, as the use cases would (its card notice included).
func (e *notifierEnv) request(status approvals.Status, edit ...func(*approvals.Request)) *approvals.Request {
	e.t.Helper()
	r := &approvals.Request{ID: approvals.NewID(), Requester: "UDEV", Source: "prod", Tier: "dev", Channel: "CREQ",
		Status: status, CreatedAt: t0, PendingExpiresAt: t0.Add(time.Hour), TTL: time.Hour, MaxTTL: 24 * time.Hour}
	for _, f := range edit {
		f(r)
	}
	if err := e.store.Create(e.ctx, r, approvals.Limits{}); err != nil {
		e.t.Fatal(err)
	}
	return r
}

func (e *notifierEnv) announce(id string, say ...approvals.Notice) {
	e.t.Helper()
	if _, err := e.store.Announce(e.ctx, id, "", say...); err != nil {
		e.t.Fatal(err)
	}
}

func (e *notifierEnv) flush(n *bot.Notifier) {
	e.t.Helper()
	if err := n.Flush(e.ctx); err != nil {
		e.t.Fatal(err)
	}
}

// thread returns the messages under r's card, oldest first.
func (e *notifierEnv) thread(r *approvals.Request) []slackfake.Message {
	e.t.Helper()
	got, err := e.store.Get(e.ctx, r.ID)
	if err != nil || got.MessageTS == "" {
		e.t.Fatalf("%s has no card (%v)", r.ID, err)
	}
	var out []slackfake.Message
	for _, m := range e.fake.Messages() {
		if m.ThreadTS == got.MessageTS {
			out = append(out, m)
		}
	}
	return out
}

func TestNotifierThrottlesEachChannel(t *testing.T) {
	e := newNotifierEnv(t)
	n := e.notifier("bot-1")
	r := e.request(approvals.StatusApproved)
	for _, note := range []string{"one", "two", "three"} {
		e.announce(r.ID, approvals.Note("", note))
	}
	// Another channel has its own slots: no wait.
	e.announce(r.ID, approvals.Notice{Kind: approvals.NoticeAlert, By: "UADMIN", Text: "x"})
	e.flush(n)
	if want := []time.Duration{time.Second, time.Second, time.Second}; !slices.Equal(e.clock.Waits(), want) {
		t.Fatalf("waits %v, want %v (one write per second in CREQ, none for CSEC)", e.clock.Waits(), want)
	}
	if got := len(e.fake.CallsTo("chat.postMessage")); got != 5 {
		t.Fatalf("%d posts, want 5 (the card, three notes, the alert)", got)
	}
	if th := e.thread(r); len(th) != 3 || !strings.Contains(th[2].Text, "three") {
		t.Fatalf("thread %+v, want the three notes in order", th)
	}
}

func TestNotifierHonoursRetryAfter(t *testing.T) {
	e := newNotifierEnv(t)
	n := e.notifier("bot-1")
	e.fake.RateLimitNext("chat.postMessage", 2, 7*time.Second)
	r := e.request(approvals.StatusPending)
	e.flush(n)
	if want := []time.Duration{7 * time.Second, 7 * time.Second}; !slices.Equal(e.clock.Waits(), want) {
		t.Fatalf("waits %v, want %v", e.clock.Waits(), want)
	}
	if got := len(e.fake.CallsTo("chat.postMessage")); got != 3 {
		t.Fatalf("%d attempts, want 3", got)
	}
	if got, _ := e.store.Get(e.ctx, r.ID); got.MessageTS == "" {
		t.Fatal("the card's position was not recorded")
	}
}

// TestNotifierKeepsWhatSlackCannotTakeNow: while Slack answers with errors (rate limited past
// the retries, or down), the notices stay and are sent, in order, once Slack is back; a
// notice Slack refuses for good (a channel the bot is not in) is dropped, not retried forever.
func TestNotifierKeepsWhatSlackCannotTakeNow(t *testing.T) {
	e := newNotifierEnv(t)
	n := e.notifier("bot-1")
	r := e.request(approvals.StatusApproved)
	e.announce(r.ID, approvals.Note("", "first"), approvals.Note("", "second"))
	e.fake.ServerErrorNext("chat.postMessage", 1)
	if err := n.Flush(e.ctx); err == nil {
		t.Fatal("a flush with Slack down reported everything sent")
	}
	if due, _ := e.store.NoticesDue(e.ctx, 10); !slices.Equal(due, []string{r.ID}) {
		t.Fatalf("notices due %v, want %s's kept", due, r.ID)
	}
	e.clock.Advance(time.Minute) // past the retry's backoff
	e.flush(n)
	if th := e.thread(r); len(th) != 2 || !strings.Contains(th[0].Text, "first") || !strings.Contains(th[1].Text, "second") {
		t.Fatalf("thread %+v, want first then second", th)
	}

	// The card was deleted in Slack: chat.update answers message_not_found, for good.
	if err := e.store.SetMessage(e.ctx, r.ID, "CREQ", "1.000001"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Transition(e.ctx, approvals.TransitionInput{RequestID: r.ID, To: approvals.StatusProvisioning, At: t0}); err != nil {
		t.Fatal(err)
	}
	e.flush(n)
	if due, _ := e.store.NoticesDue(e.ctx, 10); len(due) != 0 {
		t.Fatalf("notices due %v after a permanent refusal, want none", due)
	}
}

// TestNotifierCoalesces: a backlog of changes to one request is one card, posted as the request
// now is, and one progress line showing the newest report.
func TestNotifierCoalesces(t *testing.T) {
	e := newNotifierEnv(t)
	n := e.notifier("bot-1")
	r := e.request(approvals.StatusApproved)
	for _, s := range []string{"creating the clone", "instance available", "restoring users"} {
		e.announce(r.ID, approvals.Notice{Kind: approvals.NoticeProgress, Text: s})
	}
	for _, to := range []approvals.Status{approvals.StatusProvisioning, approvals.StatusRestoring} {
		if _, err := e.store.Transition(e.ctx, approvals.TransitionInput{RequestID: r.ID, To: to, At: t0}); err != nil {
			t.Fatal(err)
		}
	}
	e.flush(n)
	if posts, updates := len(e.fake.CallsTo("chat.postMessage")), len(e.fake.CallsTo("chat.update")); posts != 2 || updates != 0 {
		t.Fatalf("%d posts and %d updates; want the card (as the request now is) and one progress line posted, nothing edited", posts, updates)
	}
	th := e.thread(r)
	if len(th) != 1 || !strings.Contains(th[0].Text, "restoring users") {
		t.Fatalf("progress %+v, want one line with the newest report", th)
	}
	card, _ := e.fake.Message("CREQ", th[0].ThreadTS)
	if !strings.Contains(card.Text, "restoring") {
		t.Fatalf("card %q does not show the request as it is", card.Text)
	}
	// A later report edits the same line.
	e.announce(r.ID, approvals.Notice{Kind: approvals.NoticeProgress, Text: "verify"})
	e.flush(n)
	if th := e.thread(r); len(th) != 1 || th[0].Updates != 1 || !strings.Contains(th[0].Text, "verify") {
		t.Fatalf("progress %+v, want the line edited", th)
	}
}

// TestNotifierProgressSharedAcrossReplicas: a second replica (or a restarted one) continues
// the progress line the first one posted, through the position kept in Redis.
func TestNotifierProgressSharedAcrossReplicas(t *testing.T) {
	e := newNotifierEnv(t)
	a, b := e.notifier("bot-a"), e.notifier("bot-b")
	r := e.request(approvals.StatusApproved)
	e.announce(r.ID, approvals.Notice{Kind: approvals.NoticeProgress, Text: "provisioning"})
	e.flush(a)
	e.announce(r.ID, approvals.Notice{Kind: approvals.NoticeProgress, Text: "restoring users"})
	e.flush(b)
	if th := e.thread(r); len(th) != 1 || th[0].Updates != 1 || !strings.Contains(th[0].Text, "restoring users") {
		t.Fatalf("progress messages %+v, want the first replica's line edited by the second", th)
	}
}

// TestNotifierProgressNeverGoesBack: reports recorded out of order (two replicas handle an
// agent's reports; an agent that lost its job to another reports on) are shown newest first:
// the line never goes back to an earlier report, nor to an earlier attempt (issue 13).
func TestNotifierProgressNeverGoesBack(t *testing.T) {
	e := newNotifierEnv(t)
	n := e.notifier("bot-1")
	r := e.request(approvals.StatusApproved)
	report := func(attempt, sec int, text string) approvals.Notice {
		return approvals.Notice{Kind: approvals.NoticeProgress, Text: text, Attempt: attempt, At: t0.Add(time.Duration(sec) * time.Second)}
	}
	// One backlog: the newest report is attempt 2's at 20 s, whatever the order they came in.
	e.announce(r.ID, report(2, 20, "attempt 2 at 20s"), report(1, 30, "attempt 1 at 30s"), report(2, 10, "attempt 2 at 10s"))
	e.flush(n)
	th := e.thread(r)
	if len(th) != 1 || th[0].Text != ":gear: "+r.ID+": attempt 2 at 20s" {
		t.Fatalf("progress %+v, want one line with attempt 2's newest report", th)
	}
	// Later backlogs of older reports change nothing; a newer one, and clonebot's own line, do.
	for _, tt := range []struct {
		give    approvals.Notice
		updates int
		want    string
	}{
		{report(1, 40, "attempt 1 at 40s"), 0, "attempt 2 at 20s"},
		{report(2, 15, "attempt 2 at 15s"), 0, "attempt 2 at 20s"},
		{report(2, 25, "attempt 2 at 25s"), 1, "attempt 2 at 25s"},
		{approvals.Notice{Kind: approvals.NoticeProgress, Text: "restoring: waiting for a restore agent"}, 2, "restoring: waiting for a restore agent"},
		{report(1, 5, "a new job's attempt 1"), 3, "a new job's attempt 1"},
	} {
		e.announce(r.ID, tt.give)
		e.flush(n)
		if th := e.thread(r); len(th) != 1 || th[0].Updates != tt.updates || th[0].Text != ":gear: "+r.ID+": "+tt.want {
			t.Fatalf("after %q: progress %+v, want %q after %d edits", tt.give.Text, th, tt.want, tt.updates)
		}
	}
}

// TestNotifierOneSenderPerRequest: while one replica holds a request's notices, another sends
// none of them, so the card is posted once and the thread stays in order.
func TestNotifierOneSenderPerRequest(t *testing.T) {
	e := newNotifierEnv(t)
	a, b := e.notifier("bot-a"), e.notifier("bot-b")
	r := e.request(approvals.StatusPending)
	if _, err := e.store.TakeNotices(e.ctx, r.ID, "bot-a", time.Minute, 10); err != nil { // bot-a is at work on them
		t.Fatal(err)
	}
	if err := b.Flush(e.ctx); err == nil {
		t.Fatal("bot-b sent notices bot-a holds")
	}
	if n := len(e.fake.CallsTo("chat.postMessage")); n != 0 {
		t.Fatalf("%d posts by bot-b", n)
	}
	e.flush(a)
	if n := len(e.fake.CallsTo("chat.postMessage")); n != 1 {
		t.Fatalf("%d posts, want the one card", n)
	}
}

// TestCardChangeRefreshesApproversHomes: the people who may decide a pending request see it
// in their App Home as soon as it is posted, and see it gone once it is decided.
func TestCardChangeRefreshesApproversHomes(t *testing.T) {
	e := newNotifierEnv(t)
	n := e.notifier("bot-1")
	e.fake.AddUserGroup("S1", "leads", "ULEAD1", "ULEAD2", "UDEV")
	r := e.request(approvals.StatusPending, func(r *approvals.Request) {
		r.Tier, r.Mode = "staging", approvals.ModeSingle
		r.Slots = []approvals.Slot{{Name: "lead", Approvers: []approvals.Principal{"group:leads", "user:USEC"}}}
	})
	e.flush(n)
	var published []string
	for _, c := range e.fake.CallsTo("views.publish") {
		published = append(published, c.Param("user_id"))
	}
	slices.Sort(published)
	if want := []string{"UDEV", "ULEAD1", "ULEAD2", "USEC"}; !slices.Equal(published, want) {
		t.Fatalf("app homes published for %v, want %v (the requester and the approvers)", published, want)
	}
	for _, to := range []approvals.Status{approvals.StatusApproved, approvals.StatusProvisioning} {
		if _, err := e.store.Transition(e.ctx, approvals.TransitionInput{RequestID: r.ID, To: to, At: t0}); err != nil {
			t.Fatal(err)
		}
		e.flush(n)
	}
	if got := len(e.fake.CallsTo("views.publish")); got != 4+4+1 {
		t.Fatalf("%d publishes; want the approvers' homes again once decided, then only the requester's", got)
	}
}

func TestDirectoryCachesAndRefreshes(t *testing.T) {
	fake := slackfake.New()
	t.Cleanup(fake.Close)
	fake.AddUser(slack.User{ID: "UDEV", Name: "dana"})
	fake.AddUserGroup("S1", "developers", "UDEV")
	fake.AddUserGroup("S2", "team-payments", "UDEV")
	fake.AddChannel("CINC", "inc-42")
	clock := fakes.NewClock(t0)
	api := slack.New(botToken, slack.OptionAPIURL(fake.APIURL()))
	d := bot.NewDirectory(api, bot.Config{DirectoryRefresh: time.Minute}, clock)
	ctx := context.Background()

	u, err := d.User(ctx, "UDEV")
	if err != nil || u.Name != "dana" || u.Team != "payments" || !slices.Equal(u.Groups, []string{"developers", "team-payments"}) {
		t.Fatalf("user %+v, %v", u, err)
	}
	fake.AddUserGroup("S3", "leads", "UDEV")
	if u, _ := d.User(ctx, "UDEV"); slices.Contains(u.Groups, "leads") {
		t.Fatal("groups reloaded before the refresh interval")
	}
	if n := len(fake.CallsTo("usergroups.list")); n != 1 {
		t.Fatalf("usergroups.list called %d times within the interval", n)
	}
	clock.Advance(time.Minute)
	if u, _ := d.User(ctx, "UDEV"); !slices.Contains(u.Groups, "leads") {
		t.Fatalf("groups not refreshed after the interval: %v", u.Groups)
	}
	if name, err := d.ChannelName(ctx, "CINC"); err != nil || name != "inc-42" {
		t.Fatalf("channel %q, %v", name, err)
	}
	if _, err := d.User(ctx, "UNOBODY"); err == nil {
		t.Fatal("an unknown user has no error")
	}
}

// TestPendingReminderMentionsOpenSlots: a reminder mentions the approvers one more approval
// could come from: the open slot's, and, when slots share a group, those of a filled slot
// whose holder could move to the open one (issue 14).
func TestPendingReminderMentionsOpenSlots(t *testing.T) {
	tests := []struct {
		name        string
		slots       []approvals.Slot
		first       approvals.VoteInput // the approval before the reminder
		want, never string
	}{
		{name: "disjoint slots", slots: []approvals.Slot{
			{Name: "on-call peer", Approvers: []approvals.Principal{"group:oncall"}},
			{Name: "security", Approvers: []approvals.Principal{"group:security", "user:UBOSS", "group:gone"}},
		}, first: approvals.VoteInput{Voter: "UPEER", Groups: []string{"oncall"}},
			want: "<!subteam^S0SEC> <@UBOSS>", never: "S0ONCALL"},
		{name: "slots sharing leads, a lead first", slots: []approvals.Slot{
			{Name: "on-call or lead", Approvers: []approvals.Principal{"group:oncall", "group:leads"}},
			{Name: "lead or security", Approvers: []approvals.Principal{"group:leads", "group:security"}},
		}, first: approvals.VoteInput{Voter: "ULEAD", Groups: []string{"leads"}},
			want: "<!subteam^S0ONCALL> <!subteam^S0LEADS> <!subteam^S0SEC>"},
		{name: "slots sharing leads, on-call first", slots: []approvals.Slot{
			{Name: "on-call or lead", Approvers: []approvals.Principal{"group:oncall", "group:leads"}},
			{Name: "lead or security", Approvers: []approvals.Principal{"group:leads", "group:security"}},
		}, first: approvals.VoteInput{Voter: "UPEER", Groups: []string{"oncall"}},
			want: "<!subteam^S0LEADS> <!subteam^S0SEC>", never: "S0ONCALL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newNotifierEnv(t)
			n := e.notifier("bot-1")
			e.fake.AddUserGroup("S0ONCALL", "oncall", "UPEER")
			e.fake.AddUserGroup("S0SEC", "security", "USEC")
			e.fake.AddUserGroup("S0LEADS", "leads", "ULEAD")
			r := e.request(approvals.StatusPending, func(r *approvals.Request) {
				r.Tier, r.Mode, r.Slots = "debug", approvals.ModeDual, tt.slots
			})
			v := tt.first
			v.RequestID, v.Decision, v.At = r.ID, approvals.DecisionApprove, t0
			if _, err := e.store.Vote(e.ctx, v); err != nil {
				t.Fatal(err)
			}
			e.announce(r.ID, approvals.Notice{Kind: approvals.NoticeReminder})
			e.flush(n)
			posts := e.fake.CallsTo("chat.postMessage")
			text := posts[len(posts)-1].Param("text")
			if !strings.HasSuffix(text, " "+tt.want) || (tt.never != "" && strings.Contains(text, tt.never)) {
				t.Fatalf("reminder %q: want it to end with %q (once each)", text, tt.want)
			}
		})
	}
}

// TestGoldenNoticeGoesToTheRequestChannel: what the lifecycle says of a golden copy (built or
// failed) is posted to the request channel, escaped, though no request has its id.
func TestGoldenNoticeGoesToTheRequestChannel(t *testing.T) {
	e := newNotifierEnv(t)
	id := approvals.NewGoldenID()
	e.announce(id, approvals.Notice{Kind: approvals.NoticeGolden, Text: "Golden copy prod/full (generation 2, " + id + ") failed: <!channel> gate hit."})
	e.flush(e.notifier("bot-1"))
	msgs := e.fake.Messages()
	if len(msgs) != 1 || msgs[0].Channel != "CREQ" || msgs[0].ThreadTS != "" || !strings.Contains(msgs[0].Text, "Golden copy prod/full (generation 2") ||
		strings.Contains(msgs[0].Text, "<!channel>") {
		t.Fatalf("messages %+v, want one escaped post in CREQ", msgs)
	}
}
