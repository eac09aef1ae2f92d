package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/clonebot/clonebot/approvals"
	"github.com/clonebot/clonebot/jobs"
	"github.com/clonebot/clonebot/provisioner"
)

// provision takes an approved or provisioning request to restoring: the clone made, its
// place stored, the restore job queued. A failed Create is retried on later passes with a
// doubling wait; after CreateAttempts the request fails and what was made is destroyed.
func (m *Manager) provision(ctx context.Context, r *approvals.Request) error {
	log := m.log.With(zap.String("request_id", r.ID))
	// step 1: approved → provisioning.
	if r.Status == approvals.StatusApproved {
		next, err := m.move(ctx, r, approvals.TransitionInput{To: approvals.StatusProvisioning})
		if err != nil {
			return err
		}
		if wait, ok := approvedAfter(r); ok {
			m.metrics.wait.WithLabelValues(r.Tier).Observe(wait.Seconds())
		}
		r = next
	}
	mk, err := m.marks(ctx, r.ID)
	if err != nil {
		return err
	}
	if m.now().Before(mk.RetryAt) {
		return nil
	}

	// step 2: the backend and the backup the request recorded; neither is worth retrying
	// when the answer is no.
	be, b, err := m.backup(r)
	if err != nil {
		return m.createFailed(ctx, r, mk, err)
	}

	// step 3: the clone, with a first bound on its credentials' life long enough for the
	// restore (the agent logs in with them); the real expiry is set when the clone is ready.
	if r.Golden != "" {
		m.progress(ctx, r, "provisioning: copying golden copy "+r.Golden)
	} else {
		m.progress(ctx, r, "provisioning: creating the clone")
	}
	c, err := be.Provisioner.Create(ctx, provisioner.Spec{
		RequestID: r.ID, Source: r.Source, Strategy: be.Strategy, Backup: b, Tier: r.Tier,
		Requester: r.Requester, ExpiresAt: m.now().Add(m.cfg.RestoreAllowance + r.TTL), Golden: r.Golden,
	}, m.reporter(ctx, r))
	if err != nil {
		return m.createFailed(ctx, r, mk, err)
	}
	log.Info("clone created", zap.String("host", c.Host), zap.String("database", c.Database))

	// step 4: provisioning → restoring, with where the clone is.
	next, err := m.move(ctx, r, approvals.TransitionInput{To: approvals.StatusRestoring, Clone: &approvals.CloneInfo{
		Host: c.Host, Port: c.Port, Database: c.Database, User: c.User, CredentialRef: c.CredentialRef, Resources: c.Resources,
	}})
	if err != nil {
		return err
	}
	r = next

	// step 5: the agent's job; a thin copy of a golden copy is masked and verified already.
	if r.Golden != "" {
		return m.thinReady(ctx, r)
	}
	return m.enqueue(ctx, r, mk, be, b)
}

// maxBackoff caps the wait between Create attempts.
const maxBackoff = 30 * time.Minute

// errPermanent marks a provisioning error that no retry can fix.
var errPermanent = errors.New("permanent")

// backup returns request r's backend and the backup it recorded when it was made: the clone
// is made from exactly the backup its requester was shown, even if the catalogue has changed.
func (m *Manager) backup(r *approvals.Request) (provisioner.Backend, provisioner.Backup, error) {
	be, err := m.backends.For(r.Source)
	if err != nil {
		return be, provisioner.Backup{}, fmt.Errorf("%w: %w", errPermanent, err)
	}
	if r.Backup.Kind == "" {
		return be, provisioner.Backup{}, fmt.Errorf("%w: request %s records no backup", errPermanent, r.ID)
	}
	return be, provisioner.Backup{Source: r.Source, Kind: provisioner.BackupKind(r.Backup.Kind), Date: r.Date,
		Location: r.Backup.Location, Size: r.Backup.Size, Checksum: r.Backup.Checksum}, nil
}

// createFailed counts a failed attempt and schedules the next, or fails the request.
func (m *Manager) createFailed(ctx context.Context, r *approvals.Request, mk approvals.Marks, cause error) error {
	if ctx.Err() != nil {
		return cause // stopping, not failing: the next owner retries
	}
	log := m.log.With(zap.String("request_id", r.ID))
	attempts := mk.Attempts + 1
	if errors.Is(cause, errPermanent) {
		log.Warn("clone cannot be made", zap.Error(cause))
		return m.failAndDestroy(ctx, r, permanentReason(r, cause))
	}
	if attempts >= m.cfg.CreateAttempts {
		log.Error("clone not created; giving up", zap.Int("attempts", attempts), zap.Error(cause))
		return m.failAndDestroy(ctx, r, fmt.Sprintf("the clone could not be created after %d attempts; the platform team can find the cause in the logs under %s", attempts, r.ID))
	}
	wait := min(m.cfg.RetryBackoff<<(attempts-1), maxBackoff)
	log.Warn("clone not created; retrying", zap.Int("attempt", attempts), zap.Duration("wait", wait), zap.Error(cause))
	mk.Attempts, mk.RetryAt = attempts, m.now().Add(wait)
	if err := m.store.SetMarks(ctx, r.ID, mk); err != nil {
		return err
	}
	m.progress(ctx, r, fmt.Sprintf("provisioning: attempt %d of %d did not succeed; retrying in %s",
		attempts, m.cfg.CreateAttempts, formatWait(wait)))
	return nil
}

// formatWait writes a retry wait: seconds under a minute, else as approvals.FormatDuration.
func formatWait(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%ds", int(d.Seconds()))
	}
	return approvals.FormatDuration(d)
}

