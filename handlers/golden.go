package handlers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/clonebot/clonebot/approvals"
	"github.com/clonebot/clonebot/provisioner"
)

// Goldens is what the use cases read of the golden copies (redisstore.Store).
type Goldens interface {
	// Goldens returns every golden copy not retired.
	Goldens(ctx context.Context) ([]*approvals.Golden, error)
	// GoldenLine returns what the store remembers of a line's builds.
	GoldenLine(ctx context.Context, source string, level approvals.MaskLevel) (approvals.GoldenLineState, error)
}

// GoldenBuilder starts a golden copy's build now (lifecycle.Manager): from the source's newest
// backup, by an admin. approvals.ErrGoldenBusy while one is under way.
type GoldenBuilder interface {
	StartGolden(ctx context.Context, source string, level approvals.MaskLevel, slot time.Time, by string) (*approvals.Golden, error)
}

// Rough time of a thin copy, for the estimates: a local file copy of the golden copy takes
// seconds; an Aurora clone of it needs a cluster and an instance, minutes.
const (
	localThinCopyTime = 10 * time.Second
	awsThinCopyTime   = 10 * time.Minute
)

// servingGolden returns the ready golden copy a request for source at level and w would be
// made from: the newest generation for latest, the one of that backup day otherwise; nil when
// none serves it (another date, a point in time, an unmasked level, no golden copies).
func (s *Service) servingGolden(ctx context.Context, source string, level approvals.MaskLevel, w When) (*approvals.Golden, error) {
	if s.goldens == nil || w.PointInTime || !s.policy.Sources[source].Golden.Prepares(level) {
		return nil, nil
	}
	gs, err := s.goldens.Goldens(ctx)
	if err != nil {
		return nil, err
	}
	return approvals.NewestReady(gs, source, level, w.Latest, w.At), nil
}

// fromGolden makes draft r a thin copy of golden copy g: its backup and date are g's.
func fromGolden(r *approvals.Request, g *approvals.Golden) {
	r.Golden, r.Date, r.Backup, r.PointInTime = g.ID, g.BackupDate, g.Backup, false
}

// thinCopyTime says how long a thin copy takes on source's backend.
func thinCopyTime(src approvals.Source) string {
	if src.Backend == "aws" {
		return "about " + approvals.FormatDuration(awsThinCopyTime)
	}
	return fmt.Sprintf("about %ds", int(localThinCopyTime.Seconds()))
}

