package approvals

import (
	"testing"
	"time"
)

// TestNoticeStale orders progress reports: by attempt, then by time within an attempt; a line
// of clonebot's own is never stale, and after one any report is news.
func TestNoticeStale(t *testing.T) {
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC) // fixed date: an ordering of values; no server sees it
	report := func(attempt int, sec int) Notice {
		return Notice{Kind: NoticeProgress, Attempt: attempt, At: at.Add(time.Duration(sec) * time.Second)}
	}
	tests := []struct {
		name        string
		give, shown Notice
		want        bool
	}{
		{"a later report of the same attempt", report(1, 2), report(1, 1), false},
		{"an earlier report of the same attempt", report(1, 1), report(1, 2), true},
		{"the same report again", report(1, 1), report(1, 1), false},
		{"the next attempt, whatever its agent's clock", report(2, -60), report(1, 5), false},
		{"the attempt an agent lost, still reporting", report(1, 60), report(2, 5), true},
		{"clonebot's own line after an agent's", report(0, 0), report(2, 5), false},
		{"an agent's report after clonebot's own line", report(1, -60), report(0, 0), false},
		{"the first report", report(1, 0), Notice{}, false},
	}
	for _, tt := range tests {
		if got := tt.give.Stale(tt.shown); got != tt.want {
			t.Errorf("%s: Stale = %v, want %v", tt.name, got, tt.want)
		}
	}
}
