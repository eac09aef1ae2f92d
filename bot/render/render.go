package render

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/clonebot/clonebot/approvals"
	"github.com/clonebot/clonebot/handlers"
)

// Action IDs of the buttons, and callback IDs of the modals.
const (
	ActionApprove    = "approve"
	ActionDeny       = "deny"
	ActionExtend     = "extend"
	ActionExtendCap  = "extend_to_cap" // the offer of a refused extension: to the tier's cap
	ActionDestroyNow = "destroy_now"
	ActionCancel     = "cancel"

	CallbackRequest = "request_clone"
	CallbackDeny    = "deny_reason"
	CallbackConfirm = "confirm_approval" // the modal a confirm: modal tier's Approve click opens
)

// ExtendBy is how much the Extend button adds (capped by the tier).
const ExtendBy = time.Hour

// Message is a Slack message: fallback text (notifications, screen readers) and blocks.
type Message struct {
	Text   string        `json:"text"`
	Blocks []slack.Block `json:"blocks"`
}

// Options returns the message as slack-go options for chat.postMessage and chat.update.
func (m Message) Options() []slack.MsgOption {
	return []slack.MsgOption{slack.MsgOptionText(m.Text, false), slack.MsgOptionBlocks(m.Blocks...)}
}

// Escape makes user text inert in mrkdwn: &, < and > become entities, so <!channel>, <@U…>
// and <http://…|…> are shown, not acted on.
func Escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// user mentions a Slack user ID; anything that is not an ID is escaped text.
func user(id string) string {
	if id == "" || id == "clonebot" {
		return "clonebot"
	}
	for _, c := range id {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return Escape(id)
		}
	}
	return "<@" + id + ">"
}

func mrkdwn(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, s, false, false)
}
func plain(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, s, false, false)
}

func section(s string) *slack.SectionBlock { return slack.NewSectionBlock(mrkdwn(s), nil, nil) }

func context(s string) *slack.ContextBlock { return slack.NewContextBlock("", mrkdwn(s)) }

func button(action, value, text, style string) *slack.ButtonBlockElement {
	b := slack.NewButtonBlockElement(action, value, plain(text))
	if style != "" {
		b.Style = slack.Style(style)
	}
	return b
}

// ttl writes a request's time to live with its cap, and how long it has in all once an
// extension moved its expiry.
func ttl(r *approvals.Request) string {
	s := approvals.FormatDuration(r.TTL)
	if !r.ReadyAt.IsZero() && !r.ExpiresAt.IsZero() {
		if life := r.ExpiresAt.Sub(r.ReadyAt); life.Round(time.Minute) != r.TTL.Round(time.Minute) {
			s += ", now " + approvals.FormatDuration(life)
		}
	}
	return s + " (max " + approvals.FormatDuration(r.MaxTTL) + ")"
}

// date writes a request's date: a day, or a point in time.
func date(r *approvals.Request) string {
	if r.PointInTime {
		return approvals.FormatTime(r.Date)
	}
	return r.Date.UTC().Format(time.DateOnly)
}

var statusEmoji = map[approvals.Status]string{
	approvals.StatusPending: ":hourglass_flowing_sand:", approvals.StatusApproved: ":white_check_mark:",
	approvals.StatusDenied: ":no_entry:", approvals.StatusExpired: ":clock5:", approvals.StatusCancelled: ":heavy_multiplication_x:",
	approvals.StatusProvisioning: ":gear:", approvals.StatusRestoring: ":inbox_tray:", approvals.StatusReady: ":large_green_circle:",
	approvals.StatusDestroying: ":wastebasket:", approvals.StatusDestroyed: ":white_circle:", approvals.StatusFailed: ":x:",
}

func state(s approvals.Status) string { return statusEmoji[s] + " " + string(s) }

