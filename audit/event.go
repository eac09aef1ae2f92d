package audit

import (
	"strconv"
	"strings"
	"time"

	"github.com/clonebot/clonebot/approvals"
)

// Event is one audited change. Tier, source and channel are the request's, so that every row can
// be filtered by them; details hold the rest as strings (times as Unix milliseconds, like the
// outbox).
type Event struct {
	ID        string // idempotency key: the outbox entry id; an id already in the log is not appended again
	Action    string // one of the Action* constants, or another the engine records
	RequestID string
	Actor     string // Slack user ID, a service identity ("service:<name>"), SystemActor, or "api:<key id>"
	ActorName string // the actor's display name, when it was known
	At        time.Time
	Tier      string
	Source    string
	Channel   string
	Details   map[string]string
}

// SystemActor is the actor of what clonebot does by itself (expiry, provisioning, automatic approval).
const SystemActor = "clonebot"

// Actions the engine's outbox records: a request's creation, each vote, each extension, the card
// being posted, and each status it enters.
const (
	ActionRequested    = "requested" // details: tier, source, mode, ttl_ms, reason, team (and masking, when recorded; requester, when the actor is an API key)
	ActionVoted        = "voted"     // details: decision (approve, deny), slot, slot_name, reason
	ActionExtended     = "extended"  // details: from_expires_at_ms, expires_at_ms
	ActionMessage      = "message"   // details: channel, message_ts
	ActionApproved     = string(approvals.StatusApproved)
	ActionDenied       = string(approvals.StatusDenied)
	ActionExpired      = string(approvals.StatusExpired) // the approval window closed
	ActionCancelled    = string(approvals.StatusCancelled)
	ActionProvisioning = string(approvals.StatusProvisioning)
	ActionRestoring    = string(approvals.StatusRestoring)
	ActionReady        = string(approvals.StatusReady) // details: expires_at_ms
	ActionDestroying   = string(approvals.StatusDestroying)
	ActionDestroyed    = string(approvals.StatusDestroyed)
	ActionFailed       = string(approvals.StatusFailed) // details: failure
)

// Actions this package expects from the break-glass review loop and the revocation path. The
// report reads them; until they are emitted, break-glass clones count as unreviewed and the
// revocation latency is measured to "destroyed".
const (
	// ActionCredentialsRevoked: new logins are refused and open sessions ended (actor clonebot;
	// details: sessions_ended). When present it ends the access before "destroyed" does.
	ActionCredentialsRevoked = "credentials_revoked"
	// ActionReviewRequested: the review task of an ended break-glass clone was posted to the
	// security channel (details: due_at_ms, channel, message_ts).
	ActionReviewRequested = "review_requested"
	// ActionReviewReminded: a reminder of an overdue review was posted (details: due_at_ms).
	ActionReviewReminded = "review_reminded"
	// ActionReviewed: a member of the security group reviewed it (actor: the reviewer; details: notes).
	ActionReviewed = "reviewed"
	// ActionReviewRefused: someone may not review it (details: reason: "self" for the requester,
	// "not_security" for someone outside the security group).
	ActionReviewRefused = "review_refused"
)

// Detail keys this package reads.
const (
	DetailTier        = "tier"
	DetailSource      = "source"
	DetailChannel     = "channel"
	DetailMode        = "mode"
	DetailMasking     = "masking"
	DetailReason      = "reason"
	DetailTeam        = "team"
	DetailRequester   = "requester" // requested through an API key: the actor is the key, this is for whom
	DetailDecision    = "decision"
	DetailSlotName    = "slot_name"
	DetailNote        = "note"
	DetailExpiresAtMS = "expires_at_ms"
	DetailDueAtMS     = "due_at_ms"
	DetailNotes       = "notes"
)

// Normalize returns e as the log stores and hashes it: the time in UTC truncated to the
// microsecond, and every string valid UTF-8 without NUL (invalid bytes and NUL become U+FFFD),
// since PostgreSQL's text cannot hold them. Nothing is dropped. Details is a new map.
func Normalize(e Event) Event {
	e.At = e.At.UTC().Truncate(time.Microsecond)
	for _, s := range []*string{&e.ID, &e.Action, &e.RequestID, &e.Actor, &e.ActorName, &e.Tier, &e.Source, &e.Channel} {
		*s = cleanText(*s)
	}
	details := make(map[string]string, len(e.Details))
	for k, v := range e.Details {
		details[cleanText(k)] = cleanText(v)
	}
	e.Details = details
	return e
}

func cleanText(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// detailTime reads a Unix-millisecond detail; the zero time when it is absent or malformed.
func detailTime(d map[string]string, key string) time.Time {
	ms, err := strconv.ParseInt(d[key], 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}
