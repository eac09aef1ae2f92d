package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/clonebot/clonebot/audit"
)

// Store is the audit log in PostgreSQL.
type Store struct {
	pool *pgxpool.Pool
}

var (
	_ audit.Log           = (*Store)(nil)
	_ audit.ChainReader   = (*Store)(nil)
	_ audit.HistoryReader = (*Store)(nil)
	_ audit.Exporter      = (*Store)(nil)
	_ audit.AnchorLog     = (*Store)(nil)
)

// Open connects to the audit database at url and applies the migrations it lacks.
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's parse errors can quote the URL, password included: say only what kind it is.
		return nil, errors.New("audit database URL: not a PostgreSQL URL or DSN")
	}
	// pgx prepares statements; after five runs PostgreSQL may keep a generic plan made while the
	// log was small (a sequential scan for the idempotency lookup), which then costs O(rows) per
	// append. The log's queries are small and cheap to plan: plan every run with its values.
	cfg.ConnConfig.RuntimeParams["plan_cache_mode"] = "force_custom_plan"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("audit database: %w", err)
	}
	if err := Migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("audit database %s/%s: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Database, err)
	}
	return &Store{pool: pool}, nil
}

// New wraps a pool whose database is migrated (Migrate). Its connections should run with
// plan_cache_mode=force_custom_plan, as Open's do.
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// Close closes the pool.
func (s *Store) Close() { s.pool.Close() }

// ErrNoEventID is returned for an event without an id: it could not be deduplicated.
var ErrNoEventID = errors.New("audit event without an id")

var columns = []string{"seq", "event_id", "at", "request_id", "actor", "actor_name", "action", "tier", "source", "channel", "details", "prev_hash", "hash"}

const selectColumns = "seq, event_id, at, request_id, actor, actor_name, action, tier, source, channel, details, prev_hash, hash"

// Append adds the events whose ids the log does not hold yet to the chain, in order, and, when
// cursor is not "" and the batch's last event is among them, records that event's id as the
// cursor; one transaction. Writers take an advisory lock first, so any number of them (one per replica)
// make one chain, and an event delivered twice is appended once.
func (s *Store) Append(ctx context.Context, cursor string, events []audit.Event) (audit.Appended, error) {
	ids := make([]string, len(events))
	norm := make([]audit.Event, len(events))
	for i, e := range events {
		if e.ID == "" {
			return audit.Appended{}, fmt.Errorf("append event %d of %d (%s %s): %w", i+1, len(events), e.Action, e.RequestID, ErrNoEventID)
		}
		norm[i] = audit.Normalize(e)
		ids[i] = norm[i].ID
	}
	var out audit.Appended
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// step 1, one round trip: the lock, the head, the ids already in, the cursor; and the
		// cursor moved to the batch's last event if that one is not in yet (so this transaction
		// appends it; the rest of the batch is in by its commit, either way).
		b := &pgx.Batch{}
		b.Queue("SELECT pg_advisory_xact_lock($1)", lockChain)
		b.Queue("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")
		b.Queue("SELECT event_id FROM audit_events WHERE event_id = ANY($1)", ids)
		b.Queue("SELECT last_id FROM audit_cursors WHERE name = $1", cursor)
		move := cursor != "" && len(ids) > 0
		if move {
			b.Queue(`INSERT INTO audit_cursors (name, last_id, updated_at)
				SELECT $1, $2, now() WHERE NOT EXISTS (SELECT 1 FROM audit_events WHERE event_id = $2)
				ON CONFLICT (name) DO UPDATE SET last_id = excluded.last_id, updated_at = excluded.updated_at
				RETURNING last_id`, cursor, ids[len(ids)-1])
		}
		br := tx.SendBatch(ctx, b)
		head, known, stored, err := readAppendBatch(br, move)
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		out = audit.Appended{Cursor: stored, Head: head}
		// step 2: the events not in yet, chained onto the head.
		var fresh []audit.Event
		for _, e := range norm {
			if !known[e.ID] {
				known[e.ID] = true
				fresh = append(fresh, e)
			}
		}
		if len(fresh) == 0 {
			return nil
		}
		recs := audit.Link(head, fresh)
		rows := make([][]any, len(recs))
		for i, r := range recs {
			rows[i] = []any{r.Seq, r.ID, r.At, r.RequestID, r.Actor, r.ActorName, r.Action, r.Tier, r.Source, r.Channel,
				detailsOrEmpty(r.Details), r.Prev[:], r.Hash[:]}
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"audit_events"}, columns, pgx.CopyFromRows(rows)); err != nil {
			return fmt.Errorf("copy %d events: %w", len(rows), err)
		}
		out.N, out.Head = len(recs), audit.Head{Seq: recs[len(recs)-1].Seq, Hash: recs[len(recs)-1].Hash}
		return nil
	})
	if err != nil {
		return audit.Appended{}, fmt.Errorf("append to the audit log: %w", err)
	}
	return out, nil
}