// permanentReason says in the requester's words why the clone cannot be made.
func permanentReason(r *approvals.Request, err error) string {
	if errors.Is(err, provisioner.ErrUnknownSource) {
		return fmt.Sprintf("source %s is not configured for clones any more", r.Source)
	}
	return fmt.Sprintf("the request records no backup to make the clone from (%s)", r.ID)
}

// ensureJob queues the restore job of a restoring request if this was not done (a crash
// between the transition and the enqueue).
func (m *Manager) ensureJob(ctx context.Context, r *approvals.Request) error {
	// A restore no agent finished within the allowance fails: the clone's first credential
	// bound runs out then, and its requester should hear why rather than wait forever.
	if m.restoreOverdue(r, m.now()) {
		return m.failAndDestroy(ctx, r, fmt.Sprintf("no restore agent finished the restore within %s (are agents running? `clonebot agent`)",
			approvals.FormatDuration(m.cfg.RestoreAllowance)))
	}
	if r.Golden != "" { // a crash between the thin copy's restoring and ready
		return m.thinReady(ctx, r)
	}
	mk, err := m.marks(ctx, r.ID)
	if err != nil || mk.Enqueued {
		return err
	}
	be, b, err := m.backup(r)
	if errors.Is(err, errPermanent) {
		return m.failAndDestroy(ctx, r, permanentReason(r, err))
	}
	if err != nil {
		return err
	}
	return m.enqueue(ctx, r, mk, be, b)
}

// enqueue queues r's restore job (idempotent per request) and remembers it is queued.
func (m *Manager) enqueue(ctx context.Context, r *approvals.Request, mk approvals.Marks, be provisioner.Backend, b provisioner.Backup) error {
	if r.Clone == nil {
		return fmt.Errorf("enqueue %s: restoring without a clone", r.ID)
	}
	added, err := m.queue.Enqueue(ctx, jobs.Job{
		RequestID:   r.ID,
		Backup:      jobs.BackupRef{Location: b.Location, Size: b.Size, SHA256: b.Checksum},
		Strategy:    be.Strategy,
		TargetRef:   r.Clone.CredentialRef,
		MaskLevel:   string(r.Masking),
		Parallelism: m.cfg.RestoreParallelism,
	})
	if err != nil {
		return err
	}
	mk.Enqueued = true
	if err := m.store.SetMarks(ctx, r.ID, mk); err != nil {
		return err
	}
	m.log.Info("restore job queued", zap.String("request_id", r.ID), zap.Bool("added", added))
	m.progress(ctx, r, "restoring: waiting for a restore agent")
	return nil
}

// fail moves r to failed with reason (for the requester), says so in the thread and moves it
// on to destroying, which it returns; the caller destroys it or leaves that to the next pass.
// The request is put in the teardown set first: failed is not an active status, so without it
// a crash right after the transition would leave the clone behind.
func (m *Manager) fail(ctx context.Context, r *approvals.Request, reason string) (*approvals.Request, error) {
	if err := m.store.AddTeardown(ctx, r.ID); err != nil {
		return nil, fmt.Errorf("fail %s: %w", r.ID, err)
	}
	m.metrics.outcomes.WithLabelValues(r.Tier, "failed").Inc()
	next, err := m.move(ctx, r, approvals.TransitionInput{To: approvals.StatusFailed, Failure: reason,
		Say: []approvals.Notice{approvals.Note("", "could not make the clone: "+reason+". Anything made for it is being destroyed.")}})
	if err != nil {
		return nil, err
	}
	return m.move(ctx, next, approvals.TransitionInput{To: approvals.StatusDestroying, Note: "failed"})
}

// failAndDestroy fails r and destroys what was made for it.
func (m *Manager) failAndDestroy(ctx context.Context, r *approvals.Request, reason string) error {
	next, err := m.fail(ctx, r, reason)
	if err != nil {
		return err
	}
	return m.destroy(ctx, next)
}

// teardown moves a failed request (left so by a crash) to destroying and destroys its clone.
func (m *Manager) teardown(ctx context.Context, r *approvals.Request) error {
	next, err := m.move(ctx, r, approvals.TransitionInput{To: approvals.StatusDestroying, Note: "failed"})
	if err != nil {
		return err
	}
	return m.destroy(ctx, next)
}

// reporter returns the ProgressFunc of r's Create: each step goes to r's progress line.
func (m *Manager) reporter(ctx context.Context, r *approvals.Request) provisioner.ProgressFunc {
	return func(p provisioner.Progress) {
		s := "provisioning: " + p.Step
		if p.Detail != "" {
			s += " (" + p.Detail + ")"
		}
		m.progress(ctx, r, s)
	}
}

// restoreOverdue reports whether r has been restoring for longer than the restore allowance.
func (m *Manager) restoreOverdue(r *approvals.Request, now time.Time) bool {
	since, ok := enteredAt(r, approvals.StatusRestoring)
	return ok && now.Sub(since) > m.cfg.RestoreAllowance
}

// enteredAt returns when r last entered status, from its timeline.
func enteredAt(r *approvals.Request, status approvals.Status) (time.Time, bool) {
	for _, e := range slices.Backward(r.History) {
		if e.To == status {
			return e.At, true
		}
	}
	return time.Time{}, false
}

// marks returns what the loop remembers of request id.
func (m *Manager) marks(ctx context.Context, id string) (approvals.Marks, error) {
	mks, err := m.store.Marks(ctx, id)
	if err != nil {
		return approvals.Marks{}, err
	}
	return mks[0], nil
}
