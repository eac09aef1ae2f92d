package agent

import (
	"context"
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

// sampler keeps a uniform sample (reservoir, algorithm R) of the original values of the masked
// columns of one table's rows, as they stream by. Only rows the reservoir keeps are decoded.
// The sample lives in memory for the job only.
type sampler struct {
	k      int
	n      int64
	rng    *rand.Rand
	pos    []int // field positions of the masked columns in a row
	rows   [][][]byte
	fields [][]byte
}

func newSampler(k int, pos []int) *sampler {
	return &sampler{k: k, pos: pos, rng: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))}
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
	vals := make([][]byte, len(s.pos))
	for i, p := range s.pos {
		if p >= len(s.fields) || mask.IsNull(s.fields[p]) {
			continue
		}
		v, err := mask.DecodeField(nil, s.fields[p])
		if err != nil {
			return fmt.Errorf("sample row %d: %w", s.n, err)
		}
		vals[i] = v
	}
	if slot == len(s.rows) {
		s.rows = append(s.rows, vals)
	} else {
		s.rows[slot] = vals
	}
	return nil
}

// samples collects, per masked column of per table, the sampled original values.
type samples struct {
	mu     sync.Mutex
	tables map[string]map[string][]string // qualified table → column → values
}

func (ss *samples) add(table string, columns []string, s *sampler) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.tables == nil {
		ss.tables = map[string]map[string][]string{}
	}
	cols := ss.tables[table]
	if cols == nil {
		cols = map[string][]string{}
		ss.tables[table] = cols
	}
	for _, row := range s.rows {
		for i, v := range row {
			if v != nil && len(cols[columns[i]]) < s.k {
				cols[columns[i]] = append(cols[columns[i]], string(v))
			}
		}
	}
}

// ErrGate is wrapped by the Failure of a clone that still holds sampled original values.
var ErrGate = fmt.Errorf("verification gate")

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

// gate checks that no masked column of table in the clone contains any sampled original value
// of that column, in one scan of the table (a hashed IN per column). It returns a permanent
// Failure naming the first leaking column, never the values.
func (ss *samples) gate(ctx context.Context, q queryer, table string) error {
	cols := ss.tables[table]
	names := make([]string, 0, len(cols))
	for c := range cols {
		names = append(names, c)
	}
	slices.Sort(names)
	counts := make([]string, len(names))
	args := make([]any, len(names))
	for i, c := range names {
		counts[i] = fmt.Sprintf("count(*) FILTER (WHERE %s::text IN (SELECT unnest($%d::text[])))", pgx.Identifier{c}.Sanitize(), i+1)
		args[i] = cols[c]
	}
	schema, name, _ := strings.Cut(table, ".")
	sql := fmt.Sprintf("SELECT %s FROM %s", strings.Join(counts, ", "), pgx.Identifier{schema, name}.Sanitize())
	hits := make([]int64, len(names))
	dest := make([]any, len(names))
	for i := range hits {
		dest[i] = &hits[i]
	}
	if err := q.QueryRow(ctx, sql, args...).Scan(dest...); err != nil {
		return fmt.Errorf("gate query on %s: %w", table, err)
	}
	for i, h := range hits {
		if h > 0 {
			return permanent(ErrGate, "masking verification failed: %d row(s) of %s.%s still hold original values; the clone will not be released", h, table, names[i])
		}
	}
	return nil
}
