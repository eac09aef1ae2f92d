package agent

import (
	"context"
	"fmt"
	"math/rand/v2"
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

// gate checks that no masked column of the clone contains any sampled original value of that
// column: one query per column. It returns a permanent Failure naming the first leaking column.
func (ss *samples) gate(ctx context.Context, q queryer) (checked int, err error) {
	for table, cols := range ss.tables {
		schema, name, _ := strings.Cut(table, ".")
		for col, vals := range cols {
			var hits int64
			sql := fmt.Sprintf("SELECT count(*) FROM %s WHERE %s::text = ANY($1::text[])",
				pgx.Identifier{schema, name}.Sanitize(), pgx.Identifier{col}.Sanitize())
			if err := q.QueryRow(ctx, sql, vals).Scan(&hits); err != nil {
				return checked, fmt.Errorf("gate query on %s.%s: %w", table, col, err)
			}
			checked++
			if hits > 0 {
				return checked, permanent(ErrGate, "masking verification failed: %d row(s) of %s.%s still hold original values; the clone will not be released", hits, table, col)
			}
		}
	}
	return checked, nil
}
