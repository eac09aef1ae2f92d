package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/slack-go/slack"

	"github.com/clonebot/clonebot/approvals"
	"github.com/clonebot/clonebot/bot/render"
)

// The rest of the story, after the staging clone is in use: a debug request that needs two
// distinct approvers, a denied request, and a break-glass clone from an incident channel with
// its security alert and review.

// goldenCopy drives the scheduled build of the golden copy the policy asks for (prod at full
// masking): a policy with a schedule that has never built builds at its first pass.
func (w *world) goldenCopy(ctx context.Context) error {
	w.say("before anyone asks: clonebot builds the scheduled golden copy of prod (full masking) from its newest backup")
	for pass := 0; pass < 10; pass++ {
		if err := w.app.Lifecycle.Tick(ctx); err != nil {
			return fmt.Errorf("lifecycle pass: %w", err)
		}
		w.flush(ctx)
		gs, err := w.store.Goldens(ctx)
		if err != nil {
			return err
		}
		for _, g := range gs {
			switch {
			case g.Status == approvals.GoldenReady:
				return nil
			case g.Status == approvals.GoldenFailed:
				return fmt.Errorf("golden copy %s failed: %s", g.ID, g.Failure)
			}
		}
		if err := w.restore(ctx); err != nil {
			return err
		}
	}
	return errors.New("the golden copy is not ready after 10 lifecycle passes")
}

// thinCopy: dana asks for a fully masked copy of the latest backup (the dev tier, approved
// automatically); it is a thin copy of the golden copy, ready in a fraction of the restore's time.
func (w *world) thinCopy(ctx context.Context, restored time.Duration) error {
	w.say("dana also wants a fully masked copy of the latest backup: the dev tier, approved automatically and served from the golden copy")
	start := time.Now()
	w.command(ctx, developer, "C0GENERAL", `prod latest reason="check the refunds report"`)
	r, err := w.newest(ctx, developer)
	if err != nil {
		return err
	}
	if r.Golden == "" {
		return fmt.Errorf("request %s was not served from the golden copy", r.ID)
	}
	if r, err = w.untilReady(ctx, r, "the lifecycle makes a thin copy of the golden copy: no restore"); err != nil {
		return err
	}
	w.say("time to ready: %s as a thin copy of golden copy %s; %s for dana's staging clone, restored from its backup (the gap grows with the database: make bench-access)",
		time.Since(start).Round(10*time.Millisecond), r.Golden, restored.Round(10*time.Millisecond))
	w.command(ctx, developer, "C0GENERAL", "destroy "+r.ID)
	_, err = w.untilGone(ctx, r.ID)
	return err
}

// newest returns the request user made last (the one the demo has not seen yet).
func (w *world) newest(ctx context.Context, user string) (*approvals.Request, error) {
	rs, err := w.store.ListActive(ctx)
	if err != nil {
		return nil, err
	}
	var found *approvals.Request
	for _, r := range rs {
		if r.Requester == user && !w.seen[r.ID] {
			if found != nil {
				return nil, fmt.Errorf("%s has two new requests, %s and %s", w.thread.name(user), found.ID, r.ID)
			}
			found = r
		}
	}
	if found == nil {
		return nil, fmt.Errorf("no new request of %s", w.thread.name(user))
	}
	w.seen[found.ID] = true
	return found, nil
}

// want fails unless r (re-read) is in status s.
func (w *world) want(ctx context.Context, id string, s approvals.Status, after string) (*approvals.Request, error) {
	r, err := w.store.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if r.Status != s {
		return nil, fmt.Errorf("after %s: request %s is %s, want %s", after, id, r.Status, s)
	}
	return r, nil
}

// submit is user pressing a modal's submit button (label) on the last modal opened for them.
func (w *world) submit(ctx context.Context, user, callbackID, label string, values map[string]map[string]slack.BlockAction) error {
	opens := w.fake.CallsTo("views.open")
	for i := len(opens) - 1; i >= 0; i-- {
		var req struct {
			TriggerID string                 `json:"trigger_id"`
			View      slack.ModalViewRequest `json:"view"`
		}
		if err := json.Unmarshal(opens[i].JSON, &req); err != nil || req.View.CallbackID != callbackID || w.thread.viewer[req.TriggerID] != user {
			continue
		}
		fmt.Fprintf(w.out, "%-20s [%s]\n", w.thread.name(user)+" submits", label)
		w.app.Bot.Interaction(ctx, w.fake.ViewSubmission(user, callbackID, req.View.PrivateMetadata, values))
		w.flush(ctx)
		return nil
	}
	return fmt.Errorf("no %s modal was opened for %s", callbackID, w.thread.name(user))
}

// text is one text input's value, as a modal submission carries it.
func text(input, value string) map[string]map[string]slack.BlockAction {
	return map[string]map[string]slack.BlockAction{input: {input: {Value: value}}}
}

