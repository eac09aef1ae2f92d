package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"

	"github.com/clonebot/clonebot/agent/mask"
	"github.com/clonebot/clonebot/agent/pgdump"
	"github.com/clonebot/clonebot/jobs"
	"github.com/clonebot/clonebot/provisioner"
)

// run is the state of one job attempt.
type run struct {
	cfg      Config
	job      jobs.Job
	log      *zap.Logger
	target   *target
	profile  *mask.Profile
	maskOpts mask.Options
	progress *reporter
	samples  samples

	pool    *pool                     // the sessions of the run's stages, closed when it ends
	weights map[string]map[string]int // table → column → sort weight, for ordering index builds

	pausedMu sync.Mutex
	paused   []string // tables whose autovacuum the load turned off (pauseAutovacuum)
}

// runJob runs one attempt of job to its end: restored (or masked in place) and verified.
func (a *Agent) runJob(ctx context.Context, job jobs.Job, log *zap.Logger) error {
	// step 1: the masking profile and the target's credentials.
	profile, err := a.deps.Rules.Profile(job.MaskLevel)
	if err != nil {
		return permanent(err, "masking level %q is not defined in the rules", job.MaskLevel)
	}
	creds, err := a.deps.Secrets.Resolve(ctx, job.TargetRef)
	if err != nil {
		return fmt.Errorf("resolve target credentials: %w", err)
	}
	tgt, err := newTarget(creds, a.cfg.SSLMode, a.cfg.SortMemory)
	if err != nil {
		return permanent(err, "the target's connection settings are not valid")
	}
	r := &run{
		cfg: a.cfg, job: job, log: log, target: tgt, profile: profile,
		maskOpts: mask.Options{Key: []byte(a.deps.MaskKey.Reveal())},
		progress: &reporter{ctx: ctx, q: a.deps.Queue, log: log, now: a.now, job: job},
		pool:     &pool{t: tgt},
	}
	defer r.pool.close(ctx)
	n := job.Parallelism
	if n == 0 {
		n = a.cfg.Parallelism
	}
	if job.Strategy != provisioner.StrategyRestore {
		// step 2 (fast-clone, snapshot): mask the target in place, gate included.
		return r.maskInPlace(ctx)
	}

	// step 2: fetch the backup.
	r.progress.start(jobs.PhaseDownload)
	b, err := fetchBackup(ctx, a.deps.S3, a.cfg.WorkDir, job.Backup, func(n int64) { r.progress.data("", n) })
	if err != nil {
		return err
	}
	defer b.Close()

	// step 3: restore it by format.
	head := make([]byte, 4096)
	m, err := b.ReadAt(head, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read backup: %w", err)
	}
	var tables []string
	switch pgdump.Detect(head[:m]) {
	case pgdump.FormatCustom:
		tables, err = r.restoreCustom(ctx, b, n)
	case pgdump.FormatPlain, pgdump.FormatPlainGzip:
		tables, err = r.restoreScript(ctx, io.NewSectionReader(b, 0, b.size), n)
	default:
		return permanent(nil, "the backup is neither a pg_dump custom archive nor a SQL script (plain or gzip)")
	}
	if err != nil {
		return backupFailure(err)
	}
	if err := r.resumeAutovacuum(ctx); err != nil {
		return err
	}

	// step 4: the verification gate, and statistics for the planner.
	return r.verify(ctx, tables, n)
}

// backupFailure turns the reader's errors about the file into Failures the requester can read.
func backupFailure(err error) error {
	var f *Failure
	switch {
	case errors.As(err, &f):
		return err
	case errors.Is(err, pgdump.ErrCorrupt):
		return permanent(err, "the backup is corrupt or truncated")
	case errors.Is(err, pgdump.ErrUnsupported):
		return permanent(err, "the backup uses a pg_dump format or feature the agent cannot read")
	}
	return err
}

// skippedDesc are archive entries a clone does not restore: ownership and privileges name
// production roles (pg_restore --no-owner --no-acl), and the database entries belong to the
// provisioner.
var skippedDesc = map[string]bool{
	"ACL": true, "DEFAULT ACL": true, "DATABASE": true, "DATABASE PROPERTIES": true,
	"ENCODING": true, "STDSTRINGS": true, "SEARCHPATH": true,
}

