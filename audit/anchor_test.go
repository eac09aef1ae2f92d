package audit

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/zap"
)

func TestDailySlot(t *testing.T) {
	// fixed date: pure calendar arithmetic; no server sees it
	day := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		now  time.Time
		at   time.Duration
		want time.Time
	}{
		{"after today's moment", day.Add(10 * time.Hour), 9 * time.Hour, day.Add(9 * time.Hour)},
		{"exactly at it", day.Add(9 * time.Hour), 9 * time.Hour, day.Add(9 * time.Hour)},
		{"before it: yesterday's", day.Add(8 * time.Hour), 9 * time.Hour, day.Add(-15 * time.Hour)},
		{"midnight", day.Add(time.Minute), 0, day},
		{"another zone", day.Add(10 * time.Hour).In(time.FixedZone("X", -11*3600)), 9 * time.Hour, day.Add(9 * time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := DailySlot(tt.now, tt.at); !got.Equal(tt.want) {
				t.Fatalf("DailySlot = %v, want %v", got, tt.want)
			}
		})
	}
}

// fakeAnchorLog is an AnchorLog with function fields.
type fakeAnchorLog struct {
	claim     func(slot time.Time, kind string) (Head, bool, error)
	published func(slot time.Time) error
	release   func(slot time.Time) error
	last      func() (Anchor, bool, error)
}

func (f fakeAnchorLog) ClaimAnchor(_ context.Context, slot time.Time, kind string, _ time.Time, _ time.Duration) (Head, bool, error) {
	return f.claim(slot, kind)
}
func (f fakeAnchorLog) AnchorPublished(_ context.Context, slot, _ time.Time) error {
	return f.published(slot)
}
func (f fakeAnchorLog) ReleaseAnchor(_ context.Context, slot time.Time) error { return f.release(slot) }
func (f fakeAnchorLog) LastAnchor(context.Context) (Anchor, bool, error)      { return f.last() }

type sinkFunc func(ctx context.Context, h Head, at time.Time) error

func (f sinkFunc) PublishAnchor(ctx context.Context, h Head, at time.Time) error {
	return f(ctx, h, at)
}

type fixedClock struct{ now time.Time }

func (c fixedClock) Now() time.Time                       { return c.now }
func (c fixedClock) After(time.Duration) <-chan time.Time { return nil }

// TestAnchorerTick: the daily slot is claimed, published and recorded; a claim held elsewhere
// publishes nothing; a failed publication gives the claim back.
func TestAnchorerTick(t *testing.T) {
	// fixed date: the fakes are the only clocks here
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	head := Head{Seq: 42, Hash: Hash{7}}
	tests := []struct {
		name          string
		claimed       bool
		publishErr    error
		wantPublished bool
		wantRelease   bool
	}{
		{name: "due", claimed: true, wantPublished: true},
		{name: "another replica has it", claimed: false},
		{name: "Slack down", claimed: true, publishErr: errors.New("slack: 503"), wantRelease: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var slots []time.Time
			var posted []Head
			var recorded, released bool
			log := fakeAnchorLog{
				claim: func(slot time.Time, kind string) (Head, bool, error) {
					if kind != AnchorDaily {
						t.Errorf("kind %s", kind)
					}
					slots = append(slots, slot)
					return head, tt.claimed, nil
				},
				published: func(time.Time) error { recorded = true; return nil },
				release:   func(time.Time) error { released = true; return nil },
			}
			sink := sinkFunc(func(_ context.Context, h Head, _ time.Time) error { posted = append(posted, h); return tt.publishErr })
			a, err := NewAnchorer(log, sink, fixedClock{now}, 9*time.Hour, zap.NewNop())
			if err != nil {
				t.Fatal(err)
			}
			anc, published, err := a.Tick(context.Background())
			if (err != nil) != (tt.publishErr != nil) || published != tt.wantPublished {
				t.Fatalf("Tick: published %v, err %v", published, err)
			}
			if len(slots) != 1 || !slots[0].Equal(now.Add(-time.Hour)) {
				t.Fatalf("claimed slots %v, want today 09:00", slots)
			}
			if recorded != tt.wantPublished || released != tt.wantRelease || (len(posted) > 0) != tt.claimed {
				t.Fatalf("recorded %v, released %v, posted %v", recorded, released, posted)
			}
			if tt.wantPublished && (anc.Head != head || anc.Kind != AnchorDaily) {
				t.Fatalf("anchor %+v", anc)
			}
		})
	}
}

func TestNewAnchorerRefusesATimeOutsideTheDay(t *testing.T) {
	for _, at := range []time.Duration{-time.Minute, 24 * time.Hour} {
		if _, err := NewAnchorer(fakeAnchorLog{}, sinkFunc(nil), nil, at, zap.NewNop()); err == nil {
			t.Errorf("at %s accepted", at)
		}
	}
}
