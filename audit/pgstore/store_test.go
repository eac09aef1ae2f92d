package pgstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/clonebot/clonebot/audit"
	"github.com/clonebot/clonebot/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// t0 is the tests' "now": the real time (PostgreSQL stores what the tests give it).
var t0 = testenv.Now()

func open(t *testing.T, url string) *Store {
	t.Helper()
	s, err := Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// events returns n events with ids from, from+1, … (stream-like ids "N-0").
func events(from, n int) []audit.Event {
	out := make([]audit.Event, n)
	for i := range out {
		k := from + i
		out[i] = audit.Event{ID: fmt.Sprintf("%d-0", k), Action: audit.ActionVoted, RequestID: fmt.Sprintf("cl-%06d", k/4),
			Actor: "U" + strconv.Itoa(k%3), At: t0.Add(time.Duration(k) * time.Second), Tier: "debug", Source: "prod",
			Details: map[string]string{"decision": "approve", "slot_name": "oncall"}}
	}
	return out
}

func ids(t *testing.T, s *Store) []string {
	t.Helper()
	var out []string
	if err := s.Scan(context.Background(), func(r audit.Record) error { out = append(out, r.ID); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func verify(t *testing.T, s *Store, anchors ...audit.Head) audit.Verified {
	t.Helper()
	v, err := audit.Verify(context.Background(), s, anchors...)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return v
}

// TestMigrateConcurrently: replicas starting at once apply each migration once.
func TestMigrateConcurrently(t *testing.T) {
	url := testenv.Postgres(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pool, err := pgxpool.New(ctx, url)
			if err != nil {
				errs[i] = err
				return
			}
			defer pool.Close()
			errs[i] = Migrate(ctx, pool)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	s := open(t, url) // and once more, as a restart
	ms, _ := migrations()
	var n int
	if err := s.pool.QueryRow(ctx, "SELECT count(*) FROM audit_schema_migrations").Scan(&n); err != nil || n != len(ms) {
		t.Fatalf("%d migrations recorded (%v), want %d", n, err, len(ms))
	}
}

// TestAppendIsIdempotent: a redelivered event is not appended again, and the cursor follows the
// last event of each batch that added something.
func TestAppendIsIdempotent(t *testing.T) {
	s := open(t, testenv.Postgres(t))
	ctx := context.Background()
	res, err := s.Append(ctx, "outbox", events(1, 10))
	if err != nil || res.N != 10 || res.Cursor != "10-0" || res.Head.Seq != 10 {
		t.Fatalf("first append: %+v, %v", res, err)
	}
	res, err = s.Append(ctx, "outbox", events(6, 10)) // 6..15: 6..10 delivered again
	if err != nil || res.N != 5 || res.Cursor != "15-0" || res.Head.Seq != 15 {
		t.Fatalf("overlapping append: %+v, %v", res, err)
	}
	again, err := s.Append(ctx, "outbox", events(1, 15))
	if err != nil || again.N != 0 || again.Cursor != "15-0" || again.Head != res.Head {
		t.Fatalf("repeated append: %+v, %v; head was %v", again, err, res.Head)
	}
	want := make([]string, 15)
	for i := range want {
		want[i] = fmt.Sprintf("%d-0", i+1)
	}
	if got := ids(t, s); !slices.Equal(got, want) {
		t.Fatalf("rows %v", got)
	}
	if v := verify(t, s, res.Head); v.Head != res.Head || v.Rows != 15 {
		t.Fatalf("verified %+v", v)
	}
	if c, err := s.Cursor(ctx, "outbox"); err != nil || c != "15-0" {
		t.Fatalf("cursor %q, %v", c, err)
	}
	if _, err := s.Append(ctx, "outbox", []audit.Event{{Action: "voted"}}); !errors.Is(err, ErrNoEventID) {
		t.Fatalf("event without id: %v", err)
	}
	if none, err := s.Append(ctx, "outbox", nil); err != nil || none.N != 0 || none.Cursor != "15-0" {
		t.Fatalf("empty append: %+v, %v", none, err)
	}
}

// TestPlansEveryRun: the log's connections plan each statement with its values, so a plan
// made while the log was small (a sequential scan) is not kept as it grows (bench-audit found
// appends slowing from 0.3 to 3.5 ms at 20,000 rows).
func TestPlansEveryRun(t *testing.T) {
	s := open(t, testenv.Postgres(t))
	var mode string
	if err := s.pool.QueryRow(context.Background(), "SHOW plan_cache_mode").Scan(&mode); err != nil || mode != "force_custom_plan" {
		t.Fatalf("plan_cache_mode %q, %v", mode, err)
	}
}

// TestTwoWritersMakeOneChain: two replicas (two pools) append overlapping batches of one stream
// and their own events at the same time; the result is one chain, every event once, the stream
// in its order.
func TestTwoWritersMakeOneChain(t *testing.T) {
	url := testenv.Postgres(t)
	a, b := open(t, url), open(t, url)
	ctx := context.Background()
	stream := events(1, 400)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	feed := func(s *Store, batch int) {
		defer wg.Done()
		for i := 0; i < len(stream); i += batch {
			if _, err := s.Append(ctx, "outbox", stream[:min(len(stream), i+batch)][i:]); err != nil {
				errs <- err
				return
			}
		}
	}
	own := func(s *Store, name string) {
		defer wg.Done()
		for i := range 50 {
			e := audit.Event{ID: fmt.Sprintf("%s-%d", name, i), Action: audit.ActionReviewReminded, RequestID: "cl-own", Actor: "clonebot", At: t0}
			if _, err := s.Append(ctx, "", []audit.Event{e}); err != nil {
				errs <- err
				return
			}
		}
	}
	wg.Add(4)
	go feed(a, 7)
	go feed(b, 13)
	go own(a, "a")
	go own(b, "b")
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got := ids(t, a)
	if len(got) != 500 {
		t.Fatalf("%d rows, want 400 stream events and 100 own events", len(got))
	}
	var streamOrder []string
	for _, id := range got {
		if _, err := strconv.Atoi(id[:len(id)-2]); err == nil {
			streamOrder = append(streamOrder, id)
		}
	}
	for i, id := range streamOrder {
		if want := fmt.Sprintf("%d-0", i+1); id != want {
			t.Fatalf("stream event %d in the chain is %s, want %s", i, id, want)
		}
	}
	verify(t, b)
}

// TestAppendOnly: the table refuses updates, deletes and truncation.
func TestAppendOnly(t *testing.T) {
	s := open(t, testenv.Postgres(t))
	ctx := context.Background()
	if _, err := s.Append(ctx, "", events(1, 3)); err != nil {
		t.Fatal(err)
	}
	for _, sql := range []string{"UPDATE audit_events SET actor = 'x'", "DELETE FROM audit_events WHERE seq = 2", "TRUNCATE audit_events"} {
		if _, err := s.pool.Exec(ctx, sql); err == nil {
			t.Errorf("%s: accepted", sql)
		}
	}
	if v := verify(t, s); v.Rows != 3 {
		t.Fatalf("%d rows", v.Rows)
	}
}

// tamper runs SQL as someone who can switch the triggers off (the table owner or a superuser).
func tamper(t *testing.T, s *Store, sqls ...string) {
	t.Helper()
	ctx := context.Background()
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL session_replication_role = replica"); err != nil {
			return err
		}
		for _, sql := range sqls {
			if _, err := tx.Exec(ctx, sql); err != nil {
				return fmt.Errorf("%s: %w", sql, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestVerifyDetectsTampering: each single-row tampering an attacker with database rights can do
// is found and the row named, against the real table.
func TestVerifyDetectsTampering(t *testing.T) {
	rehashed := func(rows []audit.Record) string {
		r := rows[6]
		r.Actor = "U666"
		h := audit.ChainHash(r.Prev, r.Event)
		return fmt.Sprintf(`UPDATE audit_events SET actor = 'U666', hash = '\x%s' WHERE seq = 7`, h)
	}
	inserted := func(rows []audit.Record) string {
		e := audit.Normalize(audit.Event{ID: "forged", Action: audit.ActionApproved, RequestID: "cl-forged", Actor: "U666", At: t0, Details: map[string]string{}})
		h := audit.ChainHash(rows[5].Hash, e)
		return fmt.Sprintf(`INSERT INTO audit_events VALUES (7, 'forged', '%s', 'cl-forged', 'U666', '', 'approved', '', '', '', '{}', '\x%s', '\x%s')`,
			e.At.Format(time.RFC3339Nano), rows[5].Hash, h)
	}
	shift := []string{"UPDATE audit_events SET seq = -seq WHERE seq >= 7", "UPDATE audit_events SET seq = 1 - seq WHERE seq < 0"}
	tests := []struct {
		name     string
		sql      func(rows []audit.Record) []string
		anchor   bool
		wantKind audit.Kind
		wantSeq  int64
	}{
		{"actor changed", func([]audit.Record) []string { return []string{"UPDATE audit_events SET actor = 'U666' WHERE seq = 7"} }, false, audit.KindChanged, 7},
		{"detail changed", func([]audit.Record) []string {
			return []string{`UPDATE audit_events SET details = jsonb_set(details, '{decision}', '"deny"') WHERE seq = 7`}
		}, false, audit.KindChanged, 7},
		{"time moved by a second", func([]audit.Record) []string {
			return []string{"UPDATE audit_events SET at = at + interval '1 second' WHERE seq = 7"}
		}, false, audit.KindChanged, 7},
		{"changed and rehashed", func(rows []audit.Record) []string { return []string{rehashed(rows)} }, false, audit.KindRehashed, 7},
		{"deleted", func([]audit.Record) []string { return []string{"DELETE FROM audit_events WHERE seq = 7"} }, false, audit.KindDeleted, 7},
		{"inserted, the rest renumbered", func(rows []audit.Record) []string { return append(shift, inserted(rows)) }, false, audit.KindInserted, 7},
		{"two rows swapped", func([]audit.Record) []string {
			return []string{"UPDATE audit_events SET seq = -7 WHERE seq = 7", "UPDATE audit_events SET seq = 7 WHERE seq = 8", "UPDATE audit_events SET seq = 8 WHERE seq = -7"}
		}, false, audit.KindReordered, 7},
		{"tail cut below an anchor", func([]audit.Record) []string { return []string{"DELETE FROM audit_events WHERE seq >= 19"} }, true, audit.KindTailCut, 19},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t, testenv.Postgres(t))
			res, err := s.Append(context.Background(), "", events(1, 20))
			if err != nil {
				t.Fatal(err)
			}
			var rows []audit.Record
			if err := s.Scan(context.Background(), func(r audit.Record) error { rows = append(rows, r); return nil }); err != nil {
				t.Fatal(err)
			}
			verify(t, s, res.Head)
			tamper(t, s, tt.sql(rows)...)
			var anchors []audit.Head
			if tt.anchor {
				anchors = append(anchors, res.Head)
			}
			_, err = audit.Verify(context.Background(), s, anchors...)
			var te *audit.TamperError
			if !errors.As(err, &te) || te.Kind != tt.wantKind || te.Seq != tt.wantSeq {
				t.Fatalf("Verify: %v; want %s at seq %d", err, tt.wantKind, tt.wantSeq)
			}
		})
	}
}

// TestAnchorClaims: one claim per slot between replicas; a failed publication's claim is given
// back; an abandoned claim is taken over after the lease; a published slot is never claimed again.
func TestAnchorClaims(t *testing.T) {
	url := testenv.Postgres(t)
	a, b := open(t, url), open(t, url)
	ctx := context.Background()
	slot, lease := testenv.Day(t0, 0).Add(9*time.Hour), 10*time.Minute
	if _, ok, err := a.ClaimAnchor(ctx, slot, audit.AnchorDaily, t0, lease); ok || err != nil {
		t.Fatalf("empty chain claimed: %v, %v", ok, err)
	}
	res, err := a.Append(ctx, "", events(1, 5))
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name string
		s    *Store
		at   time.Duration
		do   func(s *Store) error
		want bool
	}{
		{name: "first replica claims", s: a, want: true},
		{name: "second replica does not", s: b, at: time.Minute},
		{name: "released", s: a, at: 2 * time.Minute, do: func(s *Store) error { return s.ReleaseAnchor(ctx, slot) }, want: true},
		{name: "abandoned claim, within the lease", s: a, at: 5 * time.Minute},
		{name: "abandoned claim, after the lease", s: a, at: 13 * time.Minute, want: true},
		{name: "published: never again", s: b, at: 30 * time.Minute, do: func(s *Store) error { return s.AnchorPublished(ctx, slot, t0.Add(14*time.Minute)) }},
	}
	for _, st := range steps {
		if st.do != nil {
			if err := st.do(st.s); err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
		}
		h, ok, err := st.s.ClaimAnchor(ctx, slot, audit.AnchorDaily, t0.Add(st.at), lease)
		if err != nil || ok != st.want || (ok && h != res.Head) {
			t.Fatalf("%s: claimed %v (%v, %v), want %v with head %v", st.name, ok, h, err, st.want, res.Head)
		}
	}
	last, ok, err := b.LastAnchor(ctx)
	if err != nil || !ok || last.Head != res.Head || !last.PublishedAt.Equal(t0.Add(14*time.Minute)) || last.Kind != audit.AnchorDaily {
		t.Fatalf("last anchor %+v, %v, %v", last, ok, err)
	}
}
