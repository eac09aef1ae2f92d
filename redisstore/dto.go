package redisstore

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/clonebot/clonebot/approvals"
)

// Hash fields of a stored request. Lua reads and writes the ones it needs by these names.
const (
	fID               = "id"
	fRequester        = "requester"
	fVia              = "via"
	fTeam             = "team"
	fSource           = "source"
	fDate             = "date_ms"
	fPointInTime      = "point_in_time"
	fTier             = "tier"
	fMasking          = "masking"
	fMode             = "mode"
	fSlots            = "slots"
	fTTL              = "ttl_ms"
	fMaxTTL           = "max_ttl_ms"
	fReason           = "reason"
	fChannel          = "channel"
	fMessageTS        = "message_ts"
	fStatus           = "status"
	fVotes            = "votes"
	fHistory          = "history"
	fBackup           = "backup"
	fClone            = "clone"
	fFailure          = "failure"
	fCreatedAt        = "created_at_ms"
	fPendingExpiresAt = "pending_expires_at_ms"
	fReadyAt          = "ready_at_ms"
	fExpiresAt        = "expires_at_ms"
	fReviewDueAt      = "review_due_at_ms"
	fReview           = "review"    // JSON of approvals.Review, set by the review script
	fReviewTS         = "review_ts" // the review task's message in the security channel
	fUpdatedAt        = "updated_at_ms"
	fGolden           = "golden" // the golden copy the clone is a thin copy of
)

// voteDTO is a stored vote. At is unix milliseconds as a string, so Lua never formats a
// large number.
type voteDTO struct {
	User     string `json:"user"`
	Decision string `json:"decision"`
	Slot     int    `json:"slot"`
	Eligible []int  `json:"eligible,omitempty"` // approvals: the slots the approver could fill
	Reason   string `json:"reason,omitempty"`
	At       string `json:"at"`
}

// reviewDTO is a stored review; At as in voteDTO.
type reviewDTO struct {
	By    string `json:"by"`
	Notes string `json:"notes,omitempty"`
	At    string `json:"at"`
}

// eventDTO is a stored timeline event; At as in voteDTO.
type eventDTO struct {
	Type string `json:"type"`
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
	By   string `json:"by,omitempty"`
	Note string `json:"note,omitempty"`
	At   string `json:"at"`
}

// ms writes t as unix milliseconds; the zero time is "" (the field is absent).
func ms(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return strconv.FormatInt(t.UnixMilli(), 10)
}

// parseMS reads a time written by ms, in UTC.
func parseMS(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("timestamp %q: %w", s, err)
	}
	return time.UnixMilli(n).UTC(), nil
}

func durationMS(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }

func parseDurationMS(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("duration %q: %w", s, err)
	}
	return time.Duration(n) * time.Millisecond, nil
}

// toHash maps a request to its hash fields, as field, value pairs. Empty values are left out.
func toHash(r *approvals.Request) ([]any, error) {
	slots := "[]"
	if len(r.Slots) > 0 {
		b, err := json.Marshal(r.Slots)
		if err != nil {
			return nil, fmt.Errorf("encode slots: %w", err)
		}
		slots = string(b)
	}
	votes := make([]voteDTO, 0, len(r.Votes))
	for _, v := range r.Votes {
		votes = append(votes, voteDTO{User: v.User, Decision: string(v.Decision), Slot: v.Slot, Eligible: v.Eligible, Reason: v.Reason, At: ms(v.At)})
	}
	votesJSON, err := json.Marshal(votes)
	if err != nil {
		return nil, fmt.Errorf("encode votes: %w", err)
	}
	history := make([]eventDTO, 0, len(r.History))
	for _, e := range r.History {
		history = append(history, eventFromDomain(e))
	}
	historyJSON, err := json.Marshal(history)
	if err != nil {
		return nil, fmt.Errorf("encode history: %w", err)
	}
	backup := ""
	if r.Backup != (approvals.Backup{}) {
		b, err := json.Marshal(r.Backup)
		if err != nil {
			return nil, fmt.Errorf("encode backup: %w", err)
		}
		backup = string(b)
	}
	review := ""
	if r.Review != nil {
		b, err := json.Marshal(reviewDTO{By: r.Review.By, Notes: r.Review.Notes, At: ms(r.Review.At)})
		if err != nil {
			return nil, fmt.Errorf("encode review: %w", err)
		}
		review = string(b)
	}
	clone := ""
	if r.Clone != nil {
		b, err := json.Marshal(r.Clone)
		if err != nil {
			return nil, fmt.Errorf("encode clone: %w", err)
		}
		clone = string(b)
	}
	pit := ""
	if r.PointInTime {
		pit = "1"
	}
	fields := [][2]string{
		{fID, r.ID}, {fRequester, r.Requester}, {fVia, r.Via}, {fTeam, r.Team}, {fSource, r.Source},
		{fDate, ms(r.Date)}, {fPointInTime, pit}, {fTier, r.Tier}, {fMasking, string(r.Masking)},
		{fMode, string(r.Mode)}, {fSlots, slots}, {fTTL, durationMS(r.TTL)}, {fMaxTTL, durationMS(r.MaxTTL)},
		{fReason, r.Reason}, {fChannel, r.Channel}, {fMessageTS, r.MessageTS}, {fStatus, string(r.Status)},
		{fVotes, string(votesJSON)}, {fHistory, string(historyJSON)}, {fBackup, backup}, {fClone, clone}, {fFailure, r.Failure},
		{fCreatedAt, ms(r.CreatedAt)}, {fPendingExpiresAt, ms(r.PendingExpiresAt)}, {fReadyAt, ms(r.ReadyAt)},
		{fExpiresAt, ms(r.ExpiresAt)}, {fReviewDueAt, ms(r.ReviewDueAt)}, {fUpdatedAt, ms(r.UpdatedAt)},
		{fReview, review}, {fReviewTS, r.ReviewMessageTS}, {fGolden, r.Golden},
	}
	out := make([]any, 0, 2*len(fields))
	for _, f := range fields {
		if f[1] != "" {
			out = append(out, f[0], f[1])
		}
	}
	return out, nil
}