// Card is the request card: everything about the request as stored, with Approve and Deny
// only while it is pending.
func Card(r *approvals.Request, now time.Time) Message {
	blocks := []slack.Block{
		slack.NewHeaderBlock(plain("Clone request " + r.ID)),
		section(fmt.Sprintf("%s asks for a clone of *%s* as of *%s*", user(r.Requester), Escape(r.Source), date(r))),
		slack.NewSectionBlock(nil, []*slack.TextBlockObject{
			mrkdwn("*Tier*\n" + Escape(r.Tier)),
			mrkdwn("*Masking*\n" + string(r.Masking)),
			mrkdwn("*TTL*\n" + ttl(r)),
			mrkdwn("*State*\n" + state(r.Status)),
		}, nil),
	}
	if r.Reason != "" {
		blocks = append(blocks, section("*Reason*\n"+Escape(r.Reason)))
	}
	if a := approvalsText(r); a != "" {
		blocks = append(blocks, section(a))
	}
	blocks = append(blocks, context(cardFooter(r, now)))
	if r.Status == approvals.StatusPending {
		blocks = append(blocks, slack.NewActionBlock("vote",
			button(ActionApprove, r.ID, "Approve", "primary"),
			button(ActionDeny, r.ID, "Deny", "danger")))
	}
	return Message{Text: fmt.Sprintf("Clone request %s by %s: %s as of %s, %s", r.ID, user(r.Requester), Escape(r.Source), date(r), r.Status), Blocks: blocks}
}

// approvalsText lists each approver slot with who fills it, who else may approve while it is
// pending, and any denial.
func approvalsText(r *approvals.Request) string {
	var lines []string
	var waiting []approvals.Principal
	filled := r.FilledSlots()
	for i, sl := range r.Slots {
		if filled[i] != "" {
			lines = append(lines, fmt.Sprintf(":white_check_mark: %s: %s", Escape(sl.Name), user(filled[i])))
			continue
		}
		waiting = append(waiting, sl.Approvers...)
		lines = append(lines, fmt.Sprintf(":white_square: %s: waiting (%s)", Escape(sl.Name), principals(sl.Approvers)))
	}
	// A filled slot the next approval could take: its holder would move to an open slot.
	if r.Status == approvals.StatusPending {
		var also []approvals.Principal
		for _, i := range r.NeededSlots() {
			for _, p := range r.Slots[i].Approvers {
				if filled[i] != "" && !slices.Contains(waiting, p) {
					also = append(also, p)
				}
			}
		}
		if len(also) > 0 {
			lines = append(lines, fmt.Sprintf(":arrows_counterclockwise: %s may approve too: the approvals so far move to the slot left open", principals(also)))
		}
	}
	for _, v := range r.Votes {
		if v.Decision == approvals.DecisionDeny {
			line := ":no_entry: denied by " + user(v.User)
			if v.Reason != "" {
				line += ": " + Escape(v.Reason)
			}
			lines = append(lines, line)
		}
	}
	if len(lines) == 0 {
		return ""
	}
	return "*Approvals*\n" + strings.Join(lines, "\n")
}

