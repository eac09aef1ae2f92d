package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/clonebot/clonebot/agent/mask"
)

// copyBuffer is the size of the buffers on each side of the in-place masker's spill file:
// large writes keep the COPY stream busy, and memory stays flat whatever the number of rows.
const copyBuffer = 1 << 20

// tableLoad is one table's data to load.
type tableLoad struct {
	table   string // schema.table whose data it is, as the backup names it
	schema  string // the table the rows are copied into: table itself, or a partitioned table
	name    string // above it (pg_dump --load-via-partition-root, or a masked partition key)
	columns []string
	size    int64 // estimate, to load the largest tables first
	open    func() (io.ReadCloser, error)
}

// into returns the qualified name of the table the rows are copied into.
func (t tableLoad) into() string { return t.schema + "." + t.name }

// copySQL is the COPY statement of the load; FREEZE is allowed because each load truncates the
// table in its own transaction first.
func (t tableLoad) copySQL(freeze bool) string {
	cols := make([]string, len(t.columns))
	for i, c := range t.columns {
		cols[i] = pgx.Identifier{c}.Sanitize()
	}
	s := fmt.Sprintf("COPY %s (%s) FROM STDIN", t.ident(), strings.Join(cols, ", "))
	if freeze {
		s += " WITH (FREEZE)"
	}
	return s
}

func (t tableLoad) ident() string { return pgx.Identifier{t.schema, t.name}.Sanitize() }

// loadTables copies every table over n connections, largest first, and runs each table's own
// post-data items as soon as its data is in, while other tables still load, in the order
// planner gives (see planner). Tables with masking rules are parsed row by row and only their
// ruled columns rewritten; the others are copied byte for byte. It returns the foreign keys it
// could not place.
func (r *run) loadTables(ctx context.Context, loads []tableLoad, own map[string][]postItem, fks []postItem, n int) ([]postItem, error) {
	var (
		mu     sync.Mutex
		cond   = sync.NewCond(&mu)
		failed bool
		pl     = newPlanner(loads, own, fks, r.weights)
	)
	p := r.pool
	g, gctx := newGroup(ctx)
	for range n {
		g.Go(func() error {
			for {
				mu.Lock()
				var t task
				ok := false
				for !failed {
					if t, ok = pl.next(); ok || pl.running == 0 {
						break
					}
					cond.Wait()
				}
				mu.Unlock()
				if !ok {
					return nil
				}

				err := p.do(gctx, func(conn *pgx.Conn) error {
					if t.load != nil {
						if err := r.loadTable(gctx, conn, *t.load); err != nil {
							return fmt.Errorf("load %s: %w", t.load.table, err)
						}
						return nil
					}
					if err := execSQL(gctx, conn, t.sql); err != nil {
						return fmt.Errorf("post-data %q: %w", firstLine(t.sql), err)
					}
					return nil
				})

				mu.Lock()
				pl.finish(t, err == nil)
				failed = failed || err != nil
				cond.Broadcast()
				mu.Unlock()
				if err != nil {
					return err
				}
			}
		})
	}
	err := g.Wait()
	return pl.fks, err
}

// pool keeps a run's sessions for reuse by its stages and their workers.
type pool struct {
	t    *target
	mu   sync.Mutex
	free []*pgx.Conn
}

// do runs f on a free session (a new one if none is free). A session f failed on is closed.
func (p *pool) do(ctx context.Context, f func(*pgx.Conn) error) error {
	p.mu.Lock()
	var conn *pgx.Conn
	if n := len(p.free); n > 0 {
		conn, p.free = p.free[n-1], p.free[:n-1]
	}
	p.mu.Unlock()
	if conn == nil {
		c, err := p.t.connect(ctx)
		if err != nil {
			return err
		}
		conn = c
	}
	if err := f(conn); err != nil {
		conn.Close(context.WithoutCancel(ctx))
		return err
	}
	p.mu.Lock()
	p.free = append(p.free, conn)
	p.mu.Unlock()
	return nil
}

func (p *pool) close(ctx context.Context) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.free {
		c.Close(context.WithoutCancel(ctx))
	}
	p.free = nil
}

func compareDesc(a, b int64) int {
	switch {
	case a > b:
		return -1
	case a < b:
		return 1
	}
	return 0
}

