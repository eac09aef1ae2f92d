package approvals

import "time"

// NoticeKind says what a Notice asks to be said.
type NoticeKind string

const (
	NoticeCard       NoticeKind = "card"        // the request changed: its card is shown again as it now is (posted the first time)
	NoticeNote       NoticeKind = "note"        // a line of the request's timeline, in its thread: By did Text
	NoticeVote       NoticeKind = "vote"        // By's vote was counted, with Outcome (counted, approved or denied)
	NoticeProgress   NoticeKind = "progress"    // the request's one progress line now says Text
	NoticeReady      NoticeKind = "ready"       // the clone is ready: where it is and its credential reference, to the thread and the requester
	NoticeReminder   NoticeKind = "reminder"    // the approvers still needed hear that the request expires undecided soon
	NoticeTTLWarning NoticeKind = "ttl_warning" // the clone will be destroyed soon: time left, Extend and Destroy-now buttons
	NoticeAlert      NoticeKind = "alert"       // the security channel hears Text; By did it
	NoticeDM         NoticeKind = "dm"          // To hears Text in a direct message
	NoticeReviewTask NoticeKind = "review_task" // the security channel gets the post-incident review task of an ended break-glass clone
	NoticeReviewDue  NoticeKind = "review_due"  // the security channel is reminded that the review is overdue
	NoticeReviewed   NoticeKind = "reviewed"    // the review task shows who reviewed it (By, Text: the notes)
	NoticeGolden     NoticeKind = "golden"      // the request channel hears Text about a golden copy (built, failed)
)

// Notice is something people must be told about a request. It is recorded in the same atomic
// step as the change that causes it and delivered afterwards, in order, by the notifier (bot),
// which renders it from the request as it is then: no state change ever waits for Slack, and
// nothing that must be said is lost when a process stops. Text is plain; the notifier escapes it.
type Notice struct {
	Kind    NoticeKind
	By      string      // a user ID; "" for clonebot
	Text    string      // note, progress, alert, dm
	To      string      // dm: the user
	Outcome VoteOutcome // vote
	At      time.Time   // when it was said; the store's now when zero
	// Attempt, on a progress line a restore agent reported, is the restore's attempt (1 for
	// the first); 0 on clonebot's own lines. With At it orders the reports (Stale).
	Attempt int
}

// Stale reports whether progress notice n says less than shown, the report the progress line
// shows now: a report of an earlier attempt of the restore (its agent lost the job but still
// reported), or an earlier report of the same attempt (reports handled out of order by two
// replicas). A line of clonebot's own (Attempt 0) is never stale, and after one any report is
// news: it is said when the restore is queued again.
func (n Notice) Stale(shown Notice) bool {
	if n.Attempt == 0 || shown.Attempt == 0 {
		return false
	}
	return n.Attempt < shown.Attempt || n.Attempt == shown.Attempt && n.At.Before(shown.At)
}

// Note is a timeline line of the request's thread: by ("" for clonebot) did text.
func Note(by, text string) Notice { return Notice{Kind: NoticeNote, By: by, Text: text} }
