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
	"github.com/clonebot/clonebot/internal/testenv"
)

func newNotifier(t *testing.T) (*bot.Notifier, *slackfake.Server, *fakeClock) {
	t.Helper()
	fake := slackfake.New()
	t.Cleanup(fake.Close)
	clock := &fakeClock{now: t0}
	p, err := approvals.ParsePolicy([]byte(e2ePolicy))
	if err != nil {
		t.Fatal(err)
	}
	api := slack.New(botToken, slack.OptionAPIURL(fake.APIURL()))
	return bot.NewNotifier(api, p, bot.Config{}, zap.NewNop(), clock), fake, clock
}

func cardOf(t *testing.T, n *bot.Notifier) *approvals.Request {
	t.Helper()
	r := &approvals.Request{ID: "cl-7f3k2q", Requester: "UDEV", Source: "prod", Tier: "dev", Channel: "CREQ", Status: approvals.StatusApproved, CreatedAt: t0}
	ch, ts, err := n.CardChanged(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	r.Channel, r.MessageTS = ch, ts
	return r
}

func TestNotifierThrottlesEachChannel(t *testing.T) {
	n, fake, clock := newNotifier(t)
	ctx := context.Background()
	r := cardOf(t, n)
	for _, note := range []string{"one", "two", "three"} {
		if err := n.ThreadNote(ctx, r, handlers.Note{Text: note}); err != nil {
			t.Fatal(err)
		}
	}
	// Another channel has its own slots: no wait.
	if err := n.SecurityAlert(ctx, handlers.Alert{By: "UADMIN", Text: "x"}); err != nil {
		t.Fatal(err)
	}
	if want := []time.Duration{time.Second, time.Second, time.Second}; !slices.Equal(clock.waits, want) {
		t.Fatalf("waits %v, want %v (one write per second in CREQ, none for CSEC)", clock.waits, want)
	}
	if got := len(fake.CallsTo("chat.postMessage")); got != 5 {
		t.Fatalf("%d posts, want 5", got)
	}
}

func TestNotifierHonoursRetryAfter(t *testing.T) {
	n, fake, clock := newNotifier(t)
	fake.RateLimitNext("chat.postMessage", 2, 7*time.Second)
	r := &approvals.Request{ID: "cl-7f3k2q", Requester: "UDEV", Channel: "CREQ", Status: approvals.StatusPending, CreatedAt: t0}
	_, ts, err := n.CardChanged(context.Background(), r)
	if err != nil || ts == "" {
		t.Fatalf("card after two 429s: %q, %v", ts, err)
	}
	if want := []time.Duration{7 * time.Second, 7 * time.Second}; !slices.Equal(clock.waits, want) {
		t.Fatalf("waits %v, want %v", clock.waits, want)
	}
	if got := len(fake.CallsTo("chat.postMessage")); got != 3 {
		t.Fatalf("%d attempts, want 3", got)
	}

	fake.RateLimitNext("chat.update", 4, time.Second)
	r.MessageTS = ts
	if _, _, err := n.CardChanged(context.Background(), r); err == nil {
		t.Fatal("a write rate-limited past the retries succeeded")
	}
}

func TestNotifierProgressEditsOneMessage(t *testing.T) {
	n, fake, _ := newNotifier(t)
	ctx := context.Background()
	r := cardOf(t, n)
	for _, s := range []string{"cluster creating", "instance available", "restoring users"} {
		if err := n.Progress(ctx, r, s); err != nil {
			t.Fatal(err)
		}
	}
	posts := fake.CallsTo("chat.postMessage")
	if len(posts) != 2 || posts[1].Param("thread_ts") != r.MessageTS {
		t.Fatalf("%d posts (card + one progress line in the thread expected)", len(posts))
	}
	var progress []slackfake.Message
	for _, m := range fake.Messages() {
		if m.ThreadTS == r.MessageTS {
			progress = append(progress, m)
		}
	}
	if len(progress) != 1 || progress[0].Updates != 2 || !strings.Contains(progress[0].Text, "restoring users") {
		t.Fatalf("progress messages %+v, want one edited twice showing the newest status", progress)
	}
}

// TestNotifierProgressSharedAcrossReplicas: a second replica (or a restarted one) continues
// the progress line the first one posted, through the positions shared in Redis.
func TestNotifierProgressSharedAcrossReplicas(t *testing.T) {
	fake := slackfake.New()
	t.Cleanup(fake.Close)
	p, err := approvals.ParsePolicy([]byte(e2ePolicy))
	if err != nil {
		t.Fatal(err)
	}
	rdb, prefix := testenv.Redis(t)
	refs := bot.NewRedisProgressRefs(rdb, prefix, time.Hour)
	replica := func() *bot.Notifier {
		api := slack.New(botToken, slack.OptionAPIURL(fake.APIURL()))
		n := bot.NewNotifier(api, p, bot.Config{}, zap.NewNop(), &fakeClock{now: t0})
		n.ShareProgress(refs)
		return n
	}
	a, b := replica(), replica()
	ctx := context.Background()
	r := cardOf(t, a)
	if err := a.Progress(ctx, r, "provisioning"); err != nil {
		t.Fatal(err)
	}
	if err := b.Progress(ctx, r, "restoring users"); err != nil {
		t.Fatal(err)
	}
	var progress []slackfake.Message
	for _, m := range fake.Messages() {
		if m.ThreadTS == r.MessageTS {
			progress = append(progress, m)
		}
	}
	if len(progress) != 1 || progress[0].Updates != 1 || !strings.Contains(progress[0].Text, "restoring users") {
		t.Fatalf("progress messages %+v, want the first replica's line edited by the second", progress)
	}
	r.Status = approvals.StatusReady
	if _, _, err := b.CardChanged(ctx, r); err != nil {
		t.Fatal(err)
	}
	if ts, err := refs.Get(ctx, r.ID); err != nil || ts != "" {
		t.Fatalf("position kept after the request was ready: %q, %v", ts, err)
	}
}

// TestCardChangeRefreshesApproversHomes: the people who may decide a pending request see it
// in their App Home as soon as it is posted, and see it gone once it is decided.
func TestCardChangeRefreshesApproversHomes(t *testing.T) {
	n, fake, _ := newNotifier(t)
	fake.AddUserGroup("S1", "leads", "ULEAD1", "ULEAD2", "UDEV")
	n.SetHome(func(ctx context.Context, user string) (handlers.Home, error) { return handlers.Home{}, nil })
	ctx := context.Background()
	r := &approvals.Request{ID: "cl-7f3k2q", Requester: "UDEV", Source: "prod", Tier: "staging", Channel: "CREQ",
		Status: approvals.StatusPending, CreatedAt: t0, PendingExpiresAt: t0.Add(time.Hour),
		Slots: []approvals.Slot{{Name: "lead", Approvers: []approvals.Principal{"group:leads", "user:USEC"}}}}
	if _, _, err := n.CardChanged(ctx, r); err != nil {
		t.Fatal(err)
	}
	var published []string
	for _, c := range fake.CallsTo("views.publish") {
		published = append(published, c.Param("user_id"))
	}
	slices.Sort(published)
	if want := []string{"ULEAD1", "ULEAD2", "USEC"}; !slices.Equal(published, want) {
		t.Fatalf("app homes published for %v, want %v (approvers, not the requester)", published, want)
	}
	r.Status = approvals.StatusProvisioning
	if _, _, err := n.CardChanged(ctx, r); err != nil {
		t.Fatal(err)
	}
	if got := len(fake.CallsTo("views.publish")); got != 3 {
		t.Fatalf("%d publishes after a change approvers do not see, want still 3", got)
	}
}

func TestDirectoryCachesAndRefreshes(t *testing.T) {
	fake := slackfake.New()
	t.Cleanup(fake.Close)
	fake.AddUser(slack.User{ID: "UDEV", Name: "dana"})
	fake.AddUserGroup("S1", "developers", "UDEV")
	fake.AddUserGroup("S2", "team-payments", "UDEV")
	fake.AddChannel("CINC", "inc-42")
	clock := &fakeClock{now: t0}
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
	clock.After(time.Minute)
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

func TestPendingReminderMentionsOpenSlots(t *testing.T) {
	n, fake, _ := newNotifier(t)
	fake.AddUserGroup("S0ONCALL", "oncall", "UPEER")
	fake.AddUserGroup("S0SEC", "security", "USEC")
	r := cardOf(t, n)
	r.Status, r.PendingExpiresAt = approvals.StatusPending, t0.Add(time.Hour)
	r.Slots = []approvals.Slot{
		{Name: "on-call peer", Approvers: []approvals.Principal{"group:oncall"}},
		{Name: "security", Approvers: []approvals.Principal{"group:security", "user:UBOSS", "group:gone"}},
	}
	r.Votes = []approvals.Vote{{User: "UPEER", Decision: approvals.DecisionApprove, Slot: 0}}
	if err := n.PendingReminder(context.Background(), r, 15*time.Minute); err != nil {
		t.Fatal(err)
	}
	posts := fake.CallsTo("chat.postMessage")
	text := posts[len(posts)-1].Param("text")
	if !strings.Contains(text, "<!subteam^S0SEC> <@UBOSS>") || strings.Contains(text, "S0ONCALL") {
		t.Fatalf("reminder %q: want the open slot's approvers only", text)
	}
}
