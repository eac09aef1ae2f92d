package handlers

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/clonebot/clonebot/approvals"
	"github.com/clonebot/clonebot/internal/fakes"
)

// storeBuilder starts builds as the lifecycle does, without a catalogue: from the day before
// yesterday's backup.
type storeBuilder struct{ f *fixture }

func (b storeBuilder) StartGolden(ctx context.Context, source string, level approvals.MaskLevel, slot time.Time, by string) (*approvals.Golden, error) {
	return b.f.store.StartGolden(ctx, approvals.GoldenStart{ID: approvals.NewGoldenID(), Source: source, Masking: level, Slot: slot, By: by,
		BackupDate: daysAgo(2), Backup: approvals.Backup{Kind: "file", Location: "/backups/prod/g.dump", Size: 3 << 30}})
}

// newGoldenFixture is the handlers' fixture with full golden copies of prod, one of them
// ready: built from the backup of two days ago, while the newest backup is yesterday's.
func newGoldenFixture(t *testing.T) (*fixture, *approvals.Golden) {
	f := newFixture(t)
	p := fakes.Policy()
	src := p.Sources["prod"]
	src.Golden = &approvals.GoldenConfig{Levels: []approvals.MaskLevel{approvals.MaskFull}, ReadyBy: "mon 07:00", TimeZone: "Europe/Paris"}
	p.Sources["prod"] = src
	var err error
	f.svc, err = New(Deps{Store: f.store, Policy: p, Catalogue: fakes.Daily("prod", 3<<30, daysAgo(2), daysAgo(1)), Lifecycle: f.life,
		Directory: f.svc.dir, Goldens: f.store, Builder: storeBuilder{f}, Logger: zap.NewNop(), Now: func() time.Time { return f.now }})
	if err != nil {
		t.Fatal(err)
	}
	g, err := storeBuilder{f}.StartGolden(ctx, "prod", approvals.MaskFull, t0.Add(-time.Hour), "clonebot")
	if err != nil {
		t.Fatal(err)
	}
	for _, to := range []approvals.GoldenStatus{approvals.GoldenRestoring, approvals.GoldenReady} {
		if g, err = f.store.MoveGolden(ctx, approvals.GoldenTransitionInput{ID: g.ID, To: to, By: "clonebot", At: t0}); err != nil {
			t.Fatal(err)
		}
	}
	return f, g
}

func (f *fixture) get(id string) *approvals.Request {
	f.t.Helper()
	r, err := f.store.Get(ctx, id)
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

func TestRequestServedByGoldenCopyOrRestored(t *testing.T) {
	f, g := newGoldenFixture(t)
	tests := []struct {
		name       string
		in         CloneInput
		wantGolden string
		wantDate   time.Time
	}{
		{"latest at full masking: the golden copy, as of its backup", CloneInput{Source: "prod", When: When{Latest: true}}, g.ID, daysAgo(2)},
		{"the golden copy's day", CloneInput{Source: "prod", When: When{At: daysAgo(2).Add(9 * time.Hour)}}, g.ID, daysAgo(2)},
		{"another day: restored from its backup", CloneInput{Source: "prod", When: When{At: daysAgo(1)}}, "", daysAgo(1)},
		{"another masking level: restored", CloneInput{Source: "prod", When: When{Latest: true}, Tier: "staging"}, "", daysAgo(1)},
		{"a point in time: restored", CloneInput{Source: "prod", When: When{At: daysAgo(2).Add(time.Hour), PointInTime: true}}, "", daysAgo(2)},
	}
	users := []string{"UDEV", "UDEV", "UDEV2", "UDEV2", "UONCALL"} // the dev tier allows 2 each
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := f.svc.RequestClone(ctx, Actor{User: users[i], Channel: "CGEN"}, tt.in)
			if err != nil {
				t.Fatalf("request: %v", err)
			}
			r := f.get(rep.Request.ID)
			if r.Golden != tt.wantGolden || !r.Date.Truncate(24*time.Hour).Equal(tt.wantDate) {
				t.Fatalf("golden %q date %s, want %q %s", r.Golden, r.Date, tt.wantGolden, tt.wantDate)
			}
			if tt.wantGolden != "" && (r.Backup != g.Backup || !strings.Contains(rep.Text, "a thin copy of golden copy "+g.ID)) {
				t.Fatalf("backup %+v, answer %q", r.Backup, rep.Text)
			}
		})
	}
	if users, _ := f.store.GoldenUsers(ctx, g.ID); len(users) != 2 {
		t.Fatalf("dependants %v, want the two thin copies", users)
	}
}

