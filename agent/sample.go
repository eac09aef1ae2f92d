package agent

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"

	"github.com/clonebot/clonebot/agent/mask"
)

// gateSample is how many original values per masked column the verification gate checks.
const gateSample = 1000

// sampler keeps a uniform sample (reservoir, algorithm R) of the rows of one table as they
// stream by: the original values of the masked columns and the row's key candidate (its first
// column, when that is not masked). Only rows the reservoir keeps are decoded. The sample
// lives in memory for the job only.
type sampler struct {
	k      int
	n      int64
	rng    *rand.Rand
	key    int   // field position of the key candidate, -1 for none
	pos    []int // field positions of the masked columns
	rows   []sampledRow
	fields [][]byte
}

// sampledRow holds decoded values; nil is NULL.
type sampledRow struct {
	key  []byte
	vals [][]byte
}

func newSampler(k, key int, pos []int) *sampler {
	return &sampler{k: k, key: key, pos: pos, rng: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))}
}

// offer sees one raw COPY text row (no newline).
func (s *sampler) offer(line []byte) error {
	s.n++
	slot := len(s.rows)
	if slot >= s.k {
		j := s.rng.Int64N(s.n)
		if j >= int64(s.k) {
			return nil
		}
		slot = int(j)
	}
	s.fields = mask.SplitFields(s.fields[:0], line)
	decode := func(p int) ([]byte, error) {
		if p < 0 || p >= len(s.fields) || mask.IsNull(s.fields[p]) {
			return nil, nil
		}
		v, err := mask.DecodeField(nil, s.fields[p])
		if err != nil {
			return nil, fmt.Errorf("sample row %d: %w", s.n, err)
		}
		return v, nil
	}
	row := sampledRow{vals: make([][]byte, len(s.pos))}
	var err error
	if row.key, err = decode(s.key); err != nil {
		return err
	}
	for i, p := range s.pos {
		if row.vals[i], err = decode(p); err != nil {
			return err
		}
	}
	if slot == len(s.rows) {
		s.rows = append(s.rows, row)
	} else {
		s.rows[slot] = row
	}
	return nil
}

// tableSample is what the gate checks of one table.
type tableSample struct {
	key     string   // key candidate column, "" for none
	columns []string // masked columns, in the order of sampledRow.vals
	rows    []sampledRow
}

// samples collects the sampled tables of a job.
type samples struct {
	mu     sync.Mutex
	tables map[string]*tableSample
}

func (ss *samples) add(table, key string, columns []string, s *sampler) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.tables == nil {
		ss.tables = map[string]*tableSample{}
	}
	ss.tables[table] = &tableSample{key: key, columns: columns, rows: s.rows}
}

// ErrGate is wrapped by the Failure of a clone that still holds sampled original values.
var ErrGate = errors.New("verification gate")

// queryer is what the gate needs of a connection (a *pgx.Conn or a pgx.Tx).
type queryer interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// gateTables lists the sampled tables.
func (ss *samples) gateTables() []string {
	out := make([]string, 0, len(ss.tables))
	for t := range ss.tables {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// gate checks that the clone holds none of the sampled original values of table's masked
// columns, in one query. When the sampled key column is unique on the clone, the check is per
// row (the sampled row, found by its key, no longer holds its original value): exact, and an
// index lookup per sampled row. Otherwise it is per column (no row of the column holds any
// sampled original, one scan): a masked value of another row that happens to equal a sampled
// original also fails it, which is likely only for fakes drawn from small spaces. It returns a
// permanent Failure naming the first leaking column, never the values.
func (ss *samples) gate(ctx context.Context, q queryer, table string) error {
	ts := ss.tables[table]
	schema, name, _ := strings.Cut(table, ".")
	ident := pgx.Identifier{schema, name}.Sanitize()
	keyType := ""
	if ts.key != "" {
		err := q.QueryRow(ctx, `SELECT format_type(a.atttypid, a.atttypmod)
			FROM pg_catalog.pg_index i
			JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
			WHERE i.indrelid = $1::regclass AND i.indisunique AND i.indnkeyatts = 1
			  AND i.indpred IS NULL AND i.indexprs IS NULL AND a.attname = $2
			LIMIT 1`, ident, ts.key).Scan(&keyType)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("gate key of %s: %w", table, err)
		}
	}
	counts := make([]string, len(ts.columns))
	var sql string
	var args []any
	if keyType != "" {
		keys := make([]*string, len(ts.rows))
		aliases := []string{"k"}
		for i, r := range ts.rows {
			keys[i] = str(r.key)
		}
		args = append(args, keys)
		for c, col := range ts.columns {
			vals := make([]*string, len(ts.rows))
			for i, r := range ts.rows {
				vals[i] = str(r.vals[c])
			}
			args = append(args, vals)
			aliases = append(aliases, fmt.Sprintf("v%d", c))
			counts[c] = fmt.Sprintf("count(*) FILTER (WHERE t.%s::text = s.v%d)", pgx.Identifier{col}.Sanitize(), c)
		}
		params := make([]string, len(args))
		for i := range args {
			params[i] = fmt.Sprintf("$%d::text[]", i+1)
		}
		sql = fmt.Sprintf("SELECT %s FROM unnest(%s) AS s(%s) JOIN %s AS t ON t.%s = s.k::%s",
			strings.Join(counts, ", "), strings.Join(params, ", "), strings.Join(aliases, ", "),
			ident, pgx.Identifier{ts.key}.Sanitize(), keyType)
	} else {
		for c, col := range ts.columns {
			var vals []string
			for _, r := range ts.rows {
				if r.vals[c] != nil {
					vals = append(vals, string(r.vals[c]))
				}
			}
			args = append(args, vals)
			counts[c] = fmt.Sprintf("count(*) FILTER (WHERE %s::text IN (SELECT unnest($%d::text[])))", pgx.Identifier{col}.Sanitize(), c+1)
		}
		sql = fmt.Sprintf("SELECT %s FROM %s", strings.Join(counts, ", "), ident)
	}
	hits := make([]int64, len(ts.columns))
	dest := make([]any, len(hits))
	for i := range hits {
		dest[i] = &hits[i]
	}
	if err := q.QueryRow(ctx, sql, args...).Scan(dest...); err != nil {
		return fmt.Errorf("gate query on %s: %w", table, err)
	}
	for i, h := range hits {
		if h > 0 {
			return permanent(ErrGate, "masking verification failed: %d row(s) of %s.%s still hold original values; the clone will not be released", h, table, ts.columns[i])
		}
	}
	return nil
}

func str(b []byte) *string {
	if b == nil {
		return nil
	}
	s := string(b)
	return &s
}