// loadTable runs TRUNCATE and COPY ... FREEZE in one transaction on conn. Rows copied into a
// partitioned table go to its partitions, which other loads fill too: neither TRUNCATE nor
// FREEZE then.
func (r *run) loadTable(ctx context.Context, conn *pgx.Conn, t tableLoad) error {
	src, err := t.open()
	if err != nil {
		return err
	}
	defer src.Close()
	masker, ok, err := r.masker(t.into(), t.columns)
	if err != nil {
		return err
	}
	partitioned := r.plan.IsPartitioned(t.into())
	begin := "BEGIN; TRUNCATE TABLE ONLY " + t.ident()
	if partitioned {
		begin = "BEGIN"
	}
	if err := execSQL(ctx, conn, begin); err != nil {
		return err
	}
	if !partitioned {
		if err := r.pauseAutovacuum(ctx, conn, t); err != nil {
			_ = execSQL(context.WithoutCancel(ctx), conn, "ROLLBACK")
			return err
		}
	}
	counted := &countingReader{r: src, progressCounter: progressCounter{every: 4 << 20,
		report: func(n int64) { r.progress.data(t.table, n) }}}
	var body io.Reader = counted
	var feedErr chan error
	if ok {
		pr, pw := io.Pipe()
		feedErr = make(chan error, 1)
		// The first column is the row's key candidate for the gate, unless it is masked.
		key, keyPos := t.columns[0], 0
		if slices.Contains(masker.MaskedColumns(), key) {
			key, keyPos = "", -1
		}
		s := newSampler(r.cfg.GateSample, keyPos, masker)
		go func() {
			err := feedMasked(pw, counted, masker, s)
			pw.CloseWithError(err)
			if err == nil {
				r.samples.add(t.into(), key, partitioned, s)
			}
			feedErr <- err
		}()
		body = pr
		defer pr.Close()
	}
	tag, err := conn.PgConn().CopyFrom(ctx, body, t.copySQL(!partitioned))
	if feedErr != nil {
		if ferr := <-feedErr; ferr != nil && !errors.Is(ferr, io.ErrClosedPipe) {
			err = errors.Join(ferr, err)
		}
	}
	if err != nil {
		_ = execSQL(context.WithoutCancel(ctx), conn, "ROLLBACK")
		return badData(err, t.table)
	}
	if err := execSQL(ctx, conn, "COMMIT"); err != nil {
		return err
	}
	r.progress.tableDone(t.table, counted.n, tag.RowsAffected())
	return nil
}

