package agent

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/clonebot/clonebot/agent/mask"
	"github.com/clonebot/clonebot/jobs"
)

// maskInPlace masks a fast-clone or snapshot target: for each table with masked columns one
// set-based pass (COPY the masked columns out with their ctid, mask them in Go, COPY the
// masked values into a temporary table, one UPDATE joining on ctid), then the gate, all in one
// transaction so a crashed attempt leaves the target as it was and a retry never masks twice.
func (r *run) maskInPlace(ctx context.Context) error {
	r.progress.start(jobs.PhaseMask)
	conn, err := r.target.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))

	// step 1: the plan, from the target's catalog: every column accounted for.
	tables, err := catalogTables(ctx, conn)
	if err != nil {
		return err
	}
	if r.plan, err = r.profile.Resolve(tables); err != nil {
		return permanent(err, "the masking rules do not match the target")
	}
	if err := r.plan.Refusal(); err != nil {
		return permanent(nil, "%v", err)
	}
	masked, scanned := inPlaceWork(r.plan)
	for _, t := range slices.Sorted(maps.Keys(masked)) {
		if r.plan.LoadVia(t) != t {
			return permanent(nil, "%s: a masked column is in the partition key of its partitioned table, which masking in place cannot move rows across; "+
				"restore the clone from a backup instead", t)
		}
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))

	// step 2: foreign keys touching the masked tables are dropped for the passes and added
	// back after them, which also proves the masked keys still join.
	fks, err := foreignKeys(ctx, tx, slices.Sorted(maps.Keys(masked)))
	if err != nil {
		return err
	}
	for _, fk := range fks {
		if err := execSQL(ctx, conn, fmt.Sprintf("ALTER TABLE %s DROP CONSTRAINT %s", fk.table, fk.name)); err != nil {
			return fmt.Errorf("drop foreign key %s: %w", fk.name, err)
		}
	}

	// step 3: one pass per table.
	for i, table := range slices.Sorted(maps.Keys(masked)) {
		if err := r.maskTable(ctx, conn, table, masked[table], fmt.Sprintf("clonebot_mask_%d", i)); err != nil {
			return fmt.Errorf("mask %s in place: %w", table, err)
		}
	}
	for _, fk := range fks {
		if err := execSQL(ctx, conn, fmt.Sprintf("ALTER TABLE %s ADD CONSTRAINT %s %s", fk.table, fk.name, fk.def)); err != nil {
			return permanent(err, "foreign key %s no longer holds after masking in place", fk.name)
		}
	}

	// step 4: the gate, before the masked data is committed: the detectors on a sample of the
	// columns they read, then the sampled originals of the masked columns.
	r.progress.start(jobs.PhaseVerify)
	for _, table := range slices.Sorted(maps.Keys(scanned)) {
		if err := r.scanInPlace(ctx, conn, table, scanned[table]); err != nil {
			return err
		}
	}
	for _, table := range r.samples.gateTables() {
		if err := r.samples.gate(ctx, tx, table); err != nil {
			return err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit masking: %w", err)
	}
	return nil
}

// inPlaceWork lists, per table that holds rows (not partitioned), its masked columns and the
// columns the detectors read.
func inPlaceWork(plan *mask.Plan) (masked, scanned map[string][]string) {
	masked, scanned = map[string][]string{}, map[string][]string{}
	for _, c := range plan.Coverage() {
		if plan.IsPartitioned(c.Table) {
			continue
		}
		switch c.Treatment {
		case mask.Masked, mask.MaskedByType:
			masked[c.Table] = append(masked[c.Table], c.Column)
		}
		scanned[c.Table] = append(scanned[c.Table], c.Column) // ForTable keeps those it reads
	}
	return masked, scanned
}