// restoreCustom restores a custom-format archive and returns the tables it loaded.
func (r *run) restoreCustom(ctx context.Context, b *localBackup, n int) ([]string, error) {
	arch, err := pgdump.OpenCustom(b, b.size)
	if err != nil {
		return nil, err
	}
	var pre, seqs []string
	var post []postItem
	var loads []tableLoad
	schema := map[string][]string{}
	sizes := dataSizes(arch.Entries, b.size)
	tableOf := map[int]tableLoad{} // TABLE entry → its data
	ownOf := map[int]string{}      // index or key constraint entry → its one table
	for _, e := range arch.Entries {
		if e.Desc == "TABLE DATA" {
			t := tableLoad{
				table: e.QualifiedName(), schema: e.Namespace, name: e.Tag, columns: e.Columns(),
				size: sizes[e.DumpID],
				open: func() (io.ReadCloser, error) { return arch.Data(e) },
			}
			loads = append(loads, t)
			schema[t.table] = t.columns
			for _, d := range e.Dependencies {
				tableOf[d] = t
			}
		}
	}
	for _, e := range arch.Entries {
		switch {
		case e.Desc == "ENCODING" || e.Desc == "STDSTRINGS":
			r.target.extra = append(r.target.extra, e.Defn)
		case skippedDesc[e.Desc] || e.Desc == "TABLE DATA" || strings.TrimSpace(e.Defn) == "" && !e.HasData:
		case e.Desc == "SEQUENCE SET":
			seqs = append(seqs, e.Defn)
		case e.Section == pgdump.SectionData:
			return nil, fmt.Errorf("%w: archive entry %s %s", pgdump.ErrUnsupported, e.Desc, e.Tag)
		case e.Section == pgdump.SectionPostData:
			it := postItem{kind: kindOf(e.Desc), sql: e.Defn}
			tables := map[string]bool{}
			for _, d := range e.Dependencies {
				if t, ok := tableOf[d]; ok {
					it.size += t.size
					tables[t.table] = true
				}
			}
			if it.kind == postParallel && len(tables) == 1 && len(e.Dependencies) == 1 {
				for t := range tables {
					it.table = t
				}
				ownOf[e.DumpID] = it.table
			}
			if it.kind == postForeignKey {
				it.needs = fkNeeds(e.Dependencies, tableOf, ownOf)
			}
			post = append(post, it)
		default:
			pre = append(pre, e.Defn)
		}
	}
	// step 1: the rules must name only tables and columns the backup has.
	if err := r.profile.Check(schema); err != nil {
		return nil, permanent(err, "the masking rules do not match the backup")
	}
	// step 2: a clean target, then the schema.
	if err := r.preData(ctx, pre); err != nil {
		return nil, err
	}
	if err := r.loadWeights(ctx); err != nil {
		return nil, err
	}
	// step 3: the data, masked on the way in; each table's own indexes and keys are built as
	// soon as its data is in, then it is analyzed, and each foreign key is added as soon as
	// the tables it joins are ready, while other tables still load.
	r.progress.start(jobs.PhaseData)
	own := map[string][]postItem{}
	var fks, rest []postItem
	for _, it := range post {
		switch {
		case it.table != "":
			own[it.table] = append(own[it.table], it)
		case it.needs != nil:
			fks = append(fks, it)
		default:
			rest = append(rest, it)
		}
	}
	left, err := r.loadTables(ctx, loads, own, fks, n)
	if err != nil {
		return nil, err
	}
	// step 4: the other post-data items, sequences, and any foreign key left.
	return nil, r.postData(ctx, append(rest, left...), seqs, n)
}

// dataSizes estimates each data entry's compressed size from the gap to the next data block.
func dataSizes(entries []pgdump.Entry, fileSize int64) map[int]int64 {
	var offs []pgdump.Entry
	for _, e := range entries {
		if e.HasData && e.DataOffset > 0 {
			offs = append(offs, e)
		}
	}
	slices.SortFunc(offs, func(a, b pgdump.Entry) int { return compareDesc(b.DataOffset, a.DataOffset) })
	sizes := make(map[int]int64, len(offs))
	for i, e := range offs {
		end := fileSize
		if i+1 < len(offs) {
			end = offs[i+1].DataOffset
		}
		sizes[e.DumpID] = end - e.DataOffset
	}
	return sizes
}

// preData cleans the target and runs the schema statements in order on one session.
func (r *run) preData(ctx context.Context, stmts []string) error {
	r.progress.start(jobs.PhasePreData)
	return r.pool.do(ctx, func(conn *pgx.Conn) error {
		if err := execSQL(ctx, conn, cleanTarget); err != nil {
			return fmt.Errorf("clean target: %w", err)
		}
		for _, s := range stmts {
			if err := execSQL(ctx, conn, s); err != nil {
				return fmt.Errorf("pre-data %q: %w", firstLine(s), err)
			}
		}
		return nil
	})
}

// loadWeights reads the sort weight of every column of the target's tables.
func (r *run) loadWeights(ctx context.Context) error {
	r.weights = map[string]map[string]int{}
	return r.pool.do(ctx, func(conn *pgx.Conn) error {
		rows, err := conn.Query(ctx, `SELECT n.nspname || '.' || c.relname, a.attname, a.attlen, a.attcollation <> 0
			FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
			JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
			WHERE c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
			  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_toast%'`)
		if err != nil {
			return err
		}
		var table, column string
		var length int
		var collatable bool
		_, err = pgx.ForEachRow(rows, []any{&table, &column, &length, &collatable}, func() error {
			w := weightFixed
			switch {
			case collatable:
				w = weightCollatable
			case length < 0:
				w = weightVarlena
			}
			if r.weights[table] == nil {
				r.weights[table] = map[string]int{}
			}
			r.weights[table][column] = w
			return nil
		})
		return err
	})
}