// readAppendBatch reads step 1's answers: the head, the ids in, and the cursor (the moved one
// if moved says the batch asked to move it and it did).
func readAppendBatch(br pgx.BatchResults, move bool) (head audit.Head, known map[string]bool, cursor string, err error) {
	if _, err = br.Exec(); err != nil {
		return head, nil, "", fmt.Errorf("chain lock: %w", err)
	}
	var hash []byte
	switch err = br.QueryRow().Scan(&head.Seq, &hash); {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return head, nil, "", fmt.Errorf("chain head: %w", err)
	default:
		head.Hash = toHash(hash)
	}
	rows, err := br.Query()
	if err != nil {
		return head, nil, "", fmt.Errorf("known events: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return head, nil, "", fmt.Errorf("known events: %w", err)
	}
	known = make(map[string]bool, len(ids))
	for _, id := range ids {
		known[id] = true
	}
	if err = br.QueryRow().Scan(&cursor); err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return head, nil, "", fmt.Errorf("cursor: %w", err)
	}
	if move {
		if err = br.QueryRow().Scan(&cursor); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return head, nil, "", fmt.Errorf("move cursor: %w", err)
		}
	}
	return head, known, cursor, nil
}

// Cursor returns the id of the last event appended under name ("" if none).
func (s *Store) Cursor(ctx context.Context, name string) (string, error) {
	var id string
	err := s.pool.QueryRow(ctx, "SELECT last_id FROM audit_cursors WHERE name = $1", name).Scan(&id)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("audit cursor %s: %w", name, err)
	}
	return id, nil
}

// Head returns the newest row's sequence number and hash (zero for an empty log).
func (s *Store) Head(ctx context.Context) (audit.Head, error) {
	var h audit.Head
	var hash []byte
	err := s.pool.QueryRow(ctx, "SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1").Scan(&h.Seq, &hash)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return h, fmt.Errorf("audit chain head: %w", err)
	}
	h.Hash = toHash(hash)
	return h, nil
}

// RequestContext returns each request's latest non-empty tier, source and channel in the log.
func (s *Store) RequestContext(ctx context.Context, ids []string) (map[string]audit.RequestContext, error) {
	rows, err := s.pool.Query(ctx, `SELECT request_id,
		coalesce((array_agg(tier ORDER BY seq DESC) FILTER (WHERE tier <> ''))[1], ''),
		coalesce((array_agg(source ORDER BY seq DESC) FILTER (WHERE source <> ''))[1], ''),
		coalesce((array_agg(channel ORDER BY seq DESC) FILTER (WHERE channel <> ''))[1], '')
		FROM audit_events WHERE request_id = ANY($1) GROUP BY request_id`, ids)
	if err != nil {
		return nil, fmt.Errorf("request context: %w", err)
	}
	out := map[string]audit.RequestContext{}
	var id string
	var c audit.RequestContext
	_, err = pgx.ForEachRow(rows, []any{&id, &c.Tier, &c.Source, &c.Channel}, func() error {
		out[id] = c
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("request context: %w", err)
	}
	return out, nil
}

// Scan calls fn with every row in sequence order (one statement: one snapshot).
func (s *Store) Scan(ctx context.Context, fn func(audit.Record) error) error {
	return s.query(ctx, fn, "SELECT "+selectColumns+" FROM audit_events ORDER BY seq")
}

// SeqOfHash returns the lowest sequence number of a row whose hash is h.
func (s *Store) SeqOfHash(ctx context.Context, h audit.Hash) (int64, bool, error) {
	return s.seq(ctx, "SELECT seq FROM audit_events WHERE hash = $1 ORDER BY seq LIMIT 1", h[:])
}

// SeqOfPrev returns the lowest sequence number above after of a row whose prev_hash is h.
func (s *Store) SeqOfPrev(ctx context.Context, h audit.Hash, after int64) (int64, bool, error) {
	return s.seq(ctx, "SELECT seq FROM audit_events WHERE prev_hash = $1 AND seq > $2 ORDER BY seq LIMIT 1", h[:], after)
}

func (s *Store) seq(ctx context.Context, sql string, args ...any) (int64, bool, error) {
	var seq int64
	err := s.pool.QueryRow(ctx, sql, args...).Scan(&seq)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return 0, false, nil
	case err != nil:
		return 0, false, fmt.Errorf("audit chain lookup: %w", err)
	}
	return seq, true, nil
}

