package handlers

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/clonebot/clonebot/approvals"
	"github.com/clonebot/clonebot/provisioner"
)

// When is the date a clone is asked for: the newest backup, a day, or a point in time.
type When struct {
	Latest      bool
	At          time.Time
	PointInTime bool
}

// CloneInput is a clone request as typed or filled in the form.
type CloneInput struct {
	// ID, when set, is the id the request must have (an API idempotency record drew it, so a
	// retry after a crash cannot make a second clone); taken already, the request is refused
	// with EConflict. "" draws one.
	ID     string
	Source string
	When   When
	Tier   string        // "" for the policy's default
	TTL    time.Duration // 0 for the tier's default
	Reason string
}

// maxCreateAttempts bounds redraws of a request id that is already taken.
const maxCreateAttempts = 3

// RequestClone evaluates a request against the policy, finds its backup, stores it (pending,
// or approved for automatic tiers), posts its card and, when approved, starts the lifecycle.
func (s *Service) RequestClone(ctx context.Context, a Actor, in CloneInput) (Reply, error) {
	return s.request(ctx, a, in, false)
}

// BreakGlass gives an on-call engineer an unmasked clone of source's newest backup at once,
// only from an incident channel, and alerts security.
func (s *Service) BreakGlass(ctx context.Context, a Actor, source, reason string) (Reply, error) {
	if strings.TrimSpace(reason) == "" {
		return Reply{}, refuse(EInvalid, `Break-glass needs a reason: /clone breakglass %s reason="INC-123 what is broken"`, source)
	}
	return s.request(ctx, a, CloneInput{Source: source, When: When{Latest: true}, Reason: reason}, true)
}

func (s *Service) request(ctx context.Context, a Actor, in CloneInput, breakGlass bool) (Reply, error) {
	now := s.now()

	// step 1: who is asking, what the policy says, and the backup the clone is made from.
	p, err := s.plan(ctx, a, in, breakGlass)
	if err != nil {
		var refusal *Error
		if errors.As(err, &refusal) {
			s.requests.WithLabelValues(cmp.Or(in.Tier, "default"), "refused").Inc()
		}
		return Reply{}, err
	}
	out := p.out

	// step 2: store it, with the backup it is to be made from (a golden copy's, when one
	// serves it) and, for break-glass, the security alert; a taken id is drawn again.
	r := p.draft(a, in)
	golden, err := s.servingGolden(ctx, in.Source, out.Masking, in.When)
	if err != nil {
		return Reply{}, err
	}
	if golden != nil && !breakGlass {
		fromGolden(r, golden)
	}
	r.Channel, r.Status = s.cardChannel(a, breakGlass), approvals.StatusPending
	r.CreatedAt, r.UpdatedAt, r.PendingExpiresAt = now, now, now.Add(out.PendingExpiry)
	if out.AutoApproved() {
		r.Status = approvals.StatusApproved
	}
	if out.ReviewWithin > 0 {
		r.ReviewDueAt = now.Add(out.ReviewWithin)
	}
	tier := s.policy.Tiers[out.Tier]
	lim := approvals.Limits{PerUser: tier.Quota.PerUser, PerTeam: tier.Quota.PerTeam}
	for attempt := 1; ; attempt++ {
		r.ID = cmp.Or(in.ID, approvals.NewID())
		var say []approvals.Notice
		if out.AlertSecurity {
			say = append(say, approvals.Notice{Kind: approvals.NoticeAlert, By: r.Requester, Text: fmt.Sprintf(
				"Break-glass: unmasked clone %s of %s (newest backup, %s), ttl %s, taken in an incident channel. Reason: %s. Post-incident review due by %s.",
				r.ID, r.Source, when(r), approvals.FormatDuration(r.TTL), r.Reason, approvals.FormatTime(r.ReviewDueAt))})
		}
		err = s.store.Create(ctx, r, lim, say...)
		if errors.Is(err, approvals.ErrGoldenGone) && attempt < maxCreateAttempts {
			// retired between the look and the create: restored from the backup instead.
			fresh := p.draft(a, in)
			r.Golden, r.Date, r.Backup, r.PointInTime = "", fresh.Date, fresh.Backup, fresh.PointInTime
			continue
		}
		if !errors.Is(err, approvals.ErrExists) || in.ID != "" || attempt == maxCreateAttempts {
			break
		}
	}
	if errors.Is(err, approvals.ErrExists) && in.ID != "" {
		return Reply{}, refuse(EConflict, "A request %s exists already.", in.ID)
	}
	if errors.Is(err, approvals.ErrQuotaExceeded) {
		return Reply{}, refuse(EQuota, "You or your team are at the %s tier's limit of active clones; destroy one first (/clone list).", out.Tier)
	}
	if err != nil {
		return Reply{}, err
	}

	// step 3: start the clone if it is approved.
	if r.Status == approvals.StatusApproved {
		s.requests.WithLabelValues(r.Tier, "auto_approved").Inc()
		// The lifecycle's reconcile loop picks up approved requests, so a failed wake-up is
		// logged and the loop finds it on its next pass.
		if err := s.lifecycle.Approved(ctx, r); err != nil {
			s.log.Error("lifecycle start", zap.String("request_id", r.ID), zap.Error(err))
		}
		return Reply{Text: fmt.Sprintf("%s approved automatically: %s as of %s, tier %s (%s), ttl %s%s. Progress follows in the request's thread.",
			r.ID, r.Source, when(r), r.Tier, r.Masking.Phrase(), approvals.FormatDuration(r.TTL), thinNote(r)), Request: r}, nil
	}
	s.requests.WithLabelValues(r.Tier, "pending").Inc()
	return Reply{
		Request: r,
		Text: fmt.Sprintf("%s requested: %s as of %s, tier %s (%s), ttl %s%s.",
			r.ID, r.Source, when(r), r.Tier, r.Masking.Phrase(), approvals.FormatDuration(r.TTL), thinNote(r)),
		Lines: append(slotLines(r.Slots),
			fmt.Sprintf("If nobody decides, it expires at %s; /clone cancel %s withdraws it.", approvals.FormatTime(r.PendingExpiresAt), r.ID)),
	}, nil
}

