package agent

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/clonebot/clonebot/jobs"
)

// maskInPlace masks a fast-clone or snapshot target: for each ruled table one set-based pass
// (COPY the ruled columns out with their ctid, mask them in Go, COPY the masked values into a
// temporary table, one UPDATE joining on ctid), then the gate, all in one transaction so a
// crashed attempt leaves the target as it was and a retry never masks twice.
func (r *run) maskInPlace(ctx context.Context) error {
	r.progress.start(jobs.PhaseMask)
	conn, err := r.target.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))

	// step 1: the rules must name only tables and columns the target has.
	if _, err := r.checkCatalog(ctx, conn); err != nil {
		return err
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))

	// step 2: foreign keys touching the ruled tables are dropped for the passes and added
	// back after them, which also proves the masked keys still join.
	fks, err := foreignKeys(ctx, tx, r.profile.Tables())
	if err != nil {
		return err
	}
	for _, fk := range fks {
		if err := execSQL(ctx, conn, fmt.Sprintf("ALTER TABLE %s DROP CONSTRAINT %s", fk.table, fk.name)); err != nil {
			return fmt.Errorf("drop foreign key %s: %w", fk.name, err)
		}
	}

	// step 3: one pass per table.
	for i, table := range r.profile.Tables() {
		if err := r.maskTable(ctx, conn, table, fmt.Sprintf("clonebot_mask_%d", i)); err != nil {
			return fmt.Errorf("mask %s in place: %w", table, err)
		}
	}
	for _, fk := range fks {
		if err := execSQL(ctx, conn, fmt.Sprintf("ALTER TABLE %s ADD CONSTRAINT %s %s", fk.table, fk.name, fk.def)); err != nil {
			return permanent(err, "foreign key %s no longer holds after masking in place", fk.name)
		}
	}

	// step 4: the gate, before the masked data is committed.
	r.progress.start(jobs.PhaseVerify)
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

func (r *run) maskTable(ctx context.Context, conn *pgx.Conn, table, tmp string) error {
	schema, name, _ := strings.Cut(table, ".")
	ident := pgx.Identifier{schema, name}.Sanitize()
	cols := r.profile.Columns(table)
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
	s := newSampler(r.cfg.GateSample, -1, positions(append([]string{"ctid"}, cols...), masker.MaskedColumns()))

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
	if _, err := conn.PgConn().CopyTo(ctx, lw, fmt.Sprintf("COPY (SELECT ctid, %s FROM %s) TO STDOUT", list, ident)); err != nil {
		return err
	}
	if err := lw.flush(); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	r.samples.add(table, "", masker.MaskedColumns(), s)

	stmts := fmt.Sprintf("CREATE TEMP TABLE %s ON COMMIT DROP AS SELECT ctid AS ctid_, %s FROM %s WITH NO DATA", tmp, list, ident)
	if err := execSQL(ctx, conn, stmts); err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if _, err := conn.PgConn().CopyFrom(ctx, bufio.NewReaderSize(f, copyBuffer), fmt.Sprintf("COPY %s FROM STDIN", tmp)); err != nil {
		return err
	}
	update := fmt.Sprintf("UPDATE %s AS t SET %s FROM %s AS m WHERE t.ctid = m.ctid_", ident, strings.Join(sets, ", "), tmp)
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
