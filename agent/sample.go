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

// gateSample is how many rows per table the verification gate samples.
const gateSample = 1000

// sampler keeps a uniform sample (reservoir, algorithm R) of the rows of one table as they
// stream by: for each masked column what must not be found again in the clone (the original
// value, or the scalars under its json paths), the strings of the columns the detectors read,
// and the row's key candidate (its first column, when that is not masked). Only rows the
// reservoir keeps are decoded. The sample lives in memory for the job only.
type sampler struct {
	k      int
	n      int64
	rng    *rand.Rand
	m      *mask.TableMasker // a clone of the table's masker, for Originals and ScanValues
	key    int               // field position of the key candidate, -1 for none
	gate   []mask.GateColumn
	scan   []mask.ScanColumn
	rows   []sampledRow
	fields [][]byte
}

// sampledRow holds one sampled row's decoded values.
type sampledRow struct {
	key  []byte     // nil for NULL
	orig [][][]byte // per gate column: what must not be found again (nil: nothing)
	scan [][][]byte // per scan column: the strings the detectors read
}

// newSampler samples rows for the gate of the table m masks; key is the position of the key
// candidate or -1.
func newSampler(k, key int, m *mask.TableMasker) *sampler {
	return &sampler{k: k, key: key, m: m.Clone(), gate: m.GateColumns(), scan: m.ScanColumns(),
		rng: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))}
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
	decode := func(p int) ([]byte, bool, error) {
		if p < 0 || p >= len(s.fields) || mask.IsNull(s.fields[p]) {
			return nil, true, nil
		}
		v, err := mask.DecodeField(nil, s.fields[p])
		if err != nil {
			return nil, false, fmt.Errorf("sample row %d: %w", s.n, err)
		}
		return v, false, nil
	}
	row := sampledRow{orig: make([][][]byte, len(s.gate)), scan: make([][][]byte, len(s.scan))}
	var err error
	if row.key, _, err = decode(s.key); err != nil {
		return err
	}
	for i, g := range s.gate {
		v, null, err := decode(g.Index)
		if err != nil {
			return err
		}
		if row.orig[i], err = s.m.Originals(g.Name, v, null); err != nil {
			return fmt.Errorf("sample row %d: %w", s.n, err)
		}
	}
	for i, c := range s.scan {
		v, null, err := decode(c.Index)
		if err != nil || null {
			if err != nil {
				return err
			}
			continue
		}
		if row.scan[i], err = s.m.ScanValues(nil, c.Name, v); err != nil {
			return fmt.Errorf("sample row %d: %w", s.n, err)
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
	key         string // key candidate column, "" for none
	partitioned bool   // the rows went into its partitions
	m           *mask.TableMasker
	gate        []mask.GateColumn
	scan        []mask.ScanColumn
	rows        []sampledRow
}

// samples collects the sampled tables of a job.
type samples struct {
	mu     sync.Mutex
	tables map[string]*tableSample
}

// add records the sample of rows copied into table; a table loaded by several COPY blocks
// (its partitions, through it) keeps the rows of all.
func (ss *samples) add(table, key string, partitioned bool, s *sampler) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.tables == nil {
		ss.tables = map[string]*tableSample{}
	}
	if ts, ok := ss.tables[table]; ok {
		ts.rows = append(ts.rows, s.rows...)
		if ts.key != key {
			ts.key = ""
		}
		return
	}
	ss.tables[table] = &tableSample{key: key, partitioned: partitioned, m: s.m, gate: s.gate, scan: s.scan, rows: s.rows}
}

// ErrGate is wrapped by the Failure of a clone that still holds sampled original values, or
// whose unmasked values look like personal data.
var ErrGate = errors.New("verification gate")

// queryer is what the gate needs of a connection (a *pgx.Conn or a pgx.Tx).
type queryer interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
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