// postKind orders post-data work: indexes and key constraints first and in parallel, then the
// other items in archive order, then foreign keys (which need the keys) in parallel.
type postKind int

const (
	postParallel postKind = iota
	postOrdered
	postForeignKey
)

func kindOf(desc string) postKind {
	switch desc {
	case "INDEX", "CONSTRAINT", "CHECK CONSTRAINT":
		return postParallel
	case "FK CONSTRAINT":
		return postForeignKey
	}
	return postOrdered
}

type postItem struct {
	kind  postKind
	sql   string
	size  int64    // data size of the tables the item depends on, to build big indexes first
	table string   // the one table an index or key constraint needs, when known
	needs []string // the tables a foreign key joins, when known
}

// fkNeeds returns the tables a foreign key entry depends on, directly or through the key
// constraint it references; nil if a dependency is neither.
func fkNeeds(deps []int, tableOf map[int]tableLoad, ownOf map[int]string) []string {
	var needs []string
	for _, d := range deps {
		if t, ok := tableOf[d]; ok {
			needs = append(needs, t.table)
		} else if t, ok := ownOf[d]; ok {
			needs = append(needs, t)
		} else {
			return nil
		}
	}
	slices.Sort(needs)
	return slices.Compact(needs)
}

// postData builds indexes and key constraints over n connections (largest tables first),
// runs the other post-data items and sets the sequences in order, and adds the foreign keys
// over n connections.
func (r *run) postData(ctx context.Context, items []postItem, seqs []string, n int) error {
	r.progress.start(jobs.PhasePostData)
	slices.SortStableFunc(items, func(a, b postItem) int { return compareDesc(a.size, b.size) })
	groups := map[postKind][]string{}
	for _, it := range items {
		groups[it.kind] = append(groups[it.kind], it.sql)
	}
	p := r.pool
	exec := func(ctx context.Context, sql string) error {
		return p.do(ctx, func(conn *pgx.Conn) error {
			if err := execSQL(ctx, conn, sql); err != nil {
				return fmt.Errorf("post-data %q: %w", firstLine(sql), err)
			}
			return nil
		})
	}
	stages := []struct {
		stmts []string
		n     int
	}{{groups[postParallel], n}, {append(groups[postOrdered], seqs...), 1}, {groups[postForeignKey], n}}
	for _, st := range stages {
		if err := parallel(ctx, st.n, st.stmts, exec); err != nil {
			return err
		}
	}
	return nil
}

// verify runs the gate (one query per masked table) and ANALYZEs tables, together over n
// connections: both only read the tables and neither blocks the other.
func (r *run) verify(ctx context.Context, tables []string, n int) error {
	r.progress.start(jobs.PhaseVerify)
	type task struct{ gate, analyze string }
	var tasks []task
	for _, t := range r.samples.gateTables() {
		tasks = append(tasks, task{gate: t})
	}
	for _, t := range tables {
		tasks = append(tasks, task{analyze: t})
	}
	p := r.pool
	err := parallel(ctx, n, tasks, func(ctx context.Context, t task) error {
		return p.do(ctx, func(conn *pgx.Conn) error {
			if t.gate != "" {
				return r.samples.gate(ctx, conn, t.gate)
			}
			schema, name, _ := strings.Cut(t.analyze, ".")
			if err := execSQL(ctx, conn, "ANALYZE "+pgx.Identifier{schema, name}.Sanitize()); err != nil {
				return fmt.Errorf("analyze %s: %w", t.analyze, err)
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	r.progress.done()
	r.log.Info("verification gate passed", zap.Int("tables", len(r.samples.gateTables())))
	return nil
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 80 {
		s = s[:80]
	}
	return s
}

// checkCatalog checks the rules against the tables and columns of the target's catalog.
// It returns the catalog's tables and columns.
func (r *run) checkCatalog(ctx context.Context, conn *pgx.Conn) (map[string][]string, error) {
	schema, err := catalogColumns(ctx, conn)
	if err != nil {
		return nil, err
	}
	if err := r.profile.Check(schema); err != nil {
		return nil, permanent(err, "the masking rules do not match the backup")
	}
	return schema, nil
}

// catalogColumns lists schema.table → columns of the ordinary tables of user schemas.
func catalogColumns(ctx context.Context, conn *pgx.Conn) (map[string][]string, error) {
	rows, err := conn.Query(ctx, `SELECT n.nspname || '.' || c.relname, a.attname
		FROM pg_catalog.pg_attribute a
		JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
		JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
		  AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\_%'
		ORDER BY 1, a.attnum`)
	if err != nil {
		return nil, fmt.Errorf("list target columns: %w", err)
	}
	out := map[string][]string{}
	for rows.Next() {
		var t, c string
		if err := rows.Scan(&t, &c); err != nil {
			return nil, err
		}
		out[t] = append(out[t], c)
	}
	return out, rows.Err()
}