// pauseAutovacuum turns autovacuum off for t, inside the transaction that loads it, unless
// the backup sets autovacuum_enabled itself. Otherwise autovacuum takes the freshly loaded
// table for a VACUUM ANALYZE while its indexes are built: duplicate work, and a lock the
// builds wait up to deadlock_timeout behind. resumeAutovacuum turns it back on.
func (r *run) pauseAutovacuum(ctx context.Context, conn *pgx.Conn, t tableLoad) error {
	var own bool
	err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM unnest(c.reloptions) o WHERE o LIKE 'autovacuum\_enabled=%')
		FROM pg_catalog.pg_class c WHERE c.oid = $1::regclass`, t.ident()).Scan(&own)
	if err != nil || own {
		return err
	}
	if err := execSQL(ctx, conn, "ALTER TABLE ONLY "+t.ident()+" SET (autovacuum_enabled = false)"); err != nil {
		return err
	}
	r.pausedMu.Lock()
	r.paused = append(r.paused, t.ident())
	r.pausedMu.Unlock()
	return nil
}

// resumeAutovacuum resets autovacuum_enabled on the tables pauseAutovacuum paused, once they
// are loaded, indexed and analyzed, so the clone's tables carry the backup's options only.
func (r *run) resumeAutovacuum(ctx context.Context) error {
	if len(r.paused) == 0 {
		return nil
	}
	var b strings.Builder
	for _, t := range r.paused {
		b.WriteString("ALTER TABLE ONLY " + t + " RESET (autovacuum_enabled);\n")
	}
	return r.pool.do(ctx, func(conn *pgx.Conn) error {
		if err := execSQL(ctx, conn, b.String()); err != nil {
			return fmt.Errorf("turn autovacuum back on: %w", err)
		}
		return nil
	})
}

// badData turns errors that mean the rows themselves are damaged (a row that does not match
// the column list, an invalid escape, a value PostgreSQL rejects) into a permanent Failure.
// PostgreSQL's message may quote the rejected value, so only its SQLSTATE is kept.
func badData(err error, table string) error {
	var pgErr *pgconn.PgError
	switch {
	case errors.Is(err, mask.ErrFieldCount) || errors.Is(err, mask.ErrBadEscape):
		return permanent(err, "the backup is corrupt or truncated: the rows of %s are not valid", table)
	case errors.Is(err, mask.ErrNotJSON) || errors.Is(err, mask.ErrNotArray) || errors.Is(err, mask.ErrNotNumber) || errors.Is(err, mask.ErrNotDate):
		return permanent(err, "masking rules for %s cannot be applied to its values", table)
	case errors.As(err, &pgErr) && strings.HasPrefix(pgErr.Code, "22"):
		return permanent(fmt.Errorf("%s rejected a row (SQLSTATE %s)", table, pgErr.Code),
			"the backup is corrupt or truncated: the rows of %s are not valid", table)
	}
	return err
}

// masker returns the masker of the rows copied into table, ok=false when they are copied
// unchanged.
func (r *run) masker(table string, columns []string) (*mask.TableMasker, bool, error) {
	m, ok, err := r.plan.ForTable(table, columns, r.maskOpts)
	if err != nil {
		return nil, false, permanent(err, "masking rules for %s cannot be applied", table)
	}
	return m, ok, nil
}

// feedMasked copies the COPY rows of src to w with m's rules applied, until the end of src or
// a "\." line, offering every original row to s (the gate's sample) on the way. Rows are cut
// into chunks that one masking worker per core masks in parallel (each with its own clone of
// m), and written in their original order; memory is bounded by the chunks in flight.
func feedMasked(w io.Writer, src io.Reader, m *mask.TableMasker, s *sampler) error {
	workers := max(1, runtime.GOMAXPROCS(0))
	var (
		order = make(chan *maskChunk, 2*workers) // every chunk, in read order, for the writer
		work  = make(chan *maskChunk, 2*workers) // the same chunks, for the workers
		free  = make(chan *maskChunk, 2*workers+2)
		stop  = make(chan struct{})
		read  = make(chan error, 1)
	)
	defer close(stop)

	// step 1: read, sample and cut into chunks of whole rows.
	go func() {
		defer close(work)
		defer close(order)
		read <- readChunks(src, s, free, func(c *maskChunk) bool {
			for _, ch := range []chan *maskChunk{order, work} {
				select {
				case ch <- c:
				case <-stop:
					return false
				}
			}
			return true
		})
	}()

	// step 2: mask the chunks in parallel.
	for range workers {
		mm := m.Clone()
		go func() {
			for c := range work {
				c.out, c.err = maskRows(mm, c.out[:0], c.rows, c.first)
				close(c.done)
			}
		}()
	}

	// step 3: write them in order (each chunk is one large write).
	for c := range order {
		<-c.done
		if c.err != nil {
			return c.err
		}
		if _, err := w.Write(c.out); err != nil {
			return err
		}
		select {
		case free <- c:
		default:
		}
	}
	return <-read
}

// chunkBytes is about how much raw COPY text one masking task holds.
const chunkBytes = 256 << 10

// maskChunk is a run of whole COPY rows, each ending in '\n', masked as one task.
type maskChunk struct {
	rows  []byte
	first int64 // number of the chunk's first row (1-based), for errors
	out   []byte
	err   error
	done  chan struct{}
}

// readChunks reads COPY rows from src until its end or a "\." line, offers each to s, and
// hands chunks of about chunkBytes of whole rows to send (reusing chunks from free); it stops
// early when send returns false. src is read straight into the chunks; the part of a row a
// read cuts off starts the next chunk.
func readChunks(src io.Reader, s *sampler, free <-chan *maskChunk, send func(*maskChunk) bool) error {
	var (
		carry []byte // the start of a row the previous chunk's read cut off
		row   int64
		eof   bool
	)
	for !eof {
		var c *maskChunk
		select {
		case c = <-free:
			c.err = nil
		default:
			c = &maskChunk{rows: make([]byte, 0, chunkBytes+chunkBytes/4)}
		}
		c.rows = append(c.rows[:0], carry...)
		c.first, c.done = row+1, make(chan struct{})
		// step 1: fill the chunk, and past it until it holds a whole row.
		cut := 0
		for !eof && (len(c.rows) < chunkBytes || cut == 0) {
			if cap(c.rows)-len(c.rows) < 4096 {
				c.rows = slices.Grow(c.rows, cap(c.rows))
			}
			off := len(c.rows)
			n, err := src.Read(c.rows[off:cap(c.rows)])
			c.rows = c.rows[:off+n]
			switch {
			case errors.Is(err, io.EOF):
				eof = true
			case err != nil:
				return err
			}
			if k := bytes.LastIndexByte(c.rows[off:], '\n'); k >= 0 { // only the new bytes: linear in a long row
				cut = off + k + 1
			}
		}
		if eof {
			if n := len(c.rows); n > 0 && c.rows[n-1] != '\n' {
				c.rows = append(c.rows, '\n')
			}
			cut = len(c.rows)
		}
		carry = append(carry[:0], c.rows[cut:]...)
		c.rows = c.rows[:cut]
		// step 2: sample the rows and find an end-of-data line.
		for i := 0; i < len(c.rows); {
			j := i + bytes.IndexByte(c.rows[i:], '\n')
			line := c.rows[i:j]
			if len(line) == 2 && line[0] == '\\' && line[1] == '.' {
				c.rows, eof = c.rows[:i], true
				break
			}
			if s != nil {
				if err := s.offer(line); err != nil {
					return err
				}
			}
			row++
			i = j + 1
		}
		if len(c.rows) > 0 && !send(c) {
			return nil
		}
	}
	return nil
}

// maskRows masks each '\n'-terminated row of rows with m and appends the results to dst.
func maskRows(m *mask.TableMasker, dst, rows []byte, first int64) ([]byte, error) {
	for n := first; len(rows) > 0; n++ {
		i := bytes.IndexByte(rows, '\n')
		var err error
		dst, err = m.MaskLine(dst, rows[:i])
		if err != nil {
			return dst, fmt.Errorf("mask row %d: %w", n, err)
		}
		dst = append(dst, '\n')
		rows = rows[i+1:]
	}
	return dst, nil
}
