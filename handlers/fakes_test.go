package handlers

import (
	"context"
	"sync"

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

func (l *fakeLifecycle) DestroyNow(_ context.Context, r *approvals.Request, by string, _ ...approvals.Notice) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.destroyed = append(l.destroyed, r.ID+" by "+by)
	return nil
}

// fakeMasking answers Coverage with its function.
type fakeMasking struct {
	coverage func(b provisioner.Backup, level approvals.MaskLevel) (MaskCoverage, error)
}

func (m fakeMasking) Coverage(_ context.Context, b provisioner.Backup, level approvals.MaskLevel) (MaskCoverage, error) {
	return m.coverage(b, level)
}
