package render

import (
	"fmt"
	"time"

	"github.com/slack-go/slack"

	"github.com/clonebot/clonebot/approvals"
	"github.com/clonebot/clonebot/handlers"
)

// Input block and action IDs of the request modal.
const (
	InputSource = "source"
	InputDate   = "date"
	InputTier   = "tier"
	InputTTL    = "ttl"
	InputReason = "reason"
)

// Home is a person's App Home tab: their clones with time left and buttons, and the requests
// waiting for their approval.
func Home(h handlers.Home, now time.Time) slack.HomeTabViewRequest {
	blocks := []slack.Block{slack.NewHeaderBlock(plain("Your clones"))}
	if len(h.Mine) == 0 {
		blocks = append(blocks, section("You have no active clones. Type `/clone` to request one."))
	}
	for _, r := range h.Mine {
		s := slack.NewSectionBlock(mrkdwn(listLine(r, now)), nil, nil, slack.SectionBlockOptionBlockID("mine-"+r.ID))
		blocks = append(blocks, s)
		switch r.Status {
		case approvals.StatusReady:
			blocks = append(blocks, slack.NewActionBlock("mine-actions-"+r.ID,
				button(ActionExtend, r.ID, "Extend "+approvals.FormatDuration(ExtendBy), "primary"),
				button(ActionDestroyNow, r.ID, "Destroy now", "danger")))
		case approvals.StatusPending:
			blocks = append(blocks, slack.NewActionBlock("mine-actions-"+r.ID, button(ActionCancel, r.ID, "Cancel request", "")))
		}
	}
	blocks = append(blocks, slack.NewDividerBlock(), slack.NewHeaderBlock(plain("Waiting for your approval")))
	if len(h.Awaiting) == 0 {
		blocks = append(blocks, section("Nothing is waiting for you."))
	}
	for _, r := range h.Awaiting {
		line := listLine(r, now)
		if r.Reason != "" {
			line += "\n" + Escape(r.Reason)
		}
		blocks = append(blocks,
			slack.NewSectionBlock(mrkdwn(line), nil, nil, slack.SectionBlockOptionBlockID("await-"+r.ID)),
			slack.NewActionBlock("await-actions-"+r.ID,
				button(ActionApprove, r.ID, "Approve", "primary"),
				button(ActionDeny, r.ID, "Deny", "danger")))
	}
	if len(h.Reviews) > 0 {
		blocks = append(blocks, slack.NewDividerBlock(), slack.NewHeaderBlock(plain("Break-glass clones waiting for your review")))
		for _, r := range h.Reviews {
			line := fmt.Sprintf("*%s* · %s · %s · review due %s", r.ID, Escape(r.Source), user(r.Requester), approvals.FormatTime(r.ReviewDueAt))
			blocks = append(blocks,
				slack.NewSectionBlock(mrkdwn(line), nil, nil, slack.SectionBlockOptionBlockID("review-"+r.ID)),
				slack.NewActionBlock("review-actions-"+r.ID, button(ActionReview, r.ID, "Reviewed", "primary")))
		}
	}
	blocks = append(blocks, context("Updated "+approvals.FormatTime(now)))
	return slack.HomeTabViewRequest{Type: slack.VTHomeTab, Blocks: slack.Blocks{BlockSet: blocks}}
}

