// Command audit measures appends to the hash-chained audit log against plain INSERTs of the same
// rows, on one throwaway PostgreSQL server (or CLONEBOT_BENCH_POSTGRES_URL, a superuser URL: the
// bench makes and drops its own databases there).
//
// Both sides write the same events in the same batches (-batch, default 256: the consumer's) with
// COPY, into tables with the same columns and the same secondary indexes (request id, time). The
// chained side is pgstore.Append, one transaction per batch: advisory lock, head read, lookup of
// the batch's ids already in (idempotency), SHA-256 of every row onto the one before, the two hash
// columns and the unique event id index, and the cursor. The plain side is one COPY per batch,
// nothing else (a COPY is atomic by itself). Rounds alternate which side goes first.
//
//	go run ./bench/audit [-events 100000] [-batch 256] [-rounds 10]
//
// The last line is: bench-audit chained_per_s=A plain_per_s=B ratio=A/B
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/clonebot/clonebot/audit"
	"github.com/clonebot/clonebot/audit/pgstore"
	"github.com/clonebot/clonebot/internal/testenv"
)

func main() {
	events := flag.Int("events", 100000, "events appended by each side")
	batch := flag.Int("batch", 256, "events per transaction")
	rounds := flag.Int("rounds", 10, "rounds; each appends events/rounds per side")
	flag.Parse()
	if err := run(context.Background(), *events, *batch, *rounds); err != nil {
		fmt.Fprintln(os.Stderr, "bench-audit:", err)
		os.Exit(1)
	}
}

const plainTable = `CREATE TABLE plain_events (
    seq        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id   text        NOT NULL,
    at         timestamptz NOT NULL,
    request_id text        NOT NULL,
    actor      text        NOT NULL,
    actor_name text        NOT NULL,
    action     text        NOT NULL,
    tier       text        NOT NULL,
    source     text        NOT NULL,
    channel    text        NOT NULL,
    details    jsonb       NOT NULL
);
CREATE INDEX plain_events_request ON plain_events (request_id);
CREATE INDEX plain_events_at ON plain_events (at);`

var plainColumns = []string{"event_id", "at", "request_id", "actor", "actor_name", "action", "tier", "source", "channel", "details"}

func run(ctx context.Context, total, batch, rounds int) error {
	if total <= 0 || batch <= 0 || rounds <= 0 || total%rounds != 0 {
		return errors.New("-events, -batch and -rounds must be positive, and -events a multiple of -rounds")
	}
	// step 1: a server, and one database per side.
	admin := os.Getenv("CLONEBOT_BENCH_POSTGRES_URL")
	if admin == "" {
		srv, err := testenv.StartServer(ctx)
		if err != nil {
			return err
		}
		defer srv.Stop()
		admin = srv.URL
	}
	chainURL, dropChain, err := database(ctx, admin, "bench_audit_chain")
	if err != nil {
		return err
	}
	defer dropChain()
	plainURL, dropPlain, err := database(ctx, admin, "bench_audit_plain")
	if err != nil {
		return err
	}
	defer dropPlain()
	store, err := pgstore.Open(ctx, chainURL)
	if err != nil {
		return err
	}
	defer store.Close()
	plain, err := pgx.Connect(ctx, plainURL)
	if err != nil {
		return err
	}
	defer plain.Close(ctx)
	if _, err := plain.Exec(ctx, plainTable); err != nil {
		return err
	}

	// step 2: alternating rounds of the same events.
	evs := generate(total)
	per := total / rounds
	var chained, bare time.Duration
	for r := range rounds {
		part := evs[r*per : (r+1)*per]
		sides := []func() (time.Duration, error){
			func() (time.Duration, error) { return appendChained(ctx, store, part, batch) },
			func() (time.Duration, error) { return appendPlain(ctx, plain, part, batch) },
		}
		if r%2 == 1 {
			sides[0], sides[1] = sides[1], sides[0]
		}
		var took [2]time.Duration
		for i, side := range sides {
			d, err := side()
			if err != nil {
				return err
			}
			took[(i+r)%2] = d
		}
		chained, bare = chained+took[0], bare+took[1]
		fmt.Printf("round %d: %d events, chained %s, plain %s\n", r+1, per, took[0].Round(time.Millisecond), took[1].Round(time.Millisecond))
	}

	// step 3: the chain is whole; then the figures.
	start := time.Now()
	v, err := audit.Verify(ctx, store)
	if err != nil {
		return err
	}
	if v.Rows != int64(total) {
		return fmt.Errorf("the chain has %d rows, want %d", v.Rows, total)
	}
	fmt.Printf("verify: %d rows in %s (%.0f rows/s)\n", v.Rows, time.Since(start).Round(time.Millisecond), float64(v.Rows)/time.Since(start).Seconds())
	cps, pps := float64(total)/chained.Seconds(), float64(total)/bare.Seconds()
	fmt.Printf("bench-audit chained_per_s=%.0f plain_per_s=%.0f ratio=%.2f\n", cps, pps, cps/pps)
	return nil
}