// principals lists ps once each, escaped.
func principals(ps []approvals.Principal) string {
	var out []string
	for _, p := range ps {
		if s := Escape(string(p)); !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return strings.Join(out, ", ")
}

func cardFooter(r *approvals.Request, now time.Time) string {
	parts := []string{"Requested " + approvals.FormatTime(r.CreatedAt)}
	switch {
	case r.Status == approvals.StatusPending:
		parts = append(parts, "expires at "+approvals.FormatTime(r.PendingExpiresAt)+" unless decided")
	case r.Status == approvals.StatusReady:
		parts = append(parts, fmt.Sprintf("expires %s (%s left), then destroyed", approvals.FormatTime(r.ExpiresAt), approvals.FormatDuration(r.TimeLeft(now))))
	case r.Status == approvals.StatusFailed && r.Failure != "":
		parts = append(parts, "failed: "+Escape(r.Failure))
	}
	if !r.ReviewDueAt.IsZero() {
		parts = append(parts, "break-glass review due "+approvals.FormatTime(r.ReviewDueAt))
	}
	return strings.Join(parts, " · ")
}

// Note is one timeline line in the thread: by ("" for clonebot) did text, at at.
func Note(by, text string, at time.Time) Message { return note(by, Escape(text), at) }

// note is Note with text already mrkdwn (user text in it escaped).
func note(by, text string, at time.Time) Message {
	line := fmt.Sprintf("%s %s", user(by), text)
	return Message{Text: line, Blocks: []slack.Block{context(approvals.FormatTime(at) + " · " + line)}}
}

// Vote is the timeline line of a counted vote (n, a vote notice) on r: who, as which approver
// (as the vote left the slots, with anyone it moved) and, for a denial, why.
func Vote(r *approvals.Request, n approvals.Notice) Message {
	v, _ := r.VoteOf(n.By)
	var text string
	switch {
	case v.Decision == approvals.DecisionDeny:
		text = "denied the request"
		if v.Reason != "" {
			text += ": " + Escape(v.Reason)
		}
	default:
		text = "approved"
		slot, moved, _ := r.ApprovalEffect(n.By)
		if slot >= 0 && slot < len(r.Slots) {
			text += " as " + Escape(r.Slots[slot].Name)
		}
		for _, m := range moved {
			text += fmt.Sprintf("; %s now counts as %s", user(m.User), Escape(r.Slots[m.To].Name))
		}
		if n.Outcome == approvals.VoteApproved {
			text += "; the request is approved"
		}
	}
	return note(n.By, text, n.At)
}

// Progress is the one status line in the thread, edited in place.
func Progress(r *approvals.Request, status string) Message {
	text := fmt.Sprintf(":gear: %s: %s", r.ID, Escape(status))
	return Message{Text: text, Blocks: []slack.Block{section(text)}}
}

// secretsManagerARN reports whether ref is an AWS Secrets Manager ARN.
func secretsManagerARN(ref string) bool { return strings.HasPrefix(ref, "arn:aws:secretsmanager:") }

// Ready says where the clone is and how to get its credentials. It never holds a password:
// only the reference to where the password is kept.
func Ready(r *approvals.Request) Message {
	c := r.Clone
	if c == nil {
		c = &approvals.CloneInfo{}
	}
	blocks := []slack.Block{
		section(fmt.Sprintf(":large_green_circle: *%s is ready* for %s: %s as of %s, %s.", r.ID, user(r.Requester), Escape(r.Source), date(r), r.Masking.Phrase())),
		slack.NewSectionBlock(nil, []*slack.TextBlockObject{
			mrkdwn("*Host*\n`" + Escape(c.Host) + "`"),
			mrkdwn(fmt.Sprintf("*Port*\n`%d`", c.Port)),
			mrkdwn("*Database*\n`" + Escape(c.Database) + "`"),
			mrkdwn("*User*\n`" + Escape(c.User) + "`"),
		}, nil),
		section("*Credentials*\n`" + Escape(c.CredentialRef) + "`"),
	}
	if secretsManagerARN(c.CredentialRef) {
		blocks = append(blocks, section("Get the password with:\n```aws secretsmanager get-secret-value --secret-id "+Escape(c.CredentialRef)+" --query SecretString --output text```"))
	} else {
		blocks = append(blocks, section("The password is in clonebot's local secret store under that reference."))
	}
	blocks = append(blocks, context(fmt.Sprintf("The password is never posted in Slack. The clone is destroyed at %s.", approvals.FormatTime(r.ExpiresAt))))
	return Message{Text: fmt.Sprintf("%s is ready: %s:%d/%s as %s", r.ID, Escape(c.Host), c.Port, Escape(c.Database), Escape(c.User)), Blocks: blocks}
}

// TTLWarning says when the clone will be destroyed, with Extend and Destroy-now buttons.
func TTLWarning(r *approvals.Request, left time.Duration) Message {
	text := fmt.Sprintf(":alarm_clock: %s: %s will be destroyed in %s, at %s.", user(r.Requester), r.ID, approvals.FormatDuration(left), approvals.FormatTime(r.ExpiresAt))
	return Message{Text: text, Blocks: []slack.Block{
		section(text),
		slack.NewActionBlock("ttl",
			button(ActionExtend, r.ID, "Extend "+approvals.FormatDuration(ExtendBy), "primary"),
			button(ActionDestroyNow, r.ID, "Destroy now", "danger")),
	}}
}

// PendingReminder tells the approvers still needed (mentions, already formatted by the caller
// from Slack IDs) that r expires in left, with the vote buttons.
func PendingReminder(r *approvals.Request, left time.Duration, mentions []string) Message {
	text := fmt.Sprintf(":bell: %s is waiting for approval and expires in %s, at %s.", r.ID, approvals.FormatDuration(left), approvals.FormatTime(r.PendingExpiresAt))
	if len(mentions) > 0 {
		text += " " + strings.Join(mentions, " ")
	}
	return Message{Text: text, Blocks: []slack.Block{
		section(text),
		slack.NewActionBlock("vote",
			button(ActionApprove, r.ID, "Approve", "primary"),
			button(ActionDeny, r.ID, "Deny", "danger")),
	}}
}

// SecurityAlert is a message for the security channel: by did text, about r if it is not nil.
func SecurityAlert(by, text string, r *approvals.Request) Message {
	line := fmt.Sprintf(":rotating_light: %s: %s", user(by), Escape(text))
	blocks := []slack.Block{section(line)}
	if r != nil && r.ID != "" {
		blocks = append(blocks, context(fmt.Sprintf("Request %s · requester %s · /clone status %s", r.ID, user(r.Requester), r.ID)))
	}
	return Message{Text: line, Blocks: blocks}
}

// Refusal is the ephemeral answer to bad input or a rule's "no": the sentence, its details,
// the valid choices are in them, and usage lines where the command was malformed.
func Refusal(text string, lines, usage []string) Message {
	return reply(":warning: "+Escape(text), lines, usage, nil, nil, time.Time{})
}

// WithOffer adds the button of a refusal's offer (handlers.Offer) to m.
func WithOffer(m Message, o handlers.Offer) Message {
	switch o.Kind {
	case handlers.OfferExtendToCap:
		m.Blocks = append(m.Blocks, slack.NewActionBlock("offer",
			button(ActionExtendCap, o.RequestID, fmt.Sprintf("Extend by %s, until %s", approvals.FormatDuration(o.By), approvals.FormatTime(o.Until)), "primary")))
	}
	return m
}

// Reply is an ephemeral answer to the person who acted.
func Reply(rep handlers.Reply, now time.Time) Message {
	return reply(Escape(rep.Text), rep.Lines, rep.Usage, rep.Requests, rep.Timeline, now)
}

func reply(text string, lines, usage []string, requests []*approvals.Request, timeline *approvals.Request, now time.Time) Message {
	blocks := []slack.Block{section(text)}
	if len(lines) > 0 {
		var b strings.Builder
		for _, l := range lines {
			b.WriteString("• " + Escape(l) + "\n")
		}
		blocks = append(blocks, section(strings.TrimSuffix(b.String(), "\n")))
	}
	for _, r := range requests {
		blocks = append(blocks, section(listLine(r, now)))
	}
	if r := timeline; r != nil {
		blocks = append(blocks, section(fmt.Sprintf("%s as of %s · tier %s · requested by %s", Escape(r.Source), date(r), Escape(r.Tier), user(r.Requester))))
		var b strings.Builder
		for _, e := range r.History {
			fmt.Fprintf(&b, "%s · %s by %s", approvals.FormatTime(e.At), Escape(e.Type), user(e.By))
			if e.Note != "" {
				b.WriteString(": " + Escape(e.Note))
			}
			b.WriteString("\n")
		}
		if b.Len() > 0 {
			blocks = append(blocks, section(strings.TrimSuffix(b.String(), "\n")))
		}
	}
	if len(usage) > 0 {
		blocks = append(blocks, section("```"+Escape(strings.Join(usage, "\n"))+"```"))
	}
	return Message{Text: text, Blocks: blocks}
}

// listLine is one request in a list: id, what, state and time left.
func listLine(r *approvals.Request, now time.Time) string {
	s := fmt.Sprintf("*%s* · %s as of %s · %s · %s", r.ID, Escape(r.Source), date(r), Escape(r.Tier), state(r.Status))
	if r.Status == approvals.StatusReady {
		s += " · " + approvals.FormatDuration(r.TimeLeft(now)) + " left"
	}
	if r.Requester != "" {
		s += " · " + user(r.Requester)
	}
	return s
}

// Failure is what a person sees when something broke: the reference to look up in the logs.
func Failure(ref string) Message {
	text := fmt.Sprintf(":x: Something went wrong on clonebot's side. Give the operators this reference: `%s`.", Escape(ref))
	return Message{Text: text, Blocks: []slack.Block{section(text)}}
}