// thinNote says that r is made from a golden copy.
func thinNote(r *approvals.Request) string {
	if r.Golden == "" {
		return ""
	}
	return ", a thin copy of golden copy " + r.Golden
}

// plan is what a request would be: who asks, the policy's outcome and the backup.
type plan struct {
	user   User
	out    approvals.Outcome
	backup provisioner.Backup
}

// draft is the request the plan makes of in: not stored yet, without id, status or times.
func (p plan) draft(a Actor, in CloneInput) *approvals.Request {
	u, out, b := p.user, p.out, p.backup
	return &approvals.Request{
		Requester: u.ID, Team: u.Team, Source: in.Source, Date: b.Date, PointInTime: b.Kind == provisioner.BackupPointInTime,
		Tier: out.Tier, Masking: out.Masking, Mode: out.Mode, Slots: out.Slots, TTL: out.TTL, MaxTTL: out.MaxTTL,
		Reason: in.Reason, Via: a.Via,
		Backup: approvals.Backup{Kind: string(b.Kind), Location: b.Location, Size: b.Size, Checksum: b.Checksum},
	}
}

// plan looks the requester up, applies the policy and finds the backup; a policy's refusal or
// a date without a backup is an *Error.
func (s *Service) plan(ctx context.Context, a Actor, in CloneInput, breakGlass bool) (plan, error) {
	u, err := s.user(ctx, a.User)
	if err != nil {
		return plan{}, err
	}
	out, err := s.evaluate(ctx, a, u, in, breakGlass)
	if err != nil {
		return plan{}, err
	}
	if out.Refusal != nil {
		return plan{}, refusal(out.Refusal)
	}
	b, err := s.backup(ctx, in.Source, in.When)
	if err != nil {
		return plan{}, err
	}
	return plan{user: u, out: out, backup: b}, nil
}

