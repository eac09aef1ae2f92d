package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/clonebot/clonebot/approvals"
	"github.com/clonebot/clonebot/jobs"
	"github.com/clonebot/clonebot/provisioner"
)

// GoldenStore is what the golden copies need of the store (redisstore.Store). Errors are
// approvals' golden sentinels.
type GoldenStore interface {
	// StartGolden starts a line's next generation; ErrGoldenBusy while one builds,
	// ErrGoldenNotDue when its slot was built.
	StartGolden(ctx context.Context, in approvals.GoldenStart) (*approvals.Golden, error)
	// MoveGolden is a guarded move with its audit event and notices; ErrGoldenInUse when a
	// ready copy still has dependants.
	MoveGolden(ctx context.Context, t approvals.GoldenTransitionInput) (*approvals.Golden, error)
	// GoldenProgress records a restoring copy's rows and bytes so far.
	GoldenProgress(ctx context.Context, id string, rows, bytes int64) error
	// Golden returns one copy (ErrGoldenNotFound); Goldens every copy not retired.
	Golden(ctx context.Context, id string) (*approvals.Golden, error)
	Goldens(ctx context.Context) ([]*approvals.Golden, error)
	// GoldenLine returns what the store remembers of a line's builds.
	GoldenLine(ctx context.Context, source string, level approvals.MaskLevel) (approvals.GoldenLineState, error)
	// GoldenUsers and ReleaseGolden read and shrink the requests counted as a copy's dependants.
	GoldenUsers(ctx context.Context, id string) ([]string, error)
	ReleaseGolden(ctx context.Context, id string, requestIDs ...string) error
}

// goldenHorizon bounds a golden copy's credentials and delete-after tags (the AWS sweep's
// safety net); each pass moves the bound on once less than half of it is left, so only a
// copy clonebot stopped looking after runs out.
const goldenHorizon = 7 * 24 * time.Hour

// goldenTier is the tier tag of a golden copy's resources.
const goldenTier = "golden"

// golden copies are reconciled like requests, by id (approvals.IsGoldenID tells them apart):
//
//	provisioning → restoring → ready → retiring → retired
//	      ↘ failed (the Create retries ran out, the agent's failure) → retiring → retired
//
// The schedule starts builds (schedule), the agents' results end them (goldenRestored), and
// reconcileGolden takes every other step under the copy's lease.

// goldenWork starts the builds the schedules make due at now and returns the ids of the
// golden copies with a step to take.
func (m *Manager) goldenWork(ctx context.Context, now time.Time) ([]string, error) {
	if m.goldens == nil {
		return nil, nil
	}
	errs := []error{m.schedule(ctx, now)}
	all, err := m.goldens.Goldens(ctx)
	if err != nil {
		return nil, errors.Join(append(errs, err)...)
	}
	var ids []string
	for _, g := range all {
		switch g.Status {
		case approvals.GoldenReady:
			if !m.retirable(g, all) && !m.extendDue(ctx, g, now) {
				continue
			}
		case approvals.GoldenRestoring:
			mk, err := m.marks(ctx, g.ID)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if mk.Enqueued && now.Sub(g.CreatedAt) <= m.cfg.RestoreAllowance {
				continue
			}
		}
		ids = append(ids, g.ID)
	}
	return ids, errors.Join(errs...)
}

