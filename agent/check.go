package agent

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"sync"

	"github.com/clonebot/clonebot/agent/mask"
	"github.com/clonebot/clonebot/agent/pgdump"
)

// BackupCheck is what clonebot masking check finds in a backup, without any database: the
// coverage of every column at a level with what the detectors saw in sampled values, and what
// else a restore at that level would refuse.
type BackupCheck struct {
	Report mask.Report
	// Refusal is why a restore at the level would fail before data moves (unclassified
	// columns, large objects, INSERT-loaded rows), or nil.
	Refusal error
	// LargeObjects counts the backup's large objects; LargeObjectPolicy is the level's.
	LargeObjects      int
	LargeObjectPolicy string
	Tables            int
}

// CheckBackup reads the backup at path (a custom archive or a script, as the agent restores
// them) and checks the rules of level against it: which rule or keep covers each column, and
// what the detectors find in a uniform sample of up to sample rows per table (read whole). It
// needs no database. Errors are about the file or the rules (names they give that the backup
// lacks); what a restore would refuse is in BackupCheck.Refusal.
func CheckBackup(ctx context.Context, path string, rules *mask.Rules, level string, sample int) (*BackupCheck, error) {
	profile, err := rules.Profile(level)
	if err != nil {
		return nil, err
	}
	f, size, format, err := openLocal(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// step 1: the schema, and a sample of each table's rows.
	rows := newRowSamples(sample)
	var schema *pgdump.Schema
	if format == pgdump.FormatCustom {
		arch, err := pgdump.OpenCustom(f, size)
		if err != nil {
			return nil, backupFailure(err)
		}
		if schema, err = arch.Schema(); err != nil {
			return nil, backupFailure(err)
		}
		if err := rows.readArchive(ctx, arch); err != nil {
			return nil, backupFailure(err)
		}
	} else {
		schema, err = pgdump.ReadScriptSchema(io.NewSectionReader(f, 0, size), func(c *pgdump.CopyBlock) error {
			return rows.read(c.Table, c.Columns, c.Rows)
		})
		if err != nil {
			return nil, backupFailure(err)
		}
	}
	// step 2: the plan, and the report.
	tables := maskTables(schema)
	plan, err := profile.Resolve(tables)
	if err != nil {
		return nil, err
	}
	c := &BackupCheck{Report: plan.Report(rows.values(tables)), LargeObjects: schema.LargeObjects,
		LargeObjectPolicy: plan.LargeObjects(), Tables: len(tables)}
	if _, err := planFor(profile, schema); err != nil {
		c.Refusal = err
	}
	return c, nil
}

// rowSamples keeps a uniform sample of raw COPY rows per table, with the column list of each.
type rowSamples struct {
	k      int
	mu     sync.Mutex
	tables map[string]*rowSample
}

type rowSample struct {
	columns []string
	rows    [][]byte
}

func newRowSamples(k int) *rowSamples {
	return &rowSamples{k: k, tables: map[string]*rowSample{}}
}

// read samples the rows of one COPY block of table (columns nil: all, in table order).
func (rs *rowSamples) read(table string, columns []string, r io.Reader) error {
	rng := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	s := &rowSample{columns: columns}
	br := bufio.NewReaderSize(r, 256<<10)
	var n int64
	var long []byte
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long = append(long, line...)
			continue
		}
		if len(long) > 0 {
			line = append(long, line...)
			long = long[:0]
		}
		if len(line) > 0 {
			n++
			slot := len(s.rows)
			if slot >= rs.k {
				slot = int(rng.Int64N(n))
			}
			if slot < rs.k {
				row := slices.Clone(line)
				if len(row) > 0 && row[len(row)-1] == '\n' {
					row = row[:len(row)-1]
				}
				if slot == len(s.rows) {
					s.rows = append(s.rows, row)
				} else {
					s.rows[slot] = row
				}
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read the rows of %s: %w", table, err)
		}
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if old, ok := rs.tables[table]; ok { // several COPY blocks into one table
		s.rows = append(old.rows, s.rows...)
	}
	rs.tables[table] = s
	return nil
}

// readArchive samples every table's data of a custom archive, one table per core at a time.
func (rs *rowSamples) readArchive(ctx context.Context, arch *pgdump.Archive) error {
	var entries []pgdump.Entry
	for _, e := range arch.Entries {
		if e.Desc == "TABLE DATA" && e.HasData && e.CopyStmt != "" {
			entries = append(entries, e)
		}
	}
	return parallel(ctx, runtime.GOMAXPROCS(0), entries, func(_ context.Context, e pgdump.Entry) error {
		r, err := arch.Data(e)
		if err != nil {
			return err
		}
		defer r.Close()
		return rs.read(e.QualifiedName(), e.Columns(), r)
	})
}

// values returns the sample function of a report: a column's non-NULL decoded values, from
// the table's own rows or, for a table without rows of its own (a partitioned table), from
// its partitions and children.
func (rs *rowSamples) values(tables []mask.Table) func(table, column string) [][]byte {
	children := map[string][]string{}
	columns := map[string][]string{}
	for _, t := range tables {
		for _, p := range t.Parents {
			children[p] = append(children[p], t.Name)
		}
		for _, c := range t.Columns {
			columns[t.Name] = append(columns[t.Name], c.Name)
		}
	}
	return func(table, column string) [][]byte {
		var out [][]byte
		seen := map[string]bool{}
		for queue := []string{table}; len(queue) > 0 && len(out) < rs.k; queue = queue[1:] {
			t := queue[0]
			if seen[t] {
				continue
			}
			seen[t] = true
			if s, ok := rs.tables[t]; ok && len(s.rows) > 0 {
				cols := s.columns
				if cols == nil {
					cols = columns[t]
				}
				out = append(out, columnValues(s.rows, slices.Index(cols, column))...)
			}
			queue = append(queue, children[t]...)
		}
		return out
	}
}

// columnValues decodes field pos of each COPY row, leaving out NULLs and damaged fields.
func columnValues(rows [][]byte, pos int) [][]byte {
	if pos < 0 {
		return nil
	}
	var out [][]byte
	var fields [][]byte
	for _, r := range rows {
		fields = mask.SplitFields(fields[:0], r)
		if pos >= len(fields) || mask.IsNull(fields[pos]) {
			continue
		}
		if v, err := mask.DecodeField(nil, fields[pos]); err == nil {
			out = append(out, v)
		}
	}
	return out
}

// BackupTables reads the tables of the backup at path (its schema only: a custom archive's
// table of contents, or a script read to its end), for a dry run such as /clone explain:
// rules.Summarize(level, tables) then counts the masked, kept and unclassified columns. It
// stops reading when ctx ends (a large script takes as long as its size), returning ctx's
// error.
func BackupTables(ctx context.Context, path string) ([]mask.Table, error) {
	f, size, format, err := openLocal(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	src, err := openBackup(ctxReaderAt{ctx: ctx, r: f}, size, format)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("read the schema of %s: %w", path, err)
	}
	if err != nil {
		return nil, backupFailure(err)
	}
	return maskTables(src.schema), nil
}

// ctxReaderAt reads r until ctx ends.
type ctxReaderAt struct {
	ctx context.Context
	r   io.ReaderAt
}

func (c ctxReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.ReadAt(p, off)
}

// openLocal opens a local backup file and tells its format, refusing what the agent does not
// read as a restore would.
func openLocal(path string) (*os.File, int64, pgdump.Format, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, 0, err
	}
	st, err := f.Stat()
	if err == nil && st.IsDir() {
		err = permanent(nil, "%s is a folder: %s", path, reasonDirectory)
	}
	var format pgdump.Format
	if err == nil {
		format, err = detectFormat(f)
	}
	if err != nil {
		f.Close()
		return nil, 0, 0, err
	}
	return f, st.Size(), format, nil
}
