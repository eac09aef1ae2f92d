package render

import (
	"fmt"
	"time"

	"github.com/slack-go/slack"

	"github.com/clonebot/clonebot/approvals"
)

// The Reviewed button of a break-glass review task, and its notes modal.
const (
	ActionReview   = "review"
	CallbackReview = "review_notes"
	InputNotes     = "notes"
)

// ReviewTask is the post-incident review task of an ended break-glass clone, in the security
// channel: who had which unmasked data, when, for how long and why, where its thread is, and a
// Reviewed button for the security team; once reviewed, who reviewed it and their notes.
func ReviewTask(r *approvals.Request, now time.Time) Message {
	ended := r.UpdatedAt
	for _, e := range r.History {
		if e.To == approvals.StatusDestroyed {
			ended = e.At
		}
	}
	start := r.ReadyAt
	if start.IsZero() {
		start = r.CreatedAt
	}
	text := fmt.Sprintf(":mag: Break-glass review %s: %s had an unmasked clone of %s from %s to %s (%s). Reason: %s",
		r.ID, user(r.Requester), Escape(r.Source), approvals.FormatTime(start), approvals.FormatTime(ended), approvals.FormatDuration(ended.Sub(start)), Escape(r.Reason))
	blocks := []slack.Block{
		section(text),
		context(fmt.Sprintf("Its thread is under the request card in <#%s> · /clone status %s", r.Channel, r.ID)),
	}
	switch {
	case r.Review != nil:
		line := fmt.Sprintf(":white_check_mark: Reviewed by %s at %s", user(r.Review.By), approvals.FormatTime(r.Review.At))
		if r.Review.Notes != "" {
			line += ": " + Escape(r.Review.Notes)
		}
		blocks = append(blocks, section(line))
	default:
		due := "Review due by " + approvals.FormatTime(r.ReviewDueAt)
		if !r.ReviewDueAt.IsZero() && now.After(r.ReviewDueAt) {
			due = ":warning: Review overdue since " + approvals.FormatTime(r.ReviewDueAt)
		}
		blocks = append(blocks, context(due+" · the requester may not review it"),
			slack.NewActionBlock("review", button(ActionReview, r.ID, "Reviewed", "primary")))
	}
	return Message{Text: text, Blocks: blocks}
}

// ReviewDue reminds the security team that r's review is overdue, with the Reviewed button.
func ReviewDue(r *approvals.Request) Message {
	text := fmt.Sprintf(":alarm_clock: The post-incident review of break-glass clone %s (%s) is overdue since %s.", r.ID, user(r.Requester), approvals.FormatTime(r.ReviewDueAt))
	return Message{Text: text, Blocks: []slack.Block{section(text),
		slack.NewActionBlock("review", button(ActionReview, r.ID, "Reviewed", "primary"))}}
}

// ReviewModal asks the reviewer for their notes before the review is recorded.
func ReviewModal(requestID, privateMetadata string) slack.ModalViewRequest {
	return textModal(CallbackReview, "Review "+requestID, "Reviewed", InputNotes, "Notes", "What was accessed and why; follow-ups", true, privateMetadata)
}