func eventFromDomain(e approvals.Event) eventDTO {
	return eventDTO{Type: e.Type, From: string(e.From), To: string(e.To), By: e.By, Note: e.Note, At: ms(e.At)}
}

// fromHash maps hash fields back to a request.
func fromHash(h map[string]string) (*approvals.Request, error) {
	r := &approvals.Request{
		ID:          h[fID],
		Requester:   h[fRequester],
		Via:         h[fVia],
		Team:        h[fTeam],
		Source:      h[fSource],
		PointInTime: h[fPointInTime] == "1",
		Tier:        h[fTier],
		Masking:     approvals.MaskLevel(h[fMasking]),
		Mode:        approvals.ApprovalMode(h[fMode]),
		Reason:      h[fReason],
		Channel:     h[fChannel],
		MessageTS:   h[fMessageTS],
		Status:      approvals.Status(h[fStatus]),
		Failure:     h[fFailure],
		Golden:      h[fGolden],

		ReviewMessageTS: h[fReviewTS],
	}
	times := []struct {
		field string
		dst   *time.Time
	}{
		{fDate, &r.Date}, {fCreatedAt, &r.CreatedAt}, {fPendingExpiresAt, &r.PendingExpiresAt},
		{fReadyAt, &r.ReadyAt}, {fExpiresAt, &r.ExpiresAt}, {fReviewDueAt, &r.ReviewDueAt}, {fUpdatedAt, &r.UpdatedAt},
	}
	for _, t := range times {
		v, err := parseMS(h[t.field])
		if err != nil {
			return nil, fmt.Errorf("request %s field %s: %w", r.ID, t.field, err)
		}
		*t.dst = v
	}
	var err error
	if r.TTL, err = parseDurationMS(h[fTTL]); err != nil {
		return nil, fmt.Errorf("request %s field %s: %w", r.ID, fTTL, err)
	}
	if r.MaxTTL, err = parseDurationMS(h[fMaxTTL]); err != nil {
		return nil, fmt.Errorf("request %s field %s: %w", r.ID, fMaxTTL, err)
	}
	if s := h[fSlots]; s != "" && s != "[]" {
		if err := json.Unmarshal([]byte(s), &r.Slots); err != nil {
			return nil, fmt.Errorf("request %s slots: %w", r.ID, err)
		}
	}
	if s := h[fBackup]; s != "" {
		if err := json.Unmarshal([]byte(s), &r.Backup); err != nil {
			return nil, fmt.Errorf("request %s backup: %w", r.ID, err)
		}
	}
	if s := h[fReview]; s != "" {
		var d reviewDTO
		if err := json.Unmarshal([]byte(s), &d); err != nil {
			return nil, fmt.Errorf("request %s review: %w", r.ID, err)
		}
		at, err := parseMS(d.At)
		if err != nil {
			return nil, fmt.Errorf("request %s review: %w", r.ID, err)
		}
		r.Review = &approvals.Review{By: d.By, Notes: d.Notes, At: at}
	}
	if s := h[fClone]; s != "" {
		r.Clone = &approvals.CloneInfo{}
		if err := json.Unmarshal([]byte(s), r.Clone); err != nil {
			return nil, fmt.Errorf("request %s clone: %w", r.ID, err)
		}
	}
	if r.Votes, err = decodeList(h[fVotes], voteDTO.domain); err != nil {
		return nil, fmt.Errorf("request %s votes: %w", r.ID, err)
	}
	if r.History, err = decodeList(h[fHistory], eventDTO.domain); err != nil {
		return nil, fmt.Errorf("request %s history: %w", r.ID, err)
	}
	return r, nil
}

// decodeList decodes a JSON array of DTOs and maps each to its domain value.
func decodeList[D, T any](s string, domain func(D) (T, error)) ([]T, error) {
	if s == "" || s == "[]" {
		return nil, nil
	}
	var dtos []D
	if err := json.Unmarshal([]byte(s), &dtos); err != nil {
		return nil, err
	}
	out := make([]T, 0, len(dtos))
	for _, d := range dtos {
		v, err := domain(d)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func (d voteDTO) domain() (approvals.Vote, error) {
	at, err := parseMS(d.At)
	return approvals.Vote{User: d.User, Decision: approvals.Decision(d.Decision), Slot: d.Slot, Eligible: d.Eligible, Reason: d.Reason, At: at}, err
}

func (d eventDTO) domain() (approvals.Event, error) {
	at, err := parseMS(d.At)
	return approvals.Event{Type: d.Type, From: approvals.Status(d.From), To: approvals.Status(d.To), By: d.By, Note: d.Note, At: at}, err
}
