package provisioner

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Backend is what serves one source: the provisioner that makes its clones, the catalogue of
// its backups and the strategy its clones are made with.
type Backend struct {
	Provisioner Provisioner
	Catalogue   Catalogue
	Strategy    Strategy
}

// Backends routes each configured source to its Backend. It is itself a Catalogue, so the bot
// can list any source's backups without knowing which backend serves it.
type Backends map[string]Backend

var _ Catalogue = Backends(nil)

// For returns the backend of source, or ErrUnknownSource.
func (b Backends) For(source string) (Backend, error) {
	be, ok := b[source]
	if !ok {
		return Backend{}, fmt.Errorf("%w %q", ErrUnknownSource, source)
	}
	return be, nil
}

// Backups implements Catalogue by asking source's backend.
func (b Backends) Backups(ctx context.Context, source string, from, to time.Time) ([]Backup, error) {
	be, err := b.For(source)
	if err != nil {
		return nil, err
	}
	return be.Catalogue.Backups(ctx, source, from, to)
}

// Find implements Catalogue by asking source's backend.
func (b Backends) Find(ctx context.Context, source string, at time.Time) (Backup, error) {
	be, err := b.For(source)
	if err != nil {
		return Backup{}, err
	}
	return be.Catalogue.Find(ctx, source, at)
}

// Latest returns the newest backup of source at now: the one of now's day, else the newest
// before it among the nearest the catalogue names. With none, the catalogue's
// *NoBackupError.
func Latest(ctx context.Context, c Catalogue, source string, now time.Time) (Backup, error) {
	b, err := c.Find(ctx, source, now)
	var nb *NoBackupError
	if !errors.As(err, &nb) {
		return b, err
	}
	var newest time.Time
	for _, d := range nb.Nearest {
		if !d.After(now) && d.After(newest) {
			newest = d
		}
	}
	if newest.IsZero() {
		return b, err
	}
	return c.Find(ctx, source, newest)
}