// catalogTables reads the tables of the target's user schemas as masking plans see them:
// columns with their types (domains resolved to their base type), parents, partition keys.
func catalogTables(ctx context.Context, conn *pgx.Conn) ([]mask.Table, error) {
	domains := map[string]string{}
	rows, err := conn.Query(ctx, `SELECT t.oid::regtype::text, pg_catalog.format_type(t.typbasetype, t.typtypmod)
		FROM pg_catalog.pg_type t WHERE t.typtype = 'd'`)
	if err != nil {
		return nil, fmt.Errorf("list target domains: %w", err)
	}
	var name, base string
	if _, err := pgx.ForEachRow(rows, []any{&name, &base}, func() error { domains[name] = base; return nil }); err != nil {
		return nil, fmt.Errorf("list target domains: %w", err)
	}
	rows, err = conn.Query(ctx, `SELECT n.nspname || '.' || c.relname, c.relkind = 'p', coalesce(pg_catalog.pg_get_partkeydef(c.oid), ''),
		  array(SELECT pn.nspname || '.' || pc.relname FROM pg_catalog.pg_inherits i
		        JOIN pg_catalog.pg_class pc ON pc.oid = i.inhparent JOIN pg_catalog.pg_namespace pn ON pn.oid = pc.relnamespace
		        WHERE i.inhrelid = c.oid ORDER BY i.inhseqno),
		  array(SELECT a.attname::text FROM pg_catalog.pg_attribute a
		        WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' ORDER BY a.attnum),
		  array(SELECT pg_catalog.format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute a
		        WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' ORDER BY a.attnum)
		FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind IN ('r', 'p') AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\_%'
		ORDER BY 1`)
	if err != nil {
		return nil, fmt.Errorf("list target tables: %w", err)
	}
	var out []mask.Table
	var t mask.Table
	var key string
	var names, types []string
	_, err = pgx.ForEachRow(rows, []any{&t.Name, &t.Partitioned, &key, &t.Parents, &names, &types}, func() error {
		tt := mask.Table{Name: t.Name, Partitioned: t.Partitioned, Parents: slices.Clone(t.Parents), PartitionKey: keyNames(key)}
		for i, n := range names {
			tt.Columns = append(tt.Columns, mask.Column{Name: n, Type: baseType(domains, types[i])})
		}
		out = append(out, tt)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list target tables: %w", err)
	}
	return out, nil
}

// baseType resolves a domain, or an array of one, to its base type.
func baseType(domains map[string]string, typ string) string {
	for range 16 {
		elem := strings.TrimRight(typ, "[]")
		base, ok := domains[elem]
		if !ok {
			return typ
		}
		typ = base + typ[len(elem):]
	}
	return typ
}

// keyIdent matches an identifier of a partition key definition.
var keyIdent = regexp.MustCompile(`"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*`)

// keyNames returns the names a partition key definition ("RANGE (id)", "HASH (lower(email))")
// mentions inside its parentheses.
func keyNames(def string) []string {
	_, list, ok := strings.Cut(def, "(")
	if !ok {
		return nil
	}
	var out []string
	for _, w := range keyIdent.FindAllString(list, -1) {
		if strings.HasPrefix(w, `"`) {
			w = strings.ReplaceAll(w[1:len(w)-1], `""`, `"`)
		}
		out = append(out, w)
	}
	return out
}

// scanInPlace reads a sample of a table's rows (pages sampled for about ten times the gate's
// sample, then cut to it) with the gate's detectors.
func (r *run) scanInPlace(ctx context.Context, conn *pgx.Conn, table string, columns []string) error {
	all, ok, err := r.masker(table, columns)
	if err != nil || !ok || len(all.ScanColumns()) == 0 {
		return err
	}
	var names, quoted []string
	for _, c := range all.ScanColumns() {
		names = append(names, c.Name)
		quoted = append(quoted, pgx.Identifier{c.Name}.Sanitize())
	}
	m, _, err := r.masker(table, names)
	if err != nil {
		return err
	}
	s := newSampler(r.cfg.GateSample, -1, m)
	s.gate = nil // masked in this transaction already: only the detectors read this sample
	schema, name, _ := strings.Cut(table, ".")
	ident := pgx.Identifier{schema, name}.Sanitize()
	var tuples float64
	if err := conn.QueryRow(ctx, "SELECT reltuples FROM pg_catalog.pg_class WHERE oid = $1::regclass", ident).Scan(&tuples); err != nil {
		return fmt.Errorf("sample %s: %w", table, err)
	}
	want := float64(10 * r.cfg.GateSample)
	pct := 100.0
	if tuples > want {
		pct = 100 * want / tuples
	}
	lw := &lineWriter{fn: s.offer}
	sql := fmt.Sprintf("COPY (SELECT %s FROM ONLY %s TABLESAMPLE SYSTEM (%g) LIMIT %d) TO STDOUT", strings.Join(quoted, ", "), ident, pct, int(want))
	if _, err := conn.PgConn().CopyTo(ctx, lw, sql); err != nil {
		return fmt.Errorf("sample %s: %w", table, err)
	}
	if err := lw.flush(); err != nil {
		return err
	}
	return detectorsFail(table, s.scan, s.rows)
}

// foreignKey is a foreign key constraint: its table, quoted name and definition.
type foreignKey struct{ table, name, def string }

// foreignKeys lists the foreign keys from or to any of tables (schema.table).
func foreignKeys(ctx context.Context, tx pgx.Tx, tables []string) ([]foreignKey, error) {
	idents := make([]string, len(tables))
	for i, t := range tables {
		schema, name, _ := strings.Cut(t, ".")
		idents[i] = pgx.Identifier{schema, name}.Sanitize()
	}
	rows, err := tx.Query(ctx, `SELECT c.conrelid::regclass::text, quote_ident(c.conname), pg_get_constraintdef(c.oid)
		FROM pg_catalog.pg_constraint c
		WHERE c.contype = 'f' AND (c.conrelid = ANY($1::regclass[]) OR c.confrelid = ANY($1::regclass[]))
		ORDER BY 1, 2`, idents)
	if err != nil {
		return nil, fmt.Errorf("list foreign keys: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (foreignKey, error) {
		var fk foreignKey
		err := row.Scan(&fk.table, &fk.name, &fk.def)
		return fk, err
	})
}

func (r *run) maskTable(ctx context.Context, conn *pgx.Conn, table string, cols []string, tmp string) error {
	schema, name, _ := strings.Cut(table, ".")
	ident := pgx.Identifier{schema, name}.Sanitize()
	quoted := make([]string, len(cols))
	sets := make([]string, len(cols))
	for i, c := range cols {
		quoted[i] = pgx.Identifier{c}.Sanitize()
		sets[i] = fmt.Sprintf("%s = m.%s", quoted[i], quoted[i])
	}
	list := strings.Join(quoted, ", ")
	masker, _, err := r.masker(table, append([]string{"ctid"}, cols...))
	if err != nil {
		return err
	}
	s := newSampler(r.cfg.GateSample, -1, masker)

	// The masked rows (ctid and masked values only) go through a temporary file, because one
	// session cannot stream COPY out and COPY in at once.
	f, err := os.CreateTemp(r.cfg.WorkDir, "mask-*")
	if err != nil {
		return fmt.Errorf("temporary file: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	bw := bufio.NewWriterSize(f, copyBuffer)
	var out []byte
	var rows int64
	lw := &lineWriter{fn: func(line []byte) error {
		if err := s.offer(line); err != nil {
			return err
		}
		var err error
		if out, err = masker.MaskLine(out[:0], line); err != nil {
			return err
		}
		rows++
		out = append(out, '\n')
		_, err = bw.Write(out)
		return err
	}}
	if _, err := conn.PgConn().CopyTo(ctx, lw, fmt.Sprintf("COPY (SELECT ctid, %s FROM ONLY %s) TO STDOUT", list, ident)); err != nil {
		return err
	}
	if err := lw.flush(); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	r.samples.add(table, "", false, s)

	stmts := fmt.Sprintf("CREATE TEMP TABLE %s ON COMMIT DROP AS SELECT ctid AS ctid_, %s FROM ONLY %s WITH NO DATA", tmp, list, ident)
	if err := execSQL(ctx, conn, stmts); err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if _, err := conn.PgConn().CopyFrom(ctx, bufio.NewReaderSize(f, copyBuffer), fmt.Sprintf("COPY %s FROM STDIN", tmp)); err != nil {
		return err
	}
	update := fmt.Sprintf("UPDATE ONLY %s AS t SET %s FROM %s AS m WHERE t.ctid = m.ctid_", ident, strings.Join(sets, ", "), tmp)
	if err := execSQL(ctx, conn, update); err != nil {
		return err
	}
	st, _ := f.Stat()
	r.progress.tableDone(table, st.Size(), rows)
	return nil
}

// lineWriter calls fn with each complete line (without its newline) written to it.
type lineWriter struct {
	fn  func([]byte) error
	buf []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.buf = append(w.buf, p...)
			break
		}
		line := p[:i]
		if len(w.buf) > 0 {
			w.buf = append(w.buf, line...)
			line = w.buf
		}
		if err := w.fn(line); err != nil {
			return 0, err
		}
		w.buf = w.buf[:0]
		p = p[i+1:]
	}
	return n, nil
}

// flush passes a last line that had no newline.
func (w *lineWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	err := w.fn(w.buf)
	w.buf = w.buf[:0]
	return err
}