func appendChained(ctx context.Context, s *pgstore.Store, evs []audit.Event, batch int) (time.Duration, error) {
	start := time.Now()
	for i := 0; i < len(evs); i += batch {
		if _, err := s.Append(ctx, "bench", evs[i:min(len(evs), i+batch)]); err != nil {
			return 0, err
		}
	}
	return time.Since(start), nil
}

func appendPlain(ctx context.Context, c *pgx.Conn, evs []audit.Event, batch int) (time.Duration, error) {
	start := time.Now()
	for i := 0; i < len(evs); i += batch {
		part := evs[i:min(len(evs), i+batch)]
		_, err := c.CopyFrom(ctx, pgx.Identifier{"plain_events"}, plainColumns, pgx.CopyFromSlice(len(part), func(j int) ([]any, error) {
			e := part[j]
			return []any{e.ID, e.At, e.RequestID, e.Actor, e.ActorName, e.Action, e.Tier, e.Source, e.Channel, e.Details}, nil
		}))
		if err != nil {
			return 0, fmt.Errorf("plain copy: %w", err)
		}
	}
	return time.Since(start), nil
}

// generate makes n events shaped like the engine's: eight per request, with its details.
func generate(n int) []audit.Event {
	actions := []string{audit.ActionRequested, audit.ActionApproved, audit.ActionMessage, audit.ActionProvisioning,
		audit.ActionRestoring, audit.ActionReady, audit.ActionDestroying, audit.ActionDestroyed}
	t0 := time.Now().UTC().Add(-time.Duration(n) * time.Second)
	out := make([]audit.Event, n)
	for i := range out {
		req := "cl-" + strconv.Itoa(100000+i/len(actions))
		d := map[string]string{"from": "approved", "to": "provisioning", "note": "expired"}
		if i%len(actions) == 0 {
			d = map[string]string{"tier": "debug", "source": "prod", "mode": "dual", "ttl_ms": "14400000", "reason": "INC-4711 checkout errors", "team": "payments"}
		}
		out[i] = audit.Normalize(audit.Event{ID: strconv.FormatInt(t0.UnixMilli()+int64(i), 10) + "-0", Action: actions[i%len(actions)],
			RequestID: req, Actor: "U0" + strconv.Itoa(i%7), ActorName: "user " + strconv.Itoa(i%7), At: t0.Add(time.Duration(i) * time.Second),
			Tier: "debug", Source: "prod", Channel: "C0REQUESTS", Details: d})
	}
	return out
}

// database creates a database on the server of admin and returns its URL and a drop.
func database(ctx context.Context, admin, name string) (string, func(), error) {
	c, err := pgx.Connect(ctx, admin)
	if err != nil {
		return "", nil, err
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
		return "", nil, err
	}
	if _, err := c.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", nil, err
	}
	drop := func() {
		if c, err := pgx.Connect(ctx, admin); err == nil {
			_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			c.Close(ctx)
		}
	}
	return testenv.WithDatabase(admin, name), drop, nil
}
