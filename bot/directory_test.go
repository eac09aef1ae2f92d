package bot_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/clonebot/clonebot/bot"
	"github.com/clonebot/clonebot/bot/slackfake"
	"github.com/clonebot/clonebot/internal/fakes"
	"github.com/clonebot/clonebot/internal/testenv"
)

func newDirectory(t *testing.T, retries int) (*bot.Directory, *slackfake.Server, *fakes.Clock) {
	t.Helper()
	fake := slackfake.New()
	t.Cleanup(fake.Close)
	fake.AddUser(slack.User{ID: "UDEV", Name: "dana"})
	fake.AddUserGroup("S1", "developers", "UDEV", "UOTHER")
	fake.AddUserGroup("S2", "team-payments", "UDEV")
	fake.AddUserGroup("S3", "oncall", "UOTHER")
	fake.AddChannel("CINC", "inc-42")
	clock := fakes.NewClock(testenv.Now())
	api := slack.New("xoxb-directory-test", slack.OptionAPIURL(fake.APIURL()))
	return bot.NewDirectory(api, bot.Config{RateLimitRetries: retries}, clock), fake, clock
}

// Every group and its members come from one usergroups.list with include_users, however
// many groups there are.
func TestDirectoryReadsGroupsAndMembersInOneCall(t *testing.T) {
	d, fake, _ := newDirectory(t, 0)
	ctx := context.Background()
	u, err := d.User(ctx, "UDEV")
	if err != nil || !slices.Equal(u.Groups, []string{"developers", "team-payments"}) || u.Team != "payments" {
		t.Fatalf("User = %+v, %v", u, err)
	}
	if members, err := d.Members(ctx, "oncall"); err != nil || !slices.Equal(members, []string{"UOTHER"}) {
		t.Fatalf("Members(oncall) = %v, %v", members, err)
	}
	lists := fake.CallsTo("usergroups.list")
	if len(lists) != 1 || lists[0].Param("include_users") != "true" {
		t.Fatalf("usergroups.list calls %+v, want one with include_users=true", lists)
	}
	if n := len(fake.CallsTo("usergroups.users.list")); n != 0 {
		t.Errorf("%d usergroups.users.list calls, want none", n)
	}
}

// A rate-limited read is retried after Slack's Retry-After, on the clock, up to the
// configured retries; then the rate limit is the answer.
func TestDirectoryRetriesRateLimitedReads(t *testing.T) {
	tests := []struct {
		name      string
		method    string
		limited   int // 429 answers before the real one
		read      func(context.Context, *bot.Directory) error
		wantErr   bool
		wantCalls int
	}{
		{"groups, once", "usergroups.list", 1, func(ctx context.Context, d *bot.Directory) error {
			_, err := d.Members(ctx, "developers")
			return err
		}, false, 2},
		{"user, twice", "users.info", 2, func(ctx context.Context, d *bot.Directory) error {
			_, err := d.User(ctx, "UDEV")
			return err
		}, false, 3},
		{"channel, once", "conversations.info", 1, func(ctx context.Context, d *bot.Directory) error {
			_, err := d.ChannelName(ctx, "CINC")
			return err
		}, false, 2},
		{"beyond the retries", "usergroups.list", 3, func(ctx context.Context, d *bot.Directory) error {
			_, err := d.Members(ctx, "developers")
			return err
		}, true, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, fake, clock := newDirectory(t, 2)
			fake.RateLimitNext(tt.method, tt.limited, 7*time.Second)
			err := tt.read(context.Background(), d)
			var rl *slack.RateLimitedError
			if tt.wantErr != errors.As(err, &rl) || (!tt.wantErr && err != nil) {
				t.Fatalf("read: %v, want a rate limit error: %v", err, tt.wantErr)
			}
			if n := len(fake.CallsTo(tt.method)); n != tt.wantCalls {
				t.Errorf("%d calls of %s, want %d", n, tt.method, tt.wantCalls)
			}
			waits := clock.Waits()
			if len(waits) != tt.wantCalls-1 || slices.ContainsFunc(waits, func(w time.Duration) bool { return w != 7*time.Second }) {
				t.Errorf("waited %v on the clock, want Retry-After (7s) before each of %d retries", waits, tt.wantCalls-1)
			}
		})
	}
}

// A direct message has no name, and reading its details would need im:read: it is not looked up.
func TestDirectoryDoesNotLookUpDirectMessages(t *testing.T) {
	d, fake, _ := newDirectory(t, 0)
	if name, err := d.ChannelName(context.Background(), "D0123DM"); err != nil || name != "" {
		t.Fatalf("ChannelName(D0123DM) = %q, %v; want no name", name, err)
	}
	if n := len(fake.CallsTo("conversations.info")); n != 0 {
		t.Errorf("%d conversations.info calls for a DM", n)
	}
}
