package provisioner

import (
	"context"
	"errors"
	"testing"
	"time"
)

type fakeCatalogue struct{ name string }

func (f fakeCatalogue) Backups(context.Context, string, time.Time, time.Time) ([]Backup, error) {
	return []Backup{{Location: f.name}}, nil
}

func (f fakeCatalogue) Find(_ context.Context, source string, at time.Time) (Backup, error) {
	return Backup{Source: source, Location: f.name, Date: at}, nil
}

func TestBackendsRouteBySource(t *testing.T) {
	b := Backends{"prod": {Catalogue: fakeCatalogue{"aws"}}, "dev": {Catalogue: fakeCatalogue{"local"}}}
	ctx := context.Background()
	got, err := b.Find(ctx, "dev", time.Time{})
	if err != nil || got.Location != "local" {
		t.Fatalf("Find(dev) = %+v, %v", got, err)
	}
	list, err := b.Backups(ctx, "prod", time.Time{}, time.Time{})
	if err != nil || len(list) != 1 || list[0].Location != "aws" {
		t.Fatalf("Backups(prod) = %+v, %v", list, err)
	}
	if _, err := b.Find(ctx, "nope", time.Time{}); !errors.Is(err, ErrUnknownSource) {
		t.Fatalf("Find(nope) err = %v, want ErrUnknownSource", err)
	}
}

func TestNearestDates(t *testing.T) {
	d := func(day int) time.Time { return time.Date(2024, 5, day, 0, 0, 0, 0, time.UTC) }
	got := NearestDates([]time.Time{d(1), d(3), d(10), d(5), d(7)}, d(6), 3)
	want := []time.Time{d(5), d(7), d(3)}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if !got[i].Equal(want[i]) {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	err := &NoBackupError{Source: "prod", Date: d(6), Nearest: got}
	if err.Error() != "no backup of prod for 2024-05-06; nearest: 2024-05-05, 2024-05-07, 2024-05-03" {
		t.Fatalf("message %q", err.Error())
	}
}