// gate checks one table of the clone. First the detectors read the sampled strings of the
// columns no rule masks and no keep declares safe (and of the documents masked by path,
// outside the paths): a column whose values look like emails, card numbers, national ids, ...
// blocks the clone. Then no sampled original of a masked column may be in the clone: when
// the key column is unique on the clone, row by row (the sampled row, found by its key, no
// longer holds its original: exact, an index lookup per sampled row); otherwise column by
// column (no row of the column holds any sampled original, one scan), which a masked value of
// another row equal to a sampled original also fails, so columns masked by noise or shifted
// dates are only checked row by row. It returns a permanent Failure naming the table, the
// column and the detector, never a value.
func (ss *samples) gate(ctx context.Context, q queryer, table string) error {
	ts := ss.tables[table]
	// step 1: the detectors.
	if err := detectorsFail(table, ts.scan, ts.rows); err != nil {
		return err
	}
	if len(ts.gate) == 0 || len(ts.rows) == 0 {
		return nil
	}
	schema, name, _ := strings.Cut(table, ".")
	ident := pgx.Identifier{schema, name}.Sanitize()
	from := "ONLY " + ident
	if ts.partitioned {
		from = ident
	}
	// step 2: the key, if it is unique on the clone.
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
	// step 3: the originals of the masked columns.
	hits, err := ts.countHits(ctx, q, from, keyType)
	if err != nil {
		return fmt.Errorf("gate query on %s: %w", table, err)
	}
	for i, h := range hits {
		if h > 0 {
			return permanent(ErrGate, "masking verification failed: %d row(s) of %s.%s still hold original values; the clone will not be released",
				h, table, ts.gate[i].Name)
		}
	}
	return nil
}

// detectorsFail runs the detectors over the sampled strings of each scanned column and
// returns a permanent Failure naming the first column they recognise, and what as.
func detectorsFail(table string, scan []mask.ScanColumn, rows []sampledRow) error {
	for i, c := range scan {
		var vals [][]byte
		for _, r := range rows {
			vals = append(vals, r.scan[i]...)
		}
		if f := mask.DetectValues(vals); len(f) > 0 {
			return permanent(ErrGate, "masking verification failed: %s.%s holds %s (%d of %d sampled values); mask it with a rule, "+
				"or declare it keep if that is intended; the clone will not be released", table, c.Name, f[0].Detector.Name, f[0].Hits, f[0].Sampled)
		}
	}
	return nil
}

// compare returns the SQL condition that a clone value col equals a sampled original given
// as text param.
func compare(g mask.GateColumn, col, param string) string {
	if g.Cast != "" {
		return fmt.Sprintf("%s = (%s)::%s", col, param, g.Cast)
	}
	return fmt.Sprintf("%s::text = %s", col, param)
}

// countHits counts, per gate column, the clone's values that equal sampled originals:
// row by row when keyType is set, column by column otherwise.
func (ts *tableSample) countHits(ctx context.Context, q queryer, from, keyType string) ([]int64, error) {
	hits := make([]int64, len(ts.gate))
	var counts []string
	var args []any
	var dest []any
	var jsonCols []int
	keyCol := pgx.Identifier{ts.key}.Sanitize()
	if keyType != "" {
		keys := make([]*string, len(ts.rows))
		for i, r := range ts.rows {
			keys[i] = str(r.key)
		}
		args = append(args, keys)
		aliases := []string{"k"}
		for c, g := range ts.gate {
			if g.JSON {
				jsonCols = append(jsonCols, c)
				continue
			}
			vals := make([]*string, len(ts.rows))
			for i, r := range ts.rows {
				if len(r.orig[c]) > 0 {
					vals[i] = str(r.orig[c][0])
				}
			}
			args = append(args, vals)
			alias := fmt.Sprintf("v%d", len(aliases))
			aliases = append(aliases, alias)
			counts = append(counts, fmt.Sprintf("count(*) FILTER (WHERE %s)", compare(g, "t."+pgx.Identifier{g.Name}.Sanitize(), "s."+alias)))
			dest = append(dest, &hits[c])
		}
		if len(counts) > 0 {
			params := make([]string, len(args))
			for i := range args {
				params[i] = fmt.Sprintf("$%d::text[]", i+1)
			}
			sql := fmt.Sprintf("SELECT %s FROM unnest(%s) AS s(%s) JOIN %s AS t ON t.%s = s.k::%s",
				strings.Join(counts, ", "), strings.Join(params, ", "), strings.Join(aliases, ", "), from, keyCol, keyType)
			if err := q.QueryRow(ctx, sql, args...).Scan(dest...); err != nil {
				return nil, err
			}
		}
		for _, c := range jsonCols {
			n, err := ts.jsonHitsByKey(ctx, q, from, keyType, c, keys)
			if err != nil {
				return nil, err
			}
			hits[c] = n
		}
		return hits, nil
	}
	for c, g := range ts.gate {
		if g.RowsOnly {
			continue
		}
		if g.JSON {
			jsonCols = append(jsonCols, c)
			continue
		}
		var vals []string
		for _, r := range ts.rows {
			for _, v := range r.orig[c] {
				vals = append(vals, string(v))
			}
		}
		args = append(args, vals)
		p := fmt.Sprintf("$%d::text[]", len(args))
		cond := fmt.Sprintf("%s::text = ANY(%s)", pgx.Identifier{g.Name}.Sanitize(), p)
		if g.Cast != "" {
			cond = fmt.Sprintf("%s = ANY(%s::%s[])", pgx.Identifier{g.Name}.Sanitize(), p, g.Cast)
		}
		counts = append(counts, fmt.Sprintf("count(*) FILTER (WHERE %s)", cond))
		dest = append(dest, &hits[c])
	}
	if len(counts) > 0 {
		if err := q.QueryRow(ctx, fmt.Sprintf("SELECT %s FROM %s", strings.Join(counts, ", "), from), args...).Scan(dest...); err != nil {
			return nil, err
		}
	}
	for _, c := range jsonCols {
		n, err := ts.jsonHitsByColumn(ctx, q, from, c)
		if err != nil {
			return nil, err
		}
		hits[c] = n
	}
	return hits, nil
}

