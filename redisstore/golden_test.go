package redisstore

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/clonebot/clonebot/approvals"
	"github.com/clonebot/clonebot/internal/fakes"
	"github.com/clonebot/clonebot/internal/testenv"
)

func (f *fixture) startGolden(slot time.Time, at time.Time) (*approvals.Golden, error) {
	f.t.Helper()
	return f.s.StartGolden(context.Background(), approvals.GoldenStart{
		ID: approvals.NewGoldenID(), Source: "prod", Masking: approvals.MaskFull, Slot: slot, By: "clonebot", At: at,
		Backup:     approvals.Backup{Kind: "file", Location: "/b/prod/day.dump", Size: 4096},
		BackupDate: testenv.Day(t0, -1),
		Say:        []approvals.Notice{{Kind: approvals.NoticeGolden, Text: "building"}},
	})
}

func (f *fixture) moveGolden(id string, to approvals.GoldenStatus, at time.Time) (*approvals.Golden, error) {
	f.t.Helper()
	return f.s.MoveGolden(context.Background(), approvals.GoldenTransitionInput{ID: id, To: to, By: "clonebot", At: at,
		Clone: &approvals.CloneInfo{Host: "db", Port: 5432, Database: "clone_" + id, User: "clone_" + id, CredentialRef: "file:///s/" + id}})
}