// Export calls fn with every row f selects, in sequence order.
func (s *Store) Export(ctx context.Context, f audit.Filter, fn func(audit.Record) error) error {
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if !f.Since.IsZero() {
		add("at >= $%d", f.Since)
	}
	if !f.Until.IsZero() {
		add("at < $%d", f.Until)
	}
	for _, c := range []struct{ col, v string }{{"actor", f.Actor}, {"tier", f.Tier}, {"action", f.Action}, {"source", f.Source}} {
		if c.v != "" {
			add(c.col+" = $%d", c.v)
		}
	}
	sql := "SELECT " + selectColumns + " FROM audit_events"
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	return s.query(ctx, fn, sql+" ORDER BY seq", args...)
}

// History calls fn, in sequence order, with every event of the requests that have an event at
// or after since or have not ended (no destroyed, denied, cancelled or expired event).
func (s *Store) History(ctx context.Context, since time.Time, fn func(audit.Record) error) error {
	return s.query(ctx, fn, `SELECT `+selectColumns+` FROM audit_events WHERE request_id IN (
		SELECT request_id FROM audit_events WHERE at >= $1 AND request_id <> ''
		UNION
		SELECT request_id FROM audit_events WHERE request_id <> '' GROUP BY request_id
		HAVING NOT bool_or(action = ANY($2))
	) ORDER BY seq`, since, []string{audit.ActionDestroyed, audit.ActionDenied, audit.ActionCancelled, audit.ActionExpired})
}

func (s *Store) query(ctx context.Context, fn func(audit.Record) error, sql string, args ...any) error {
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return fmt.Errorf("read the audit log: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r audit.Record
		var details, prev, hash []byte
		if err := rows.Scan(&r.Seq, &r.ID, &r.At, &r.RequestID, &r.Actor, &r.ActorName, &r.Action, &r.Tier, &r.Source,
			&r.Channel, &details, &prev, &hash); err != nil {
			return fmt.Errorf("read the audit log: %w", err)
		}
		r.At = r.At.UTC()
		r.Details, r.Prev, r.Hash = readDetails(details), toHash(prev), toHash(hash)
		if err := fn(r); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read the audit log: %w", err)
	}
	return nil
}

// readDetails decodes the details object. Values that are not strings (only a hand-edited row
// has them) are kept as their JSON text, so the row fails its hash rather than the read.
func readDetails(b []byte) map[string]string {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return map[string]string{"": string(b)}
	}
	out := make(map[string]string, len(raw))
	for k, v := range raw {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			s = string(v)
		}
		out[k] = s
	}
	return out
}

// toHash copies b into a Hash; a hash of the wrong length (a hand-edited row) fails its check.
func toHash(b []byte) audit.Hash {
	var h audit.Hash
	copy(h[:], b)
	return h
}

func detailsOrEmpty(d map[string]string) map[string]string {
	if d == nil {
		return map[string]string{}
	}
	return d
}