// evaluate applies the policy with what the store and the directory know of the requester.
func (s *Service) evaluate(ctx context.Context, a Actor, u User, in CloneInput, breakGlass bool) (approvals.Outcome, error) {
	mine, err := s.store.ActiveCount(ctx, u.ID)
	if err != nil {
		return approvals.Outcome{}, err
	}
	team := 0
	if u.Team != "" {
		active, err := s.store.ListActive(ctx)
		if err != nil {
			return approvals.Outcome{}, err
		}
		for _, r := range active {
			if r.Team == u.Team {
				team++
			}
		}
	}
	channelName := ""
	if breakGlass && a.Channel != "" {
		if channelName, err = s.dir.ChannelName(ctx, a.Channel); err != nil {
			return approvals.Outcome{}, fmt.Errorf("look up channel %s: %w", a.Channel, err)
		}
	}
	return approvals.Evaluate(s.policy, approvals.Input{
		Requester: u.ID, Groups: u.Groups, Team: u.Team, Source: in.Source, Tier: in.Tier, TTL: in.TTL,
		BreakGlass: breakGlass, ChannelID: a.Channel, ChannelName: channelName, Now: s.now(),
		ActiveForUser: mine, ActiveForTeam: team,
	}), nil
}

// cardChannel is where a request's card goes: the incident channel for break-glass, else the
// policy's request channel, else where the command was typed, else the requester's DM.
func (s *Service) cardChannel(a Actor, breakGlass bool) string {
	switch {
	case breakGlass && a.Channel != "":
		return a.Channel
	case s.policy.RequestChannel != "":
		return s.policy.RequestChannel
	case a.Channel != "":
		return a.Channel
	}
	return a.User
}

// backup finds the backup a request is made from, answering a date with no backup with the
// nearest dates that have one.
func (s *Service) backup(ctx context.Context, source string, w When) (provisioner.Backup, error) {
	at := w.At
	var b provisioner.Backup
	var err error
	if w.Latest {
		at = s.now()
		b, err = provisioner.Latest(ctx, s.catalogue, source, at)
	} else {
		b, err = s.catalogue.Find(ctx, source, at)
	}
	var nb *provisioner.NoBackupError
	if errors.As(err, &nb) {
		e := refuse(ENotFound, "There is no backup of %s for %s.", source, day(nb.Date))
		if len(nb.Nearest) == 0 {
			e.Message = fmt.Sprintf("There are no backups of %s at all.", source)
		}
		for _, d := range nb.Nearest {
			e.Options = append(e.Options, day(d))
		}
		if len(e.Options) > 0 {
			e.Lines = []string{"Nearest dates with a backup: " + strings.Join(e.Options, ", "), "/clone backups " + source + " lists them all."}
		}
		return provisioner.Backup{}, e
	}
	if err != nil {
		return provisioner.Backup{}, fmt.Errorf("find backup of %s for %s: %w", source, day(at), err)
	}
	return b, nil
}