func TestGoldenBuildLine(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	slot := t0.Add(2 * time.Hour)

	// step 1: the scheduled build starts once; while it runs, no other starts, refresh included.
	g, err := f.startGolden(slot, t0)
	if err != nil {
		t.Fatal(err)
	}
	if g.Generation != 1 || g.Status != approvals.GoldenProvisioning || !g.Slot.Equal(slot) || g.Backup.Size != 4096 || !g.CreatedAt.Equal(t0) {
		t.Fatalf("started %+v", g)
	}
	if _, err := f.startGolden(slot, t0); !errors.Is(err, approvals.ErrGoldenBusy) {
		t.Fatalf("second start: %v, want ErrGoldenBusy", err)
	}
	if _, err := f.startGolden(time.Time{}, t0); !errors.Is(err, approvals.ErrGoldenBusy) {
		t.Fatalf("refresh during a build: %v, want ErrGoldenBusy", err)
	}

	// step 2: it is made, restored (with the agent's counts) and ready after 40 minutes.
	if _, err := f.moveGolden(g.ID, approvals.GoldenRestoring, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := f.s.GoldenProgress(ctx, g.ID, 1200, 3<<20); err != nil {
		t.Fatal(err)
	}
	g, err = f.moveGolden(g.ID, approvals.GoldenReady, t0.Add(40*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if g.Status != approvals.GoldenReady || g.Rows != 1200 || g.BuildTime() != 40*time.Minute || g.Clone == nil || g.Clone.Database != "clone_"+g.ID {
		t.Fatalf("ready %+v", g)
	}
	line, err := f.s.GoldenLine(ctx, "prod", approvals.MaskFull)
	if err != nil {
		t.Fatal(err)
	}
	if line.Building != "" || line.Generation != 1 || !line.LastSlot.Equal(slot) || !slices.Equal(line.Recent, []time.Duration{40 * time.Minute}) {
		t.Fatalf("line %+v", line)
	}

	// step 3: the same slot is not built again; a refresh is, and a later slot.
	if _, err := f.startGolden(slot, t0.Add(time.Hour)); !errors.Is(err, approvals.ErrGoldenNotDue) {
		t.Fatalf("same slot again: %v, want ErrGoldenNotDue", err)
	}
	g2, err := f.startGolden(time.Time{}, t0.Add(time.Hour))
	if err != nil || g2.Generation != 2 {
		t.Fatalf("refresh: %+v, %v", g2, err)
	}
	if _, err := f.s.MoveGolden(ctx, approvals.GoldenTransitionInput{ID: g2.ID, To: approvals.GoldenFailed, Failure: "gate hit", By: "clonebot", At: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if g3, err := f.startGolden(slot.Add(7*24*time.Hour), t0.Add(2*time.Hour)); err != nil || g3.Generation != 3 {
		t.Fatalf("next slot: %+v, %v", g3, err)
	}
	all, err := f.s.Goldens(ctx)
	if err != nil || len(all) != 3 || all[0].Generation != 3 || all[2].Generation != 1 {
		t.Fatalf("goldens %v, %v", all, err)
	}

	// the audit events, and the notices under each copy's id.
	var types []string
	for _, e := range f.outbox() {
		if e.RequestID == g.ID {
			types = append(types, e.Type)
		}
		if e.Type == "golden_ready" && (e.Data["duration_ms"] != strconv.Itoa(40*60*1000) || e.Data["rows"] != "1200" || e.Data["source"] != "prod" || e.Data["masking"] != "full" || e.Data["generation"] != "1") {
			t.Fatalf("golden_ready event %+v", e)
		}
		if e.Type == "golden_failed" && e.Data["failure"] != "gate hit" {
			t.Fatalf("golden_failed event %+v", e)
		}
	}
	equalStrings(t, "audit events of generation 1", types, []string{"golden_started", "golden_restoring", "golden_ready"})
	said, err := fakes.TakeNotices(ctx, f.s, g.ID)
	if err != nil || len(said) != 1 || said[0] != "golden "+g.ID+" [] building" {
		t.Fatalf("notices %v, %v", said, err)
	}
}

func TestGoldenDependantsAndRetirement(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	g, err := f.startGolden(t0, t0)
	if err != nil {
		t.Fatal(err)
	}

	// not ready yet: a request cannot be made from it.
	r := single("cl-g1")
	r.Golden = g.ID
	if err := f.s.Create(ctx, r, approvals.Limits{}); !errors.Is(err, approvals.ErrGoldenGone) {
		t.Fatalf("create from a building copy: %v, want ErrGoldenGone", err)
	}
	if _, err := f.s.Get(ctx, "cl-g1"); !errors.Is(err, approvals.ErrNotFound) {
		t.Fatalf("the refused request was stored: %v", err)
	}
	f.moveGolden(g.ID, approvals.GoldenRestoring, t0)
	f.moveGolden(g.ID, approvals.GoldenReady, t0)

	// ready: the request is made from it and depends on it; it cannot retire meanwhile.
	f.create(r)
	if got := f.get("cl-g1"); got.Golden != g.ID {
		t.Fatalf("stored golden %q", got.Golden)
	}
	if users, _ := f.s.GoldenUsers(ctx, g.ID); !slices.Equal(users, []string{"cl-g1"}) {
		t.Fatalf("dependants %v", users)
	}
	if _, err := f.moveGolden(g.ID, approvals.GoldenRetiring, t0); !errors.Is(err, approvals.ErrGoldenInUse) {
		t.Fatalf("retire with a dependant: %v, want ErrGoldenInUse", err)
	}
	if err := f.s.ReleaseGolden(ctx, g.ID, "cl-g1"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.moveGolden(g.ID, approvals.GoldenRetiring, t0); err != nil {
		t.Fatal(err)
	}
	// retiring: no new request is made from it.
	r2 := single("cl-g2")
	r2.Golden = g.ID
	if err := f.s.Create(ctx, r2, approvals.Limits{}); !errors.Is(err, approvals.ErrGoldenGone) {
		t.Fatalf("create from a retiring copy: %v", err)
	}
	if _, err := f.moveGolden(g.ID, approvals.GoldenRetired, t0); err != nil {
		t.Fatal(err)
	}
	if all, _ := f.s.Goldens(ctx); len(all) != 0 {
		t.Fatalf("retired copy still listed: %v", all)
	}
	if ttl := f.c.PTTL(ctx, f.s.k.golden(g.ID)).Val(); ttl <= 0 {
		t.Fatalf("retired record kept forever (pttl %s)", ttl)
	}
	var illegal *approvals.IllegalGoldenTransitionError
	if _, err := f.moveGolden(g.ID, approvals.GoldenReady, t0); !errors.As(err, &illegal) || !errors.Is(err, approvals.ErrIllegalTransition) {
		t.Fatalf("retired → ready: %v", err)
	}
}

// TestGoldenStartRace: replicas that find the same slot due at once start one build.
func TestGoldenStartRace(t *testing.T) {
	f := newFixture(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var started, busy int
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := f.s.StartGolden(context.Background(), approvals.GoldenStart{ID: approvals.NewGoldenID(), Source: "prod",
				Masking: approvals.MaskFull, Slot: t0, By: "clonebot", At: t0})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				started++
			case errors.Is(err, approvals.ErrGoldenBusy):
				busy++
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if started != 1 || busy != 7 {
		t.Fatalf("started %d, busy %d; want 1 and 7", started, busy)
	}
}

func equalStrings(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s: got %q, want %q", what, got, want)
	}
}