// schedule starts, for every line whose schedule has a build due at now, that build. Two
// replicas that find it due start one (the store refuses the second).
func (m *Manager) schedule(ctx context.Context, now time.Time) error {
	var errs []error
	for _, source := range m.policy.SourceNames() {
		cfg := m.policy.Sources[source].Golden
		if cfg == nil || !m.servesGolden(source) {
			continue
		}
		sched, err := cfg.Schedule()
		if err != nil {
			errs = append(errs, fmt.Errorf("golden schedule of %s: %w", source, err))
			continue
		}
		for _, level := range cfg.Levels {
			line, err := m.goldens.GoldenLine(ctx, source, level)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if line.Building != "" {
				continue
			}
			slot, due := sched.Due(now, line.LastSlot, approvals.ExpectedBuild(line.Recent))
			if !due {
				continue
			}
			if _, err := m.StartGolden(ctx, source, level, slot, "clonebot"); err != nil &&
				!errors.Is(err, approvals.ErrGoldenBusy) && !errors.Is(err, approvals.ErrGoldenNotDue) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// servesGolden reports whether source's backend makes thin copies of golden copies.
func (m *Manager) servesGolden(source string) bool {
	be, err := m.backends.For(source)
	if err != nil {
		return false
	}
	_, ok := be.Provisioner.(provisioner.GoldenBackend)
	return ok
}

// StartGolden starts a build of source's golden copy at level from its newest backup: for the
// schedule's slot, or (zero slot) a refresh asked by an admin, by. It wakes the loop, which
// builds it. A source without a backup gets a failed build, so that people hear why.
// approvals.ErrGoldenBusy while a build of the line is under way; ErrGoldenNotDue when the
// slot was built.
func (m *Manager) StartGolden(ctx context.Context, source string, level approvals.MaskLevel, slot time.Time, by string) (*approvals.Golden, error) {
	if m.goldens == nil || !m.servesGolden(source) {
		return nil, fmt.Errorf("golden copy of %s: %w", source, provisioner.ErrUnknownSource)
	}
	now := m.now()
	in := approvals.GoldenStart{ID: approvals.NewGoldenID(), Source: source, Masking: level, Slot: slot, By: by, At: now}
	b, berr := provisioner.Latest(ctx, m.backends, source, now)
	if berr == nil {
		in.Backup = approvals.Backup{Kind: string(b.Kind), Location: b.Location, Size: b.Size, Checksum: b.Checksum}
		in.BackupDate = b.Date
	}
	g, err := m.goldens.StartGolden(ctx, in)
	if err != nil {
		return nil, err
	}
	m.log.Info("golden copy build started", zap.String("golden", g.ID), zap.String("line", g.Line()),
		zap.Int("generation", g.Generation), zap.Time("slot", slot), zap.String("by", by))
	if berr != nil {
		m.log.Warn("golden copy has no backup to build from", zap.String("golden", g.ID), zap.Error(berr))
		return g, m.failGolden(ctx, g, "there is no backup to build it from ("+berr.Error()+")", false)
	}
	m.poke()
	return g, nil
}

// reconcileGolden does what golden copy id needs now, under its lease.
func (m *Manager) reconcileGolden(ctx context.Context, id string) error {
	g, err := m.goldens.Golden(ctx, id)
	if errors.Is(err, approvals.ErrGoldenNotFound) {
		return m.store.Forget(ctx, id)
	}
	if err != nil {
		return err
	}
	switch g.Status {
	case approvals.GoldenProvisioning:
		return m.buildGolden(ctx, g)
	case approvals.GoldenRestoring:
		if m.now().Sub(g.CreatedAt) > m.cfg.RestoreAllowance {
			return m.failGolden(ctx, g, fmt.Sprintf("no restore agent finished it within %s", approvals.FormatDuration(m.cfg.RestoreAllowance)), true)
		}
		return m.enqueueGolden(ctx, g)
	case approvals.GoldenReady:
		all, err := m.goldens.Goldens(ctx)
		if err != nil {
			return err
		}
		if m.retirable(g, all) {
			return m.retire(ctx, g)
		}
		return m.extendGolden(ctx, g)
	case approvals.GoldenFailed, approvals.GoldenRetiring:
		return m.destroyGolden(ctx, g)
	}
	return m.store.Forget(ctx, id)
}

// buildGolden makes the golden copy's database or cluster as a clone of its source (retried
// like a request's, then failed) and queues the agent's job: the same restore, masking and
// verification gate as a request's clone.
func (m *Manager) buildGolden(ctx context.Context, g *approvals.Golden) error {
	mk, err := m.marks(ctx, g.ID)
	if err != nil || m.now().Before(mk.RetryAt) {
		return err
	}
	be, err := m.backends.For(g.Source)
	if err != nil {
		return m.failGolden(ctx, g, fmt.Sprintf("source %s is not configured any more", g.Source), true)
	}
	c, err := be.Provisioner.Create(ctx, provisioner.Spec{
		RequestID: g.ID, Source: g.Source, Strategy: be.Strategy, Tier: goldenTier, Requester: "clonebot",
		Backup: provisioner.Backup{Source: g.Source, Kind: provisioner.BackupKind(g.Backup.Kind), Date: g.BackupDate,
			Location: g.Backup.Location, Size: g.Backup.Size, Checksum: g.Backup.Checksum},
		ExpiresAt: m.now().Add(goldenHorizon),
	}, nil)
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		mk.Attempts++
		if mk.Attempts >= m.cfg.CreateAttempts {
			m.log.Error("golden copy not created; giving up", zap.String("golden", g.ID), zap.Error(err))
			return m.failGolden(ctx, g, fmt.Sprintf("its database could not be created after %d attempts; the platform team can find the cause in the logs under %s", mk.Attempts, g.ID), true)
		}
		mk.RetryAt = m.now().Add(min(m.cfg.RetryBackoff<<(mk.Attempts-1), maxBackoff))
		m.log.Warn("golden copy not created; retrying", zap.String("golden", g.ID), zap.Int("attempt", mk.Attempts), zap.Error(err))
		return m.store.SetMarks(ctx, g.ID, mk)
	}
	next, err := m.goldens.MoveGolden(ctx, approvals.GoldenTransitionInput{ID: g.ID, To: approvals.GoldenRestoring,
		From: []approvals.GoldenStatus{approvals.GoldenProvisioning}, By: "clonebot", At: m.now(),
		Clone: &approvals.CloneInfo{Host: c.Host, Port: c.Port, Database: c.Database, User: c.User, CredentialRef: c.CredentialRef, Resources: c.Resources}})
	if err != nil {
		return err
	}
	mk.Told = m.now().Add(goldenHorizon)
	if err := m.store.SetMarks(ctx, g.ID, mk); err != nil {
		return err
	}
	return m.enqueueGolden(ctx, next)
}

// enqueueGolden queues a restoring golden copy's job unless it is queued (idempotent per id).
func (m *Manager) enqueueGolden(ctx context.Context, g *approvals.Golden) error {
	mk, err := m.marks(ctx, g.ID)
	if err != nil || mk.Enqueued {
		return err
	}
	be, err := m.backends.For(g.Source)
	if err != nil || g.Clone == nil {
		return m.failGolden(ctx, g, "it has no database to restore into", true)
	}
	if _, err := m.queue.Enqueue(ctx, jobs.Job{
		RequestID: g.ID, Backup: jobs.BackupRef{Location: g.Backup.Location, Size: g.Backup.Size, SHA256: g.Backup.Checksum},
		Strategy: be.Strategy, TargetRef: g.Clone.CredentialRef, MaskLevel: string(g.Masking), Parallelism: m.cfg.RestoreParallelism,
	}); err != nil {
		return err
	}
	mk.Enqueued = true
	m.log.Info("golden copy's restore job queued", zap.String("golden", g.ID))
	return m.store.SetMarks(ctx, g.ID, mk)
}

// goldenEvent applies an agent's event about a golden copy and reports whether it is done with:
// progress is recorded, a result ends the build under the copy's lease.
func (m *Manager) goldenEvent(ctx context.Context, e jobs.Event) bool {
	if m.goldens == nil {
		return true
	}
	if e.State == jobs.StateRunning {
		if e.Phase == jobs.PhaseData && (e.Rows > 0 || e.Bytes > 0) {
			if err := m.goldens.GoldenProgress(ctx, e.RequestID, e.Rows, e.Bytes); err != nil {
				m.log.Warn("golden copy progress not recorded", zap.String("golden", e.RequestID), zap.Error(err))
			}
		}
		return true
	}
	return m.settle(ctx, e.RequestID, func(ctx context.Context, id string) error { return m.goldenRestored(ctx, id, e) })
}

// goldenRestored ends a restoring golden copy's build: sealed and ready (the line's channel
// hears what was built, from which backup, its rows and how long it took), or failed.
func (m *Manager) goldenRestored(ctx context.Context, id string, e jobs.Event) error {
	g, err := m.goldens.Golden(ctx, id)
	if errors.Is(err, approvals.ErrGoldenNotFound) {
		return nil
	}
	if err != nil || g.Status != approvals.GoldenRestoring {
		return err
	}
	if e.State == jobs.StateFailed {
		reason := e.Reason
		if reason == "" {
			reason = "the restore agent gave up without a reason"
		}
		return m.failGolden(ctx, g, reason, true)
	}
	be, err := m.backends.For(g.Source)
	if err != nil {
		return m.failGolden(ctx, g, fmt.Sprintf("source %s is not configured any more", g.Source), true)
	}
	gb, ok := be.Provisioner.(provisioner.GoldenBackend)
	if !ok {
		return m.failGolden(ctx, g, fmt.Sprintf("the backend of %s makes no copies of golden copies", g.Source), true)
	}
	// step 1: sealed before anyone is served from it: no session can hold a copy up.
	if err := gb.Seal(ctx, g.ID); err != nil {
		return fmt.Errorf("seal golden copy %s: %w", g.ID, err)
	}
	// step 2: ready, announced.
	now := m.now()
	ready := *g
	ready.ReadyAt = now
	next, err := m.goldens.MoveGolden(ctx, approvals.GoldenTransitionInput{ID: g.ID, To: approvals.GoldenReady,
		From: []approvals.GoldenStatus{approvals.GoldenRestoring}, By: "clonebot", At: now,
		Say: []approvals.Notice{{Kind: approvals.NoticeGolden, Text: goldenReadyText(&ready)}}})
	if err != nil {
		return err
	}
	m.log.Info("golden copy ready", zap.String("golden", g.ID), zap.String("line", g.Line()), zap.Duration("took", next.BuildTime()))
	m.poke() // an older generation may retire now
	return nil
}

// goldenReadyText is what the request channel hears of a golden copy that is ready.
func goldenReadyText(g *approvals.Golden) string {
	what := fmt.Sprintf("Golden copy %s (generation %d, %s) is ready: %s", g.Line(), g.Generation, g.ID, goldenBackup(g))
	if g.Rows > 0 || g.Bytes > 0 {
		what += fmt.Sprintf(", %d rows (%s) masked and verified", g.Rows, approvals.FormatBytes(g.Bytes))
	}
	return what + fmt.Sprintf(", built in %s. Requests for %s latest (or %s) at masking %s are now made from it in seconds.",
		formatBuild(g.BuildTime()), g.Source, g.BackupDate.UTC().Format(time.DateOnly), g.Masking)
}

// goldenBackup names the backup a golden copy is built from.
func goldenBackup(g *approvals.Golden) string {
	switch provisioner.BackupKind(g.Backup.Kind) {
	case provisioner.BackupPointInTime:
		return "copy of the source at " + approvals.FormatTime(g.BackupDate)
	case provisioner.BackupSnapshot:
		return "snapshot of " + g.BackupDate.UTC().Format(time.DateOnly)
	}
	return "backup of " + g.BackupDate.UTC().Format(time.DateOnly)
}

// formatBuild writes a build's duration: seconds under ten minutes, else as FormatDuration.
func formatBuild(d time.Duration) string {
	if d < 10*time.Minute {
		return d.Round(time.Second).String()
	}
	return approvals.FormatDuration(d)
}

// failGolden fails a build, says why in the request channel (the previous generation, if any,
// still serves), and destroys what was made for it; a build that failed before anything could
// be made (made false: no backup) is retired without asking the backend.
func (m *Manager) failGolden(ctx context.Context, g *approvals.Golden, reason string, made bool) error {
	text := fmt.Sprintf("Golden copy %s (generation %d, %s) failed: %s. Requests are served by the previous golden copy, if there is one, or restored from their backup as usual.",
		g.Line(), g.Generation, g.ID, reason)
	next, err := m.goldens.MoveGolden(ctx, approvals.GoldenTransitionInput{ID: g.ID, To: approvals.GoldenFailed,
		From: []approvals.GoldenStatus{approvals.GoldenProvisioning, approvals.GoldenRestoring}, By: "clonebot", At: m.now(),
		Failure: reason, Say: []approvals.Notice{{Kind: approvals.NoticeGolden, Text: text}}})
	if err != nil {
		return err
	}
	m.log.Warn("golden copy failed", zap.String("golden", g.ID), zap.String("reason", reason))
	if !made {
		return m.retireUnmade(ctx, next)
	}
	return m.destroyGolden(ctx, next)
}

// retirable reports whether ready golden copy g is beyond its line's keep (newer ready
// generations fill it), or its line is no longer in the policy.
func (m *Manager) retirable(g *approvals.Golden, all []*approvals.Golden) bool {
	cfg := m.policy.Sources[g.Source].Golden
	if !cfg.Prepares(g.Masking) {
		return true
	}
	newer := 0
	for _, o := range all {
		if o.Status == approvals.GoldenReady && o.Line() == g.Line() && o.Generation > g.Generation {
			newer++
		}
	}
	return newer >= cfg.KeepOrDefault()
}

// retire takes a golden copy out of service once no clone depends on it: first the requests
// that no longer do (ended, or made already on a backend whose copies need their golden copy
// only while they are made) are let go, then the store moves it to retiring, which it refuses
// while any still does; the copy is destroyed after.
func (m *Manager) retire(ctx context.Context, g *approvals.Golden) error {
	users, err := m.goldens.GoldenUsers(ctx, g.ID)
	if err != nil {
		return err
	}
	lasting := false
	if be, err := m.backends.For(g.Source); err == nil {
		if gb, ok := be.Provisioner.(provisioner.GoldenBackend); ok {
			lasting = gb.CopiesDependOnGolden()
		}
	}
	var done []string
	for _, id := range users {
		r, err := m.store.Get(ctx, id)
		switch {
		case errors.Is(err, approvals.ErrNotFound):
			done = append(done, id)
		case err != nil:
			return err
		case !r.Status.Active() && r.Status != approvals.StatusFailed, !lasting && copyMade(r.Status):
			done = append(done, id)
		}
	}
	if err := m.goldens.ReleaseGolden(ctx, g.ID, done...); err != nil {
		return err
	}
	next, err := m.goldens.MoveGolden(ctx, approvals.GoldenTransitionInput{ID: g.ID, To: approvals.GoldenRetiring,
		From: []approvals.GoldenStatus{approvals.GoldenReady}, By: "clonebot", At: m.now()})
	if errors.Is(err, approvals.ErrGoldenInUse) {
		m.log.Info("golden copy kept: clones depend on it", zap.String("golden", g.ID), zap.Int("dependants", len(users)-len(done)))
		return nil
	}
	if err != nil {
		return err
	}
	m.log.Info("golden copy retiring", zap.String("golden", g.ID), zap.String("line", g.Line()))
	return m.destroyGolden(ctx, next)
}

// copyMade reports whether a request in status has its thin copy made.
func copyMade(s approvals.Status) bool {
	return s == approvals.StatusRestoring || s == approvals.StatusReady || s == approvals.StatusDestroying
}

// destroyGolden destroys a failed or retiring golden copy and marks it retired.
func (m *Manager) destroyGolden(ctx context.Context, g *approvals.Golden) error {
	if g.Status == approvals.GoldenFailed {
		next, err := m.goldens.MoveGolden(ctx, approvals.GoldenTransitionInput{ID: g.ID, To: approvals.GoldenRetiring,
			From: []approvals.GoldenStatus{approvals.GoldenFailed}, By: "clonebot", At: m.now()})
		if err != nil {
			return err
		}
		g = next
	}
	be, err := m.backends.For(g.Source)
	if err != nil {
		return fmt.Errorf("destroy golden copy %s: %w", g.ID, err)
	}
	if err := be.Provisioner.Destroy(ctx, g.ID); err != nil {
		m.metrics.destroyErr.Inc()
		return err
	}
	if _, err := m.goldens.MoveGolden(ctx, approvals.GoldenTransitionInput{ID: g.ID, To: approvals.GoldenRetired,
		From: []approvals.GoldenStatus{approvals.GoldenRetiring}, By: "clonebot", At: m.now()}); err != nil {
		return err
	}
	m.log.Info("golden copy destroyed", zap.String("golden", g.ID))
	return m.store.Forget(ctx, g.ID)
}

// retireUnmade retires a failed golden copy for which nothing was made.
func (m *Manager) retireUnmade(ctx context.Context, g *approvals.Golden) error {
	for _, to := range []approvals.GoldenStatus{approvals.GoldenRetiring, approvals.GoldenRetired} {
		next, err := m.goldens.MoveGolden(ctx, approvals.GoldenTransitionInput{ID: g.ID, To: to, By: "clonebot", At: m.now()})
		if err != nil {
			return err
		}
		g = next
	}
	return m.store.Forget(ctx, g.ID)
}

// extendDue reports whether a ready golden copy's bound (credentials, delete-after tags) is to
// be moved on: less than half of goldenHorizon is left.
func (m *Manager) extendDue(ctx context.Context, g *approvals.Golden, now time.Time) bool {
	mk, err := m.marks(ctx, g.ID)
	return err == nil && mk.Told.Sub(now) < goldenHorizon/2
}

// extendGolden moves a ready golden copy's bound goldenHorizon from now, where the backend
// keeps one.
func (m *Manager) extendGolden(ctx context.Context, g *approvals.Golden) error {
	now := m.now()
	if !m.extendDue(ctx, g, now) {
		return nil
	}
	mk, err := m.marks(ctx, g.ID)
	if err != nil {
		return err
	}
	be, err := m.backends.For(g.Source)
	if err != nil {
		return err
	}
	until := now.Add(goldenHorizon)
	if ext, ok := be.Provisioner.(Extender); ok {
		if err := ext.Extend(ctx, g.ID, until); err != nil {
			return fmt.Errorf("extend golden copy %s: %w", g.ID, err)
		}
	}
	mk.Told = until
	return m.store.SetMarks(ctx, g.ID, mk)
}

// thinReady releases a clone made by a thin copy of a golden copy: the copy is masked and
// verified already, so the request goes from restoring to ready without a restore job. A
// backend whose copies need their golden copy only while they are made lets it go now.
func (m *Manager) thinReady(ctx context.Context, r *approvals.Request) error {
	note := "copied from golden copy " + r.Golden
	if m.goldens != nil {
		if g, err := m.goldens.Golden(ctx, r.Golden); err == nil {
			note = fmt.Sprintf("copied from golden copy %s (generation %d, %s)", g.Line(), g.Generation, goldenBackup(g))
		}
	}
	next, err := m.move(ctx, r, approvals.TransitionInput{To: approvals.StatusReady, Note: note,
		Say: []approvals.Notice{{Kind: approvals.NoticeReady}}})
	if err != nil {
		return err
	}
	m.metrics.outcomes.WithLabelValues(next.Tier, "ready").Inc()
	m.metrics.toReady.WithLabelValues(next.Tier).Observe(next.ReadyAt.Sub(next.CreatedAt).Seconds())
	if err := m.releaseAfterCopy(ctx, next); err != nil {
		m.log.Warn("golden copy's dependant not released; the retirement step will", zap.String("request_id", r.ID), zap.Error(err))
	}
	if err := m.syncExpiry(ctx, next); err != nil {
		m.log.Warn("backend not told the expiry yet", zap.String("request_id", r.ID), zap.Error(err))
	}
	return nil
}

// releaseAfterCopy stops counting r as its golden copy's dependant when its backend's copies
// need it only while they are made, or r's clone is gone.
func (m *Manager) releaseAfterCopy(ctx context.Context, r *approvals.Request) error {
	if r.Golden == "" || m.goldens == nil {
		return nil
	}
	be, err := m.backends.For(r.Source)
	if err != nil {
		return err
	}
	gb, ok := be.Provisioner.(provisioner.GoldenBackend)
	if ok && gb.CopiesDependOnGolden() && r.Status != approvals.StatusDestroyed {
		return nil
	}
	return m.goldens.ReleaseGolden(ctx, r.Golden, r.ID)
}

// goldenKnown reports whether a golden copy's resources should still exist (the AWS sweep):
// its record says it is not retired. A lookup error keeps them.
func (m *Manager) goldenKnown(ctx context.Context, id string) bool {
	if m.goldens == nil {
		return false
	}
	g, err := m.goldens.Golden(ctx, id)
	switch {
	case errors.Is(err, approvals.ErrGoldenNotFound):
		return false
	case err != nil:
		m.log.Warn("sweep: golden copy lookup failed; keeping it", zap.String("golden", id), zap.Error(err))
		return true
	}
	return g.Status != approvals.GoldenRetired
}
