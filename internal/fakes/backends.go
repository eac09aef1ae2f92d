package fakes

import (
	"context"
	"time"

	"github.com/clonebot/clonebot/provisioner"
)

// Catalogue is a provisioner.Catalogue of function fields.
type Catalogue struct {
	BackupsFunc func(source string, from, to time.Time) ([]provisioner.Backup, error)
	FindFunc    func(source string, at time.Time) (provisioner.Backup, error)
}

// Backups calls BackupsFunc.
func (c Catalogue) Backups(_ context.Context, source string, from, to time.Time) ([]provisioner.Backup, error) {
	return c.BackupsFunc(source, from, to)
}

// Find calls FindFunc.
func (c Catalogue) Find(_ context.Context, source string, at time.Time) (provisioner.Backup, error) {
	return c.FindFunc(source, at)
}

// Daily is a catalogue with one backup file of size bytes of source on each of days (UTC
// midnights); any other source is unknown, any other day has no backup.
func Daily(source string, size int64, days ...time.Time) Catalogue {
	backup := func(d time.Time) provisioner.Backup {
		return provisioner.Backup{Source: source, Kind: provisioner.BackupFile, Date: d, Size: size,
			Location: "/backups/" + source + "/" + d.Format(time.DateOnly) + "/" + source + ".dump"}
	}
	return Catalogue{
		BackupsFunc: func(s string, from, to time.Time) ([]provisioner.Backup, error) {
			if s != source {
				return nil, provisioner.ErrUnknownSource
			}
			var out []provisioner.Backup
			for _, d := range days {
				if !d.Before(from) && d.Before(to) {
					out = append(out, backup(d))
				}
			}
			return out, nil
		},
		FindFunc: func(s string, at time.Time) (provisioner.Backup, error) {
			if s != source {
				return provisioner.Backup{}, provisioner.ErrUnknownSource
			}
			d := at.UTC().Truncate(24 * time.Hour)
			for _, x := range days {
				if x.Equal(d) {
					return backup(d), nil
				}
			}
			return provisioner.Backup{}, &provisioner.NoBackupError{Source: s, Date: d, Nearest: provisioner.NearestDates(days, d, 3)}
		},
	}
}

// Provisioner is a provisioner.Provisioner (with Extend) of function fields.
type Provisioner struct {
	CreateFunc  func(ctx context.Context, spec provisioner.Spec, progress provisioner.ProgressFunc) (provisioner.Clone, error)
	DestroyFunc func(ctx context.Context, requestID string) error
	ExtendFunc  func(ctx context.Context, requestID string, expiresAt time.Time) error
}

// Create calls CreateFunc.
func (p *Provisioner) Create(ctx context.Context, spec provisioner.Spec, progress provisioner.ProgressFunc) (provisioner.Clone, error) {
	return p.CreateFunc(ctx, spec, progress)
}

// Destroy calls DestroyFunc.
func (p *Provisioner) Destroy(ctx context.Context, requestID string) error {
	return p.DestroyFunc(ctx, requestID)
}

// Extend calls ExtendFunc.
func (p *Provisioner) Extend(ctx context.Context, requestID string, expiresAt time.Time) error {
	return p.ExtendFunc(ctx, requestID, expiresAt)
}

// GoldenProvisioner is a Provisioner that also makes thin copies of golden copies
// (provisioner.GoldenBackend): Create gets them as Spec.Golden.
type GoldenProvisioner struct {
	*Provisioner
	SealFunc func(ctx context.Context, id string) error // nil: sealing succeeds
	// Lasting is CopiesDependOnGolden: true like Aurora's clones, false like a local copy.
	Lasting bool
}

// Seal calls SealFunc.
func (p *GoldenProvisioner) Seal(ctx context.Context, id string) error {
	if p.SealFunc == nil {
		return nil
	}
	return p.SealFunc(ctx, id)
}

// CopiesDependOnGolden returns Lasting.
func (p *GoldenProvisioner) CopiesDependOnGolden() bool { return p.Lasting }