// goldenLine says, for explain and backups, which dates golden copies serve and how fast.
func (s *Service) goldenLines(ctx context.Context, source string) ([]string, error) {
	cfg := s.policy.Sources[source].Golden
	if cfg == nil || s.goldens == nil {
		return nil, nil
	}
	gs, err := s.goldens.Goldens(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, level := range cfg.Levels {
		var days []string
		latest := approvals.NewestReady(gs, source, level, true, time.Time{})
		for _, g := range gs {
			if g.Source == source && g.Masking == level && g.Status == approvals.GoldenReady {
				days = append(days, day(g.BackupDate))
			}
		}
		if latest == nil {
			out = append(out, fmt.Sprintf("Golden copy %s: none ready yet; requests at %s masking are restored from their backup.", approvals.Line(source, level), level))
			continue
		}
		out = append(out, fmt.Sprintf("Golden copy %s: latest and %s at %s masking are thin copies, ready in %s.",
			approvals.Line(source, level), strings.Join(days, ", "), level, thinCopyTime(s.policy.Sources[source])))
	}
	return out, nil
}

// GoldenCopies lists the golden copies: each line's generations, their state, age and
// backup, and when the line builds next.
func (s *Service) GoldenCopies(ctx context.Context, a Actor) (Reply, error) {
	if s.goldens == nil {
		return said("No golden copies are configured (sources.<name>.golden in the policy)."), nil
	}
	gs, err := s.goldens.Goldens(ctx)
	if err != nil {
		return Reply{}, err
	}
	now := s.now()
	rep := said("Golden copies (masked copies built on a schedule; requests for latest or their backup day are thin copies of them):")
	for _, source := range s.policy.SourceNames() {
		cfg := s.policy.Sources[source].Golden
		if cfg == nil {
			continue
		}
		for _, level := range cfg.Levels {
			line := approvals.Line(source, level)
			for _, g := range gs {
				if g.Line() == line {
					rep.Lines = append(rep.Lines, goldenStatusLine(g, now))
				}
			}
			next, err := s.nextBuild(ctx, source, level, now)
			if err != nil {
				return Reply{}, err
			}
			rep.Lines = append(rep.Lines, fmt.Sprintf("%s: %s; keeps %d generation(s)", line, next, cfg.KeepOrDefault()))
		}
	}
	if len(rep.Lines) == 0 {
		return said("No golden copies are configured (sources.<name>.golden in the policy)."), nil
	}
	return rep, nil
}

// goldenStatusLine is one golden copy as /clone golden shows it.
func goldenStatusLine(g *approvals.Golden, now time.Time) string {
	head := fmt.Sprintf("%s generation %d (%s): ", g.Line(), g.Generation, g.ID)
	switch g.Status {
	case approvals.GoldenReady:
		return head + fmt.Sprintf("ready, backup of %s, built in %s, %s old", day(g.BackupDate),
			approvals.FormatDuration(g.BuildTime()), approvals.FormatDuration(now.Sub(g.ReadyAt)))
	case approvals.GoldenProvisioning, approvals.GoldenRestoring:
		return head + fmt.Sprintf("%s since %s, from the backup of %s", g.Status, approvals.FormatTime(g.CreatedAt), day(g.BackupDate))
	case approvals.GoldenFailed:
		return head + "failed: " + g.Failure
	}
	return head + string(g.Status)
}

// nextBuild says when a line builds next.
func (s *Service) nextBuild(ctx context.Context, source string, level approvals.MaskLevel, now time.Time) (string, error) {
	sched, err := s.policy.Sources[source].Golden.Schedule()
	if err != nil {
		return "", err
	}
	line, err := s.goldens.GoldenLine(ctx, source, level)
	if err != nil {
		return "", err
	}
	expected := approvals.ExpectedBuild(line.Recent)
	start, slot := sched.Next(now, expected)
	if _, due := sched.Due(now, line.LastSlot, expected); due {
		return "a build is due now", nil
	}
	when := approvals.FormatTime
	if sched.ReadyBy() {
		return fmt.Sprintf("next ready by %s (build starts about %s)", when(slot), when(start)), nil
	}
	return "next build at " + when(slot), nil
}

// Refresh starts a build of source's golden copies now (level, or every level of the source):
// admins only.
func (s *Service) Refresh(ctx context.Context, a Actor, source, level string) (Reply, error) {
	u, err := s.user(ctx, a.User)
	if err != nil {
		return Reply{}, err
	}
	if !s.policy.IsAdmin(u.ID, u.Groups) {
		return Reply{}, refuse(EForbidden, "Only admins can rebuild golden copies.")
	}
	src, ok := s.policy.Sources[source]
	if !ok {
		return Reply{}, unknownSource(s.policy, source)
	}
	if src.Golden == nil || s.builder == nil {
		return Reply{}, refuse(ENotFound, "Source %s has no golden copies (sources.%s.golden in the policy).", source, source)
	}
	levels := src.Golden.Levels
	if level != "" {
		if !src.Golden.Prepares(approvals.MaskLevel(level)) {
			e := refuse(ENotFound, "Source %s has no golden copy at %s masking.", source, level)
			for _, l := range levels {
				e.Options = append(e.Options, string(l))
			}
			return Reply{}, e
		}
		levels = []approvals.MaskLevel{approvals.MaskLevel(level)}
	}
	rep := said("Golden copies of %s:", source)
	for _, l := range levels {
		g, err := s.builder.StartGolden(ctx, source, l, time.Time{}, u.ID)
		switch {
		case errors.Is(err, approvals.ErrGoldenBusy):
			rep.Lines = append(rep.Lines, fmt.Sprintf("%s: a build is under way already (/clone golden)", approvals.Line(source, l)))
		case errors.Is(err, provisioner.ErrUnknownSource):
			rep.Lines = append(rep.Lines, fmt.Sprintf("%s: its backend makes no golden copies", approvals.Line(source, l)))
		case err != nil:
			return Reply{}, err
		default:
			s.log.Info("golden copy refresh", zap.String("golden", g.ID), zap.String("by", u.ID))
			rep.Lines = append(rep.Lines, fmt.Sprintf("%s: generation %d (%s) is building from the backup of %s; the request channel hears when it is ready",
				g.Line(), g.Generation, g.ID, day(g.BackupDate)))
		}
	}
	return rep, nil
}
