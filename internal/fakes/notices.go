package fakes

import (
	"context"
	"fmt"
	"time"

	"github.com/clonebot/clonebot/approvals"
)

// Mailbox is the part of the request store that holds notices (redisstore.Store).
type Mailbox interface {
	NoticesDue(ctx context.Context, limit int) ([]string, error)
	TakeNotices(ctx context.Context, id, owner string, ttl time.Duration, max int) ([]approvals.Notice, error)
	AckNotices(ctx context.Context, id, owner string, n int, release bool) (int, error)
}

// TakeNotices removes and returns every notice recorded for the requests ids, each written as
// one line: "<kind> <id>", then the actor in brackets and the text where the notice has them
// ("note cl-x [U1] cancelled the request", "vote cl-x [U2] approved").
func TakeNotices(ctx context.Context, box Mailbox, ids ...string) ([]string, error) {
	var out []string
	for _, id := range ids {
		ns, err := box.TakeNotices(ctx, id, "test", time.Minute, 10000)
		if err != nil {
			return nil, err
		}
		if _, err := box.AckNotices(ctx, id, "test", len(ns), true); err != nil {
			return nil, err
		}
		for _, n := range ns {
			out = append(out, NoticeLine(id, n))
		}
	}
	return out, nil
}

// NoticeLine writes one notice of request id as TakeNotices does.
func NoticeLine(id string, n approvals.Notice) string {
	line := fmt.Sprintf("%s %s", n.Kind, id)
	switch n.Kind {
	case approvals.NoticeNote, approvals.NoticeAlert, approvals.NoticeGolden:
		line += fmt.Sprintf(" [%s] %s", n.By, n.Text)
	case approvals.NoticeVote:
		line += fmt.Sprintf(" [%s] %s", n.By, n.Outcome)
	case approvals.NoticeProgress:
		line += " " + n.Text
	case approvals.NoticeDM:
		line += fmt.Sprintf(" to %s: %s", n.To, n.Text)
	}
	return line
}

// TakeAllNotices is TakeNotices of every request with notices waiting.
func TakeAllNotices(ctx context.Context, box Mailbox) ([]string, error) {
	ids, err := box.NoticesDue(ctx, 10000)
	if err != nil {
		return nil, err
	}
	return TakeNotices(ctx, box, ids...)
}
