package approvals

import (
	"crypto/rand"
	"fmt"
	"time"
)

// Request is one ask for a clone and everything that happened to it.
type Request struct {
	ID          string        `json:"id"`
	Requester   string        `json:"requester"`     // Slack user ID, or a service identity ("service:<name>")
	Via         string        `json:"via,omitempty"` // "api:<key id>" when made through the REST API; "" from Slack
	Team        string        `json:"team,omitempty"`
	Source      string        `json:"source"`
	Date        time.Time     `json:"date"`                    // the backup day (UTC midnight) or the exact point in time
	PointInTime bool          `json:"point_in_time,omitempty"` // Date is an exact time, not a day
	Tier        string        `json:"tier"`
	Masking     MaskLevel     `json:"masking"`
	Mode        ApprovalMode  `json:"mode"`
	Slots       []Slot        `json:"slots,omitempty"` // approver slots that must each be filled by a distinct person
	TTL         time.Duration `json:"ttl"`
	MaxTTL      time.Duration `json:"max_ttl"` // the tier's cap on total lifetime, fixed at request time
	Reason      string        `json:"reason,omitempty"`
	Channel     string        `json:"channel,omitempty"`    // Slack channel of the request card
	MessageTS   string        `json:"message_ts,omitempty"` // the card's ts; the thread hangs under it
	Status      Status        `json:"status"`
	Votes       []Vote        `json:"votes,omitempty"`
	History     []Event       `json:"history,omitempty"`
	Backup      Backup        `json:"backup"` // the backup the requester was shown; the clone is made from exactly this one
	// Golden is the golden copy (its id) the clone is made from by a thin copy; "" for a
	// restore. The store refuses it unless that copy is ready, and counts the request among
	// the copy's dependants until the lifecycle releases it.
	Golden  string     `json:"golden,omitempty"`
	Clone   *CloneInfo `json:"clone,omitempty"`
	Failure string     `json:"failure,omitempty"` // a reason a user can read

	CreatedAt        time.Time `json:"created_at"`
	PendingExpiresAt time.Time `json:"pending_expires_at"`
	ReadyAt          time.Time `json:"ready_at,omitempty"`
	ExpiresAt        time.Time `json:"expires_at,omitempty"`        // when the clone is destroyed; set when it is ready
	ReviewDueAt      time.Time `json:"review_due_at,omitempty"`     // break-glass: when the post-incident review is due
	Review           *Review   `json:"review,omitempty"`            // break-glass: the post-incident review, once done
	ReviewMessageTS  string    `json:"review_message_ts,omitempty"` // break-glass: the review task's message in the security channel
	UpdatedAt        time.Time `json:"updated_at"`
}

// Decision is an approver's vote.
type Decision string

const (
	DecisionApprove Decision = "approve"
	DecisionDeny    Decision = "deny"
)

// Vote is one counted approval or denial.
type Vote struct {
	User     string    `json:"user"`
	Decision Decision  `json:"decision"`
	Slot     int       `json:"slot"`               // index into Request.Slots this approval fills now (see AssignSlots); -1 for a denial
	Eligible []int     `json:"eligible,omitempty"` // the slots the approver could fill when they approved (their groups then)
	Reason   string    `json:"reason,omitempty"`
	At       time.Time `json:"at"`
}

// Event is one entry of a request's timeline.
type Event struct {
	Type string    `json:"type"` // requested, voted, or the status entered
	From Status    `json:"from,omitempty"`
	To   Status    `json:"to,omitempty"`
	By   string    `json:"by,omitempty"` // Slack user ID, or "clonebot"
	Note string    `json:"note,omitempty"`
	At   time.Time `json:"at"`
}

// Backup is what a clone is made from, as the catalogue named it when the request was made.
type Backup struct {
	Kind     string `json:"kind"`               // provisioner.BackupKind: file, snapshot or point-in-time
	Location string `json:"location,omitempty"` // s3://bucket/key, a local path or a snapshot id; empty for point-in-time
	Size     int64  `json:"size,omitempty"`     // bytes, when known
	Checksum string `json:"checksum,omitempty"` // hex SHA-256 of the file, when known
}

// Review is the post-incident review of an ended break-glass clone.
type Review struct {
	By    string    `json:"by"` // a member of the security team, never the requester
	Notes string    `json:"notes,omitempty"`
	At    time.Time `json:"at"`
}

// NeedsReview reports whether r is a break-glass clone that ended (destroyed) and nobody has
// reviewed.
func (r *Request) NeedsReview() bool {
	return r.Mode == ModeBreakGlass && r.Review == nil && r.Status == StatusDestroyed
}

// CloneInfo is where a ready clone is. It never holds a password.
type CloneInfo struct {
	Host          string   `json:"host"`
	Port          int      `json:"port"`
	Database      string   `json:"database"`
	User          string   `json:"user"`
	CredentialRef string   `json:"credential_ref"`
	Resources     []string `json:"resources,omitempty"`
}

// Approvers returns the user IDs of counted approvals, in order.
func (r *Request) Approvers() []string {
	var out []string
	for _, v := range r.Votes {
		if v.Decision == DecisionApprove {
			out = append(out, v.User)
		}
	}
	return out
}

// VoteOf returns the vote of user, if any.
func (r *Request) VoteOf(user string) (Vote, bool) {
	for _, v := range r.Votes {
		if v.User == user {
			return v, true
		}
	}
	return Vote{}, false
}

// FilledSlots reports, per slot, the user who fills it now ("" if open). Each counted
// approval's Slot is rewritten by the vote that moves it (see AssignSlots).
func (r *Request) FilledSlots() []string {
	out := make([]string, len(r.Slots))
	for _, v := range r.Votes {
		if v.Decision == DecisionApprove && v.Slot >= 0 && v.Slot < len(out) {
			out[v.Slot] = v.User
		}
	}
	return out
}

// TimeLeft is how long a ready clone has before expiry at now (0 if none or past).
func (r *Request) TimeLeft(now time.Time) time.Duration {
	if r.ExpiresAt.IsZero() || !now.Before(r.ExpiresAt) {
		return 0
	}
	return r.ExpiresAt.Sub(now)
}

// idAlphabet has no characters that are easy to mistype or misread (0/o, 1/l/i).
const idAlphabet = "23456789abcdefghjkmnpqrstuvwxyz"

// NewID returns a short, human-typable request id like "cl-7f3k2q" (31^6 ≈ 8.9e8 values; the
// store refuses a duplicate, and the caller draws again).
func NewID() string {
	out := []byte("cl-")
	var b [16]byte
	for len(out) < 9 {
		if _, err := rand.Read(b[:]); err != nil {
			panic(fmt.Sprintf("crypto/rand: %v", err))
		}
		for _, c := range b {
			// 248 = 8*31: reject the bytes that would bias the modulo.
			if c < 248 && len(out) < 9 {
				out = append(out, idAlphabet[int(c)%len(idAlphabet)])
			}
		}
	}
	return string(out)
}

// ValidID reports whether s has the form of a request id.
func ValidID(s string) bool {
	if len(s) != 9 || s[:3] != "cl-" {
		return false
	}
	for i := 3; i < len(s); i++ {
		if !containsByte(idAlphabet, s[i]) {
			return false
		}
	}
	return true
}

func containsByte(s string, c byte) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return true
		}
	}
	return false
}