// Explain is a dry run: which tier, approvers, masking, strategy, TTL and estimated time a
// request would get. Nothing is created.
func (s *Service) Explain(ctx context.Context, a Actor, in CloneInput) (Reply, error) {
	p, err := s.plan(ctx, a, in, false)
	if err != nil {
		return Reply{}, err
	}
	out, b := p.out, p.backup
	approval := "automatic"
	switch out.Mode {
	case approvals.ModeSingle:
		approval = "one approver"
	case approvals.ModeDual:
		approval = "two distinct approvers, one per slot"
	}
	if out.Mode != approvals.ModeAuto && out.Mode != approvals.ModeBreakGlass && s.policy.Tiers[out.Tier].ConfirmsInModal() {
		approval += ", each confirming in a modal that restates the request"
	}
	src := s.policy.Sources[in.Source]
	draft := p.draft(a, in)
	golden, err := s.servingGolden(ctx, in.Source, out.Masking, in.When)
	if err != nil {
		return Reply{}, err
	}
	strategy := fmt.Sprintf("Strategy: %s from %s", out.Strategy, backupLine(b))
	eta := "Estimated time to ready: " + estimate(src, b)
	if golden != nil {
		fromGolden(draft, golden)
		b.Date = golden.BackupDate
		strategy = fmt.Sprintf("Strategy: thin copy of golden copy %s (generation %d, %s, backup of %s)",
			golden.Line(), golden.Generation, golden.ID, day(golden.BackupDate))
		eta = "Estimated time to ready: " + thinCopyTime(src)
	}
	lines := []string{
		fmt.Sprintf("Tier: %s (%s)", out.Tier, out.Masking.Phrase()),
		"Approval: " + approval,
	}
	lines = append(lines, slotLines(out.Slots)...)
	goldens, err := s.goldenLines(ctx, in.Source)
	if err != nil {
		return Reply{}, err
	}
	lines = append(lines, strategy,
		fmt.Sprintf("TTL: %s (the tier allows up to %s)", approvals.FormatDuration(out.TTL), approvals.FormatDuration(out.MaxTTL)),
		eta,
	)
	if line := s.maskingLine(ctx, b, out.Masking); line != "" {
		lines = append(lines, line)
	}
	lines = append(lines, goldens...)
	return Reply{Text: fmt.Sprintf("Dry run for %s as of %s: nothing was created.", in.Source, day(b.Date)), Lines: lines, Request: draft}, nil
}

// maskingLine says, for a dry run, what the masking rules of level do to the backup's
// columns: how many no rule or keep accounts for, and whether that refuses the restore. It
// is "" for masking none, or when the service has no Masking.
func (s *Service) maskingLine(ctx context.Context, b provisioner.Backup, level approvals.MaskLevel) string {
	if s.masking == nil || level == approvals.MaskNone {
		return ""
	}
	const agentChecks = "the restore agent checks every column against the rules before any data moves"
	c, err := s.masking.Coverage(ctx, b, level)
	switch {
	case errors.Is(err, ErrNotReadableHere):
		return "Masking check: " + agentChecks + " (the backup is read only by the agents)."
	case errors.Is(err, context.DeadlineExceeded):
		return "Masking check: not done now (reading this backup's schema takes longer than a dry run waits); " + agentChecks + "."
	case err != nil:
		s.log.Warn("masking coverage for a dry run", zap.String("source", b.Source), zap.String("backup", b.Location), zap.Error(err))
		return "Masking check: not done now (the backup could not be read here); " + agentChecks + "."
	case len(c.Mismatches) > 0:
		return fmt.Sprintf("Masking check (%s): the rules name what this backup lacks, so the restore would be refused: %s. Fix the rules; clonebot masking check <backup> shows the backup's tables.",
			level, strings.Join(c.Mismatches, "; "))
	case c.Unclassified == 0:
		return fmt.Sprintf("Masking check (%s): every column is accounted for: %d of %d masked, %d kept, none unclassified.",
			level, c.Masked, c.Columns, c.Kept)
	}
	what := map[string]string{
		"refuse":       "the restore would be refused before any data moves; clonebot masking check <backup> lists them and suggests rules",
		"mask-by-type": "they will be masked by their type",
		"keep":         "they will be copied as they are, and the verification gate reads them",
	}[c.Policy]
	return fmt.Sprintf("Masking check (%s): %d of %d columns unclassified (no rule or keep): %s.", level, c.Unclassified, c.Columns, what)
}

