package handlers

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/clonebot/clonebot/approvals"
	"github.com/clonebot/clonebot/provisioner"
)

// fakeDirectory knows a fixed set of people and channels.
type fakeDirectory struct {
	users    map[string]User
	channels map[string]string
}

func (d fakeDirectory) User(_ context.Context, id string) (User, error) {
	u, ok := d.users[id]
	if !ok {
		return User{ID: id}, nil
	}
	u.ID = id
	return u, nil
}

func (d fakeDirectory) ChannelName(_ context.Context, id string) (string, error) {
	return d.channels[id], nil
}

// fakeCatalogue answers with its function fields.
type fakeCatalogue struct {
	backups func(source string, from, to time.Time) ([]provisioner.Backup, error)
	find    func(source string, at time.Time) (provisioner.Backup, error)
}

func (c fakeCatalogue) Backups(_ context.Context, source string, from, to time.Time) ([]provisioner.Backup, error) {
	return c.backups(source, from, to)
}

func (c fakeCatalogue) Find(_ context.Context, source string, at time.Time) (provisioner.Backup, error) {
	return c.find(source, at)
}

// dailyCatalogue has a backup of "prod" on each of days.
func dailyCatalogue(days ...time.Time) fakeCatalogue {
	have := func(d time.Time) bool {
		for _, x := range days {
			if x.Equal(d) {
				return true
			}
		}
		return false
	}
	return fakeCatalogue{
		backups: func(source string, from, to time.Time) ([]provisioner.Backup, error) {
			if source != "prod" {
				return nil, provisioner.ErrUnknownSource
			}
			var out []provisioner.Backup
			for _, d := range days {
				if !d.Before(from) && d.Before(to) {
					out = append(out, provisioner.Backup{Source: source, Kind: provisioner.BackupFile, Date: d, Size: 3 << 30})
				}
			}
			return out, nil
		},
		find: func(source string, at time.Time) (provisioner.Backup, error) {
			if source != "prod" {
				return provisioner.Backup{}, provisioner.ErrUnknownSource
			}
			d := at.UTC().Truncate(24 * time.Hour)
			if !have(d) {
				return provisioner.Backup{}, &provisioner.NoBackupError{Source: source, Date: d, Nearest: provisioner.NearestDates(days, d, 3)}
			}
			return provisioner.Backup{Source: source, Kind: provisioner.BackupFile, Date: d, Size: 3 << 30}, nil
		},
	}
}

// fakeLifecycle records what it was asked.
type fakeLifecycle struct {
	mu        sync.Mutex
	approved  []string
	destroyed []string
}

func (l *fakeLifecycle) Approved(_ context.Context, r *approvals.Request) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.approved = append(l.approved, r.ID)
	return nil
}

func (l *fakeLifecycle) DestroyNow(_ context.Context, r *approvals.Request, by string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.destroyed = append(l.destroyed, r.ID+" by "+by)
	return nil
}

// recordingNotifier records every notification as a line.
type recordingNotifier struct {
	mu    sync.Mutex
	calls []string
	posts int
}

func (n *recordingNotifier) add(format string, args ...any) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.calls = append(n.calls, fmt.Sprintf(format, args...))
}

func (n *recordingNotifier) CardChanged(_ context.Context, r *approvals.Request) (string, string, error) {
	n.add("card %s %s", r.ID, r.Status)
	if r.MessageTS != "" {
		return r.Channel, r.MessageTS, nil
	}
	n.mu.Lock()
	n.posts++
	ts := fmt.Sprintf("1700000000.%06d", n.posts)
	n.mu.Unlock()
	return r.Channel, ts, nil
}

func (n *recordingNotifier) ThreadNote(_ context.Context, r *approvals.Request, note Note) error {
	n.add("note %s %s: %s", r.ID, note.By, note.Text)
	return nil
}

func (n *recordingNotifier) Progress(_ context.Context, r *approvals.Request, status string) error {
	n.add("progress %s %s", r.ID, status)
	return nil
}

func (n *recordingNotifier) Ready(_ context.Context, r *approvals.Request) error {
	n.add("ready %s", r.ID)
	return nil
}

func (n *recordingNotifier) PendingReminder(_ context.Context, r *approvals.Request, left time.Duration) error {
	n.add("remind %s %s", r.ID, left)
	return nil
}

func (n *recordingNotifier) TTLWarning(_ context.Context, r *approvals.Request, left time.Duration) error {
	n.add("warn %s %s", r.ID, left)
	return nil
}

func (n *recordingNotifier) SecurityAlert(_ context.Context, a Alert) error {
	n.add("alert %s: %s", a.By, a.Text)
	return nil
}

func (n *recordingNotifier) DM(_ context.Context, user, text string) error {
	n.add("dm %s: %s", user, text)
	return nil
}

func (n *recordingNotifier) HomeChanged(_ context.Context, users ...string) {}

func (n *recordingNotifier) all() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.calls...)
}
