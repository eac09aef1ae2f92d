package bot

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/clonebot/clonebot/handlers"
	"github.com/clonebot/clonebot/internal/clock"
)

var _ handlers.Directory = (*Directory)(nil)

// Directory answers who someone is from Slack: user groups with their members (one
// usergroups.list with include_users), names (users.info) and channel names
// (conversations.info). Answers are cached and refreshed after Config.DirectoryRefresh on the
// clock, so a person added to or removed from a group counts as such at most that long
// afterwards. A rate-limited read is retried after Slack's Retry-After, on the clock, up to
// Config.RateLimitRetries times. Safe for concurrent use.
type Directory struct {
	api        *slack.Client
	clock      clock.Clock
	refresh    time.Duration
	teamPrefix string
	retries    int

	groupsMu sync.Mutex // held while the groups reload, so one caller reloads and the rest wait
	mu       sync.Mutex
	groupsAt time.Time
	groups   map[string][]string // user ID → group handles
	groupIDs map[string]string   // group handle → ID, for mentions
	users    map[string]cached[slack.User]
	channels map[string]cached[string]
}

type cached[T any] struct {
	v  T
	at time.Time
}

// NewDirectory returns a Directory on api.
func NewDirectory(api *slack.Client, cfg Config, clock clock.Clock) *Directory {
	cfg.applyDefaults()
	return &Directory{api: api, clock: clock, refresh: cfg.DirectoryRefresh, teamPrefix: cfg.TeamGroupPrefix,
		retries: cfg.RateLimitRetries, users: map[string]cached[slack.User]{}, channels: map[string]cached[string]{}}
}

// read runs a Web API read, retrying a rate-limited answer after its Retry-After. (slack-go's
// own retry option wraps the whole client, writes included, which the Notifier already paces
// per channel, and waits on the wall clock.)
func (d *Directory) read(ctx context.Context, call func() error) error {
	for attempt := 0; ; attempt++ {
		err := call()
		var rl *slack.RateLimitedError
		if !errors.As(err, &rl) || attempt >= d.retries {
			return err
		}
		select {
		case <-d.clock.After(rl.RetryAfter):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (d *Directory) fresh(at time.Time) bool {
	return !at.IsZero() && d.clock.Now().Sub(at) < d.refresh
}

// User returns a person's display name, groups and team (the first group whose handle starts
// with the team prefix, without it).
func (d *Directory) User(ctx context.Context, id string) (handlers.User, error) {
	groups, err := d.groupsOf(ctx, id)
	if err != nil {
		return handlers.User{}, err
	}
	info, err := d.info(ctx, id)
	if err != nil {
		return handlers.User{}, err
	}
	u := handlers.User{ID: id, Groups: groups, Name: info.Profile.DisplayName}
	if u.Name == "" {
		u.Name = info.RealName
	}
	if u.Name == "" {
		u.Name = info.Name
	}
	for _, g := range groups {
		if team, ok := strings.CutPrefix(g, d.teamPrefix); ok && d.teamPrefix != "" && team != "" {
			u.Team = team
			break
		}
	}
	return u, nil
}

func (d *Directory) info(ctx context.Context, id string) (slack.User, error) {
	d.mu.Lock()
	c, ok := d.users[id]
	d.mu.Unlock()
	if ok && d.fresh(c.at) {
		return c.v, nil
	}
	var u *slack.User
	err := d.read(ctx, func() (err error) {
		u, err = d.api.GetUserInfoContext(ctx, id)
		return err
	})
	if err != nil {
		return slack.User{}, fmt.Errorf("users.info %s: %w", id, err)
	}
	d.mu.Lock()
	d.users[id] = cached[slack.User]{v: *u, at: d.clock.Now()}
	d.mu.Unlock()
	return *u, nil
}

// groupsOf returns the handles of the user groups id is in, reloading every group with its
// members (one call) when the cache is stale. One caller reloads; the others wait for it.
func (d *Directory) groupsOf(ctx context.Context, id string) ([]string, error) {
	d.groupsMu.Lock()
	defer d.groupsMu.Unlock()
	d.mu.Lock()
	stale := !d.fresh(d.groupsAt)
	d.mu.Unlock()
	if stale {
		var groups []slack.UserGroup
		err := d.read(ctx, func() (err error) {
			groups, err = d.api.GetUserGroupsContext(ctx, slack.GetUserGroupsOptionIncludeUsers(true))
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("usergroups.list: %w", err)
		}
		byUser, ids := map[string][]string{}, map[string]string{}
		for _, g := range groups {
			if g.DateDelete != 0 {
				continue
			}
			ids[g.Handle] = g.ID
			for _, m := range g.Users {
				byUser[m] = append(byUser[m], g.Handle)
			}
		}
		d.mu.Lock()
		d.groups, d.groupIDs, d.groupsAt = byUser, ids, d.clock.Now()
		d.mu.Unlock()
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.groups[id]...), nil
}

// GroupID returns the ID of the user group with handle, for a mention; false if there is none.
func (d *Directory) GroupID(ctx context.Context, handle string) (string, bool, error) {
	if _, err := d.groupsOf(ctx, ""); err != nil {
		return "", false, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	id, ok := d.groupIDs[handle]
	return id, ok, nil
}

// Members returns the IDs of the people in the user group with handle, sorted (cached like
// everything else here).
func (d *Directory) Members(ctx context.Context, handle string) ([]string, error) {
	if _, err := d.groupsOf(ctx, ""); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for user, handles := range d.groups {
		if slices.Contains(handles, handle) {
			out = append(out, user)
		}
	}
	slices.Sort(out)
	return out, nil
}

// ChannelName returns a channel's name; "" for a direct message (an ID starting with D),
// which has none and is never looked up: reading DMs' details would need the im:read scope.
func (d *Directory) ChannelName(ctx context.Context, id string) (string, error) {
	if strings.HasPrefix(id, "D") {
		return "", nil
	}
	d.mu.Lock()
	c, ok := d.channels[id]
	d.mu.Unlock()
	if ok && d.fresh(c.at) {
		return c.v, nil
	}
	var ch *slack.Channel
	err := d.read(ctx, func() (err error) {
		ch, err = d.api.GetConversationInfoContext(ctx, &slack.GetConversationInfoInput{ChannelID: id})
		return err
	})
	if err != nil {
		return "", fmt.Errorf("conversations.info %s: %w", id, err)
	}
	d.mu.Lock()
	d.channels[id] = cached[string]{v: ch.Name, at: d.clock.Now()}
	d.mu.Unlock()
	return ch.Name, nil
}