// jsonHitsByKey counts the sampled rows whose clone document still holds one of the row's
// original scalars under the column's json paths.
func (ts *tableSample) jsonHitsByKey(ctx context.Context, q queryer, from, keyType string, c int, keys []*string) (int64, error) {
	col := pgx.Identifier{ts.gate[c].Name}.Sanitize()
	rows, err := q.Query(ctx, fmt.Sprintf("SELECT s.i, t.%s::text FROM unnest($1::text[]) WITH ORDINALITY AS s(k, i) JOIN %s AS t ON t.%s = s.k::%s",
		col, from, pgx.Identifier{ts.key}.Sanitize(), keyType), keys)
	if err != nil {
		return 0, err
	}
	var hits int64
	var i int64
	var doc *string
	_, err = pgx.ForEachRow(rows, []any{&i, &doc}, func() error {
		if doc == nil || i < 1 || int(i) > len(ts.rows) {
			return nil
		}
		got, err := ts.m.CoveredScalars(ts.gate[c].Name, []byte(*doc))
		if err != nil {
			return err
		}
		for _, v := range got {
			if slices.ContainsFunc(ts.rows[i-1].orig[c], func(o []byte) bool { return string(o) == string(v) }) {
				hits++
				break
			}
		}
		return nil
	})
	return hits, err
}

// jsonHitsByColumn counts the clone's documents that hold any sampled original scalar under
// the column's json paths (one scan of the column).
func (ts *tableSample) jsonHitsByColumn(ctx context.Context, q queryer, from string, c int) (int64, error) {
	originals := map[string]bool{}
	for _, r := range ts.rows {
		for _, v := range r.orig[c] {
			originals[string(v)] = true
		}
	}
	if len(originals) == 0 {
		return 0, nil
	}
	col := pgx.Identifier{ts.gate[c].Name}.Sanitize()
	rows, err := q.Query(ctx, fmt.Sprintf("SELECT %s::text FROM %s WHERE %s IS NOT NULL", col, from, col))
	if err != nil {
		return 0, err
	}
	var hits int64
	var doc string
	_, err = pgx.ForEachRow(rows, []any{&doc}, func() error {
		got, err := ts.m.CoveredScalars(ts.gate[c].Name, []byte(doc))
		if err != nil {
			return err
		}
		for _, v := range got {
			if originals[string(v)] {
				hits++
				break
			}
		}
		return nil
	})
	return hits, err
}

func str(b []byte) *string {
	if b == nil {
		return nil
	}
	s := string(b)
	return &s
}