// dual: omar, on call, asks for an unmasked debug copy; kim (on call) and sam (security)
// approve, each confirming in a modal; kim's second click does not count twice.
func (w *world) dual(ctx context.Context) error {
	w.say("omar (on call) needs the raw data of one customer's double charge: the debug tier, unmasked, needs two distinct approvers")
	w.command(ctx, oncall, "C0GENERAL", `prod latest tier=debug ttl=2h reason="INC-4398 double charge on one order"`)
	r, err := w.newest(ctx, oncall)
	if err != nil {
		return err
	}
	w.say("the debug tier asks each approver to confirm what they approve in a modal")
	w.click(ctx, peer, r, render.ActionApprove, "Approve")
	if err := w.submit(ctx, peer, render.CallbackConfirm, "Approve", nil); err != nil {
		return err
	}
	w.say("kim clicks Approve again: one person counts once")
	w.click(ctx, peer, r, render.ActionApprove, "Approve")
	if r, err = w.want(ctx, r.ID, approvals.StatusPending, "kim's second click"); err != nil {
		return err
	}
	w.click(ctx, security, r, render.ActionApprove, "Approve")
	if err := w.submit(ctx, security, render.CallbackConfirm, "Approve", nil); err != nil {
		return err
	}
	if r, err = w.want(ctx, r.ID, approvals.StatusApproved, "the second approver"); err != nil {
		return err
	}
	if r, err = w.untilReady(ctx, r, "the debug clone is restored without masking"); err != nil {
		return err
	}
	w.say("omar has what he needs and destroys the clone himself")
	w.command(ctx, oncall, "C0GENERAL", "destroy "+r.ID)
	_, err = w.untilGone(ctx, r.ID)
	return err
}

// deny: dana asks for a second staging copy; lee denies it with a reason.
func (w *world) deny(ctx context.Context) error {
	w.say("dana asks for a second staging copy for a load test; lee thinks the dev tier is enough")
	w.command(ctx, developer, "C0GENERAL", `prod latest tier=staging reason="load test of the refunds job"`)
	r, err := w.newest(ctx, developer)
	if err != nil {
		return err
	}
	w.click(ctx, lead, r, render.ActionDeny, "Deny")
	if err := w.submit(ctx, lead, render.CallbackDeny, "Deny", text(render.InputReason, "the dev tier (fully masked) is enough for a load test")); err != nil {
		return err
	}
	_, err = w.want(ctx, r.ID, approvals.StatusDenied, "the denial")
	return err
}

// breakGlass: omar takes an unmasked copy from the incident's channel at once; security is
// alerted; when its 30 minutes are up it is destroyed and security reviews it.
func (w *world) breakGlass(ctx context.Context) error {
	w.say("checkout is down (INC-4411): omar takes a break-glass copy from the incident channel, no approval needed")
	w.command(ctx, oncall, incidentChannel, `breakglass prod reason="INC-4411 checkout returns 500s"`)
	r, err := w.newest(ctx, oncall)
	if err != nil {
		return err
	}
	if !w.posted(securityChannel, r.ID) {
		return fmt.Errorf("no security alert for break-glass %s", r.ID)
	}
	if r, err = w.untilReady(ctx, r, "the break-glass clone is restored without masking"); err != nil {
		return err
	}
	w.advance(r.ExpiresAt.Add(time.Second))
	w.say("the break-glass clone's 30 minutes are up")
	if r, err = w.untilGone(ctx, r.ID); err != nil {
		return err
	}
	if !r.NeedsReview() || r.ReviewMessageTS == "" {
		return fmt.Errorf("break-glass %s ended without a review task", r.ID)
	}
	w.say("sam (security) reviews the break-glass access from the task in #security-alerts")
	w.press(ctx, security, securityChannel, r.ReviewMessageTS, r.ID, render.ActionReview, "Reviewed")
	if err := w.submit(ctx, security, render.CallbackReview, "Reviewed", text(render.InputNotes, "queries match the INC-4411 timeline; no export")); err != nil {
		return err
	}
	if r, err = w.store.Get(ctx, r.ID); err != nil {
		return err
	}
	if r.Review == nil || r.NeedsReview() {
		return fmt.Errorf("break-glass %s is not reviewed after sam's review", r.ID)
	}
	return nil
}

// untilGone runs lifecycle passes until the request's clone is destroyed.
func (w *world) untilGone(ctx context.Context, id string) (*approvals.Request, error) {
	for pass := 0; pass < 5; pass++ {
		r, err := w.tick(ctx, id)
		if err != nil {
			return nil, err
		}
		if r.Status == approvals.StatusDestroyed {
			return r, nil
		}
	}
	r, err := w.store.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("request %s is %s after 5 lifecycle passes, want destroyed", id, r.Status)
}

// audited moves the audit outbox into the hash-chained log on PostgreSQL, verifies it, and
// shows security's report.
func (w *world) audited(ctx context.Context) error {
	appended, v, err := w.app.AuditNow(ctx)
	if err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	w.say("every step above is in the audit log: the outbox moved to the hash chain on PostgreSQL")
	fmt.Fprintf(w.out, "  audit log: %d events appended; clonebot audit verify: %d rows, chain intact, last hash %s\n", appended, v.Rows, v.Head.Hash)
	if v.Rows == 0 || int64(appended) != v.Rows {
		return fmt.Errorf("audit log: %d events appended, %d rows verified", appended, v.Rows)
	}
	w.command(ctx, security, securityChannel, "report 1d")
	return nil
}