// TestGoldenCopyRetiredMeanwhile: a golden copy that leaves service between the look and the
// request's creation is not used; the request is restored from its backup.
func TestGoldenCopyRetiredMeanwhile(t *testing.T) {
	f, g := newGoldenFixture(t)
	if _, err := f.store.MoveGolden(ctx, approvals.GoldenTransitionInput{ID: g.ID, To: approvals.GoldenRetiring, By: "clonebot", At: t0}); err != nil {
		t.Fatal(err)
	}
	rep, err := f.svc.RequestClone(ctx, Actor{User: "UDEV"}, CloneInput{Source: "prod", When: When{Latest: true}})
	if err != nil {
		t.Fatal(err)
	}
	if r := f.get(rep.Request.ID); r.Golden != "" || !r.Date.Equal(daysAgo(1)) {
		t.Fatalf("request %+v, want a restore of the newest backup", r)
	}
}

func TestExplainBackupsAndGoldenSayWhatGoldenCopiesServe(t *testing.T) {
	f, g := newGoldenFixture(t)
	a := Actor{User: "UDEV", Channel: "CGEN"}
	rep, err := ans(f.svc.Explain(ctx, a, CloneInput{Source: "prod", When: When{Latest: true}}))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Join(rep.Lines, "\n")
	for _, want := range []string{"Strategy: thin copy of golden copy prod/full (generation 1, " + g.ID + ", backup of " + ymd(daysAgo(2)) + ")",
		"Estimated time to ready: about 10s", "Golden copy prod/full: latest and " + ymd(daysAgo(2)) + " at full masking are thin copies"} {
		if !strings.Contains(lines, want) {
			t.Errorf("explain latest:\n%s\nwant %q", lines, want)
		}
	}
	rep, _ = ans(f.svc.Explain(ctx, a, CloneInput{Source: "prod", When: When{At: daysAgo(1)}}))
	if lines := strings.Join(rep.Lines, "\n"); !strings.Contains(lines, "Strategy: restore from backup of "+ymd(daysAgo(1))) {
		t.Errorf("explain of another day:\n%s", lines)
	}
	rep, _ = ans(f.svc.Backups(ctx, a, "prod", time.Time{}))
	if last := rep.Lines[len(rep.Lines)-1]; !strings.Contains(last, "latest and "+ymd(daysAgo(2))) {
		t.Errorf("backups end with %q", last)
	}
	rep, _ = ans(f.svc.GoldenCopies(ctx, a))
	lines = strings.Join(rep.Lines, "\n")
	if !strings.Contains(lines, "prod/full generation 1 ("+g.ID+"): ready, backup of "+ymd(daysAgo(2))) || !strings.Contains(lines, "next ready by 20") {
		t.Errorf("golden:\n%s", lines)
	}
}

func TestRefreshIsForAdmins(t *testing.T) {
	f, _ := newGoldenFixture(t)
	if rep, _ := ans(f.svc.Refresh(ctx, Actor{User: "UDEV"}, "prod", "")); !rep.Refused || !strings.Contains(rep.Text, "Only admins") {
		t.Fatalf("refresh by a developer: %+v", rep)
	}
	if rep, _ := ans(f.svc.Refresh(ctx, Actor{User: "UADMIN"}, "prod", "partial")); !rep.Refused || len(rep.Options) != 1 || rep.Options[0] != "full" {
		t.Fatalf("refresh of a level without golden copies: %+v", rep)
	}
	rep, err := ans(f.svc.Refresh(ctx, Actor{User: "UADMIN"}, "prod", ""))
	if err != nil || len(rep.Lines) != 1 || !strings.Contains(rep.Lines[0], "prod/full: generation 2") {
		t.Fatalf("refresh: %+v, %v", rep, err)
	}
	if rep, _ := ans(f.svc.Refresh(ctx, Actor{User: "UADMIN"}, "prod", "full")); !strings.Contains(strings.Join(rep.Lines, ""), "under way already") {
		t.Fatalf("second refresh: %+v", rep)
	}
}