// RequestModal is the form /clone opens. privateMetadata carries where to answer.
func RequestModal(p *approvals.Policy, privateMetadata string) slack.ModalViewRequest {
	var sources []*slack.OptionBlockObject
	for _, s := range p.SourceNames() {
		sources = append(sources, slack.NewOptionBlockObject(s, plain(s), nil))
	}
	var tiers []*slack.OptionBlockObject
	for _, name := range p.TierNames() {
		t := p.Tiers[name]
		if t.Approval == approvals.ModeBreakGlass {
			continue
		}
		desc := fmt.Sprintf("%s masking, %s approval, up to %s", t.Masking, t.Approval, approvals.FormatDuration(time.Duration(t.MaxTTL)))
		tiers = append(tiers, slack.NewOptionBlockObject(name, plain(name), plain(desc)))
	}
	source := slack.NewInputBlock(InputSource, plain("Source"), nil,
		slack.NewOptionsSelectBlockElement(slack.OptTypeStatic, plain("Database"), InputSource, sources...))
	dateEl := slack.NewPlainTextInputBlockElement(plain("latest, yesterday, 2024-05-01 or 2024-05-01T13:45:00Z"), InputDate)
	dateEl.InitialValue = "latest"
	tier := slack.NewInputBlock(InputTier, plain("Tier"), plain("Default: "+p.DefaultTier),
		slack.NewOptionsSelectBlockElement(slack.OptTypeStatic, plain("Tier"), InputTier, tiers...))
	tier.Optional = true
	ttl := slack.NewInputBlock(InputTTL, plain("Time to live"), plain("Like 4h or 90m; default: the tier's"),
		slack.NewPlainTextInputBlockElement(plain("4h"), InputTTL))
	ttl.Optional = true
	reasonEl := slack.NewPlainTextInputBlockElement(plain("What is the clone for?"), InputReason)
	reasonEl.Multiline = true
	reason := slack.NewInputBlock(InputReason, plain("Reason"), nil, reasonEl)
	reason.Optional = true
	return slack.ModalViewRequest{
		Type: slack.VTModal, CallbackID: CallbackRequest, PrivateMetadata: privateMetadata,
		Title: plain("Request a clone"), Submit: plain("Request"), Close: plain("Cancel"),
		Blocks: slack.Blocks{BlockSet: []slack.Block{source, slack.NewInputBlock(InputDate, plain("Date"), nil, dateEl), tier, ttl, reason}},
	}
}

// DenyModal asks an approver why they deny. privateMetadata carries the request and channel.
func DenyModal(requestID, privateMetadata string) slack.ModalViewRequest {
	return textModal(CallbackDeny, "Deny "+requestID, "Deny", InputReason, "Reason", "Why? The requester sees this.", false, privateMetadata)
}

// textModal is a modal with one multi-line text input.
func textModal(callback, title, submit, input, label, placeholder string, optional bool, privateMetadata string) slack.ModalViewRequest {
	el := slack.NewPlainTextInputBlockElement(plain(placeholder), input)
	el.Multiline = true
	block := slack.NewInputBlock(input, plain(label), nil, el)
	block.Optional = optional
	return slack.ModalViewRequest{
		Type: slack.VTModal, CallbackID: callback, PrivateMetadata: privateMetadata,
		Title: plain(title), Submit: plain(submit), Close: plain("Back"),
		Blocks: slack.Blocks{BlockSet: []slack.Block{block}},
	}
}

// ConfirmModal restates what an approver is about to approve, for tiers whose approvers
// confirm in a modal: requester, source, date, masking, duration, reason and the approvals so
// far. Only its submission approves. privateMetadata carries the request and channel.
func ConfirmModal(r *approvals.Request, privateMetadata string) slack.ModalViewRequest {
	what := fmt.Sprintf("You are approving a copy of *%s* with *%s* masking.", Escape(r.Source), r.Masking)
	if r.Masking == approvals.MaskNone {
		what = fmt.Sprintf(":warning: You are approving an *unmasked* copy of *%s*: real production data, nothing masked.", Escape(r.Source))
	}
	reason := "_no reason given_"
	if r.Reason != "" {
		reason = Escape(r.Reason)
	}
	blocks := []slack.Block{
		section(what),
		slack.NewSectionBlock(nil, []*slack.TextBlockObject{
			mrkdwn("*Requester*\n" + user(r.Requester)),
			mrkdwn("*Source*\n" + Escape(r.Source)),
			mrkdwn("*Date*\n" + date(r)),
			mrkdwn("*Masking*\n" + string(r.Masking)),
			mrkdwn("*Duration*\n" + approvals.FormatDuration(r.TTL) + " (extensions up to " + approvals.FormatDuration(r.MaxTTL) + " in total)"),
			mrkdwn("*Tier*\n" + Escape(r.Tier)),
		}, nil),
		section("*Reason*\n" + reason),
	}
	if a := approvalsText(r); a != "" {
		blocks = append(blocks, section(a))
	}
	blocks = append(blocks, context("Nothing is approved until you press Approve here; Cancel changes nothing."))
	return slack.ModalViewRequest{
		Type: slack.VTModal, CallbackID: CallbackConfirm, PrivateMetadata: privateMetadata,
		Title: plain("Approve " + r.ID + "?"), Submit: plain("Approve"), Close: plain("Cancel"),
		Blocks: slack.Blocks{BlockSet: blocks},
	}
}