// Backups lists the dates of source that can be cloned: in month, or the last 31 days.
func (s *Service) Backups(ctx context.Context, a Actor, source string, month time.Time) (Reply, error) {
	if _, ok := s.policy.Sources[source]; !ok {
		return Reply{}, unknownSource(s.policy, source)
	}
	from, to := s.now().AddDate(0, 0, -31), s.now().Add(time.Nanosecond)
	span := "the last 31 days"
	if !month.IsZero() {
		from, to = month, month.AddDate(0, 1, 0)
		span = month.Format("January 2006")
	}
	bs, err := s.catalogue.Backups(ctx, source, from, to)
	if errors.Is(err, provisioner.ErrUnknownSource) {
		return Reply{}, unknownSource(s.policy, source)
	}
	if err != nil {
		return Reply{}, fmt.Errorf("list backups of %s: %w", source, err)
	}
	if len(bs) == 0 {
		return said("No backups of %s in %s.", source, span), nil
	}
	rep := said("Backups of %s in %s (newest first):", source, span)
	for i := len(bs) - 1; i >= 0; i-- {
		rep.Lines = append(rep.Lines, backupLine(bs[i]))
		rep.Backups = append(rep.Backups, bs[i])
	}
	goldens, err := s.goldenLines(ctx, source)
	if err != nil {
		return Reply{}, err
	}
	rep.Lines = append(rep.Lines, goldens...)
	return rep, nil
}

func unknownSource(p *approvals.Policy, source string) *Error {
	e := refuse(ENotFound, "Unknown source %q.", source)
	e.Options = p.SourceNames()
	e.Lines = []string{"Configured sources: " + strings.Join(e.Options, ", ")}
	return e
}

// refusal turns a policy's refusal into an *Error.
func refusal(r *approvals.Refusal) *Error {
	code := EForbidden
	switch r.Code {
	case approvals.RefuseUnknownSource, approvals.RefuseUnknownTier:
		code = ENotFound
	case approvals.RefuseTTLOverCap, approvals.RefuseBadTTL:
		code = EInvalid
	case approvals.RefuseUserQuota, approvals.RefuseTeamQuota:
		code = EQuota
	}
	e := refuse(code, "%s", capitalise(r.Message)+".")
	e.Options = r.Options
	return e
}

func capitalise(s string) string {
	first, _, _ := strings.Cut(s, " ")
	if s == "" || strings.Contains(first, "=") {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// slotLines says who must approve.
func slotLines(slots []approvals.Slot) []string {
	out := approverLines(slots)
	for i := range out {
		out[i] = "Needs approval from " + out[i]
	}
	return out
}

// approverLines says who may approve in each slot: "name: group:a, user:U1".
func approverLines(slots []approvals.Slot) []string {
	var out []string
	for _, sl := range slots {
		var who []string
		for _, p := range sl.Approvers {
			who = append(who, string(p))
		}
		out = append(out, fmt.Sprintf("%s: %s", sl.Name, strings.Join(who, ", ")))
	}
	return out
}

func backupLine(b provisioner.Backup) string {
	switch b.Kind {
	case provisioner.BackupPointInTime:
		return "point in time " + b.Date.UTC().Format(time.RFC3339)
	case provisioner.BackupSnapshot:
		return "snapshot of " + day(b.Date)
	}
	if b.Size > 0 {
		return fmt.Sprintf("backup of %s (%s)", day(b.Date), approvals.FormatBytes(b.Size))
	}
	return "backup of " + day(b.Date)
}

// Rough figures for the estimate: making an Aurora/RDS cluster and instance takes minutes, a
// local database seconds; a masked restore loads on the order of 50 MiB/s.
const (
	awsProvisionTime   = 10 * time.Minute
	localProvisionTime = 10 * time.Second
	restoreBytesPerSec = 50 << 20
	maskInPlaceTime    = 5 * time.Minute
)

// estimate says how long a clone should take to be ready.
func estimate(src approvals.Source, b provisioner.Backup) string {
	d := localProvisionTime
	if src.Backend == "aws" {
		d = awsProvisionTime
	}
	switch {
	case src.Strategy == "restore" && b.Size > 0:
		d += time.Duration(b.Size/restoreBytesPerSec) * time.Second
	case src.Strategy == "restore":
		return "a few minutes plus the restore (backup size unknown)"
	default:
		d += maskInPlaceTime
	}
	return "about " + approvals.FormatDuration(d.Round(time.Minute)+time.Minute)
}
