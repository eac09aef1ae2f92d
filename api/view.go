package api

import (
	"time"

	"github.com/clonebot/clonebot/approvals"
	"github.com/clonebot/clonebot/provisioner"
)

// cloneView is a request as the API shows it. Times are RFC 3339 UTC, durations as typed
// (8h, 1h30m). The clone's whereabouts and credential reference (never a password) are there
// while it is ready.
type cloneView struct {
	ID              string           `json:"id,omitempty"`
	Status          approvals.Status `json:"status,omitempty"`
	Source          string           `json:"source"`
	Date            string           `json:"date"` // the backup's day, or the point in time
	PointInTime     bool             `json:"point_in_time,omitempty"`
	Tier            string           `json:"tier"`
	Masking         string           `json:"masking"`
	Approval        string           `json:"approval"` // auto, single, dual, breakglass
	ApprovalsNeeded []slotView       `json:"approvals_needed,omitempty"`
	Requester       string           `json:"requester"`
	Team            string           `json:"team,omitempty"`
	Via             string           `json:"via,omitempty"`
	Reason          string           `json:"reason,omitempty"`
	TTL             string           `json:"ttl"`
	MaxTTL          string           `json:"max_ttl"`
	Backup          *backupView      `json:"backup,omitempty"`
	CreatedAt       *time.Time       `json:"created_at,omitempty"`
	PendingUntil    *time.Time       `json:"pending_expires_at,omitempty"` // while pending: it expires undecided then
	ReadyAt         *time.Time       `json:"ready_at,omitempty"`
	ExpiresAt       *time.Time       `json:"expires_at,omitempty"`
	TimeLeft        string           `json:"time_left,omitempty"`
	Clone           *connView        `json:"clone,omitempty"`
	Failure         string           `json:"failure,omitempty"`
	Votes           []voteView       `json:"votes,omitempty"`
	Timeline        []eventView      `json:"timeline,omitempty"`
	Links           *links           `json:"links,omitempty"`
}

type slotView struct {
	Name      string   `json:"name"`
	Approvers []string `json:"approvers"`
	FilledBy  string   `json:"filled_by,omitempty"`
}

type backupView struct {
	Date      string `json:"date"`
	Kind      string `json:"kind"` // file, snapshot or point-in-time
	SizeBytes int64  `json:"size_bytes,omitempty"`
}

type connView struct {
	Host          string `json:"host"`
	Port          int    `json:"port"`
	Database      string `json:"database"`
	User          string `json:"user"`
	CredentialRef string `json:"credential_ref"` // where the password is: a Secrets Manager ARN or a file:// path
}

type voteView struct {
	User     string    `json:"user"`
	Decision string    `json:"decision"`
	Reason   string    `json:"reason,omitempty"`
	At       time.Time `json:"at"`
}

type eventView struct {
	Type string    `json:"type"`
	From string    `json:"from,omitempty"`
	To   string    `json:"to,omitempty"`
	By   string    `json:"by,omitempty"`
	Note string    `json:"note,omitempty"`
	At   time.Time `json:"at"`
}

type links struct {
	Self string `json:"self"`
}

// clonePath is where a request is.
func clonePath(id string) string { return "/api/v1/clones/" + id }

// viewOf shows r as it is at now.
func viewOf(r *approvals.Request, now time.Time) cloneView {
	v := cloneView{ID: r.ID, Status: r.Status, Source: r.Source, Date: dateOf(r.Date, r.PointInTime), PointInTime: r.PointInTime,
		Tier: r.Tier, Masking: string(r.Masking), Approval: string(r.Mode), Requester: r.Requester, Team: r.Team, Via: r.Via,
		Reason: r.Reason, TTL: approvals.FormatDuration(r.TTL), MaxTTL: approvals.FormatDuration(r.MaxTTL), Failure: r.Failure,
		CreatedAt: stamp(r.CreatedAt), ReadyAt: stamp(r.ReadyAt), ExpiresAt: stamp(r.ExpiresAt)}
	if r.Backup.Kind != "" {
		v.Backup = &backupView{Date: v.Date, Kind: r.Backup.Kind, SizeBytes: r.Backup.Size}
	}
	filled := r.FilledSlots()
	for i, sl := range r.Slots {
		sv := slotView{Name: sl.Name, FilledBy: filled[i]}
		for _, p := range sl.Approvers {
			sv.Approvers = append(sv.Approvers, string(p))
		}
		v.ApprovalsNeeded = append(v.ApprovalsNeeded, sv)
	}
	if r.Status == approvals.StatusPending {
		v.PendingUntil = stamp(r.PendingExpiresAt)
	}
	if r.Status == approvals.StatusReady {
		v.TimeLeft = approvals.FormatDuration(r.TimeLeft(now))
		if c := r.Clone; c != nil {
			v.Clone = &connView{Host: c.Host, Port: c.Port, Database: c.Database, User: c.User, CredentialRef: c.CredentialRef}
		}
	}
	for _, vo := range r.Votes {
		v.Votes = append(v.Votes, voteView{User: vo.User, Decision: string(vo.Decision), Reason: vo.Reason, At: vo.At.UTC()})
	}
	for _, e := range r.History {
		v.Timeline = append(v.Timeline, eventView{Type: e.Type, From: string(e.From), To: string(e.To), By: e.By, Note: e.Note, At: e.At.UTC()})
	}
	if r.ID != "" {
		v.Links = &links{Self: clonePath(r.ID)}
	}
	return v
}

// dryRunView is what POST /clones?dry_run=true answers: the request that would be made.
type dryRunView struct {
	DryRun bool `json:"dry_run"`
	cloneView
	Strategy string   `json:"strategy"`
	Explain  []string `json:"explain"` // what /clone explain says, line by line
}

// backupsView is the answer of GET /backups.
type backupsView struct {
	Source  string       `json:"source"`
	Backups []backupView `json:"backups"` // newest first
}

func backupsOf(source string, bs []provisioner.Backup) backupsView {
	v := backupsView{Source: source, Backups: []backupView{}}
	for _, b := range bs {
		v.Backups = append(v.Backups, backupView{Date: dateOf(b.Date, b.Kind == provisioner.BackupPointInTime), Kind: string(b.Kind), SizeBytes: b.Size})
	}
	return v
}

// listView is the answer of GET /clones.
type listView struct {
	Clones []cloneView `json:"clones"`
}

func dateOf(t time.Time, pointInTime bool) string {
	if pointInTime {
		return t.UTC().Format(time.RFC3339)
	}
	return t.UTC().Format(time.DateOnly)
}

func stamp(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}
