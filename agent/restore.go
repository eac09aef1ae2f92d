package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"

	"github.com/clonebot/clonebot/agent/mask"
	"github.com/clonebot/clonebot/agent/pgdump"
	"github.com/clonebot/clonebot/jobs"
	"github.com/clonebot/clonebot/provisioner"
)

// run is the state of one attempt.
type run struct {
	cfg      Config
	log      *zap.Logger
	target   *target
	profile  *mask.Profile
	plan     *mask.Plan // the level applied to the backup's (or the target's) tables
	maskOpts mask.Options
	progress *reporter
	samples  samples

	pool    *pool                     // the sessions of the run's stages, closed when it ends
	weights map[string]map[string]int // table → column → sort weight, for ordering index builds

	pausedMu sync.Mutex
	paused   []string // tables whose autovacuum the load turned off (pauseAutovacuum)
}

// attempt is one restore (or in-place masking) into a target, started by the agent for a job
// or by RestoreOnce.
type attempt struct {
	cfg         Config
	rules       *mask.Rules
	key         []byte
	s3          ObjectGetter
	log         *zap.Logger
	progress    *reporter
	backup      jobs.BackupRef
	strategy    provisioner.Strategy
	level       string
	parallelism int
}

// runJob runs one attempt of job to its end: restored (or masked in place) and verified.
func (a *Agent) runJob(ctx context.Context, job jobs.Job, log *zap.Logger) error {
	creds, err := a.deps.Secrets.Resolve(ctx, job.TargetRef)
	if err != nil {
		return fmt.Errorf("resolve target credentials: %w", err)
	}
	x := attempt{
		cfg: a.cfg, rules: a.deps.Rules, key: []byte(a.deps.MaskKey.Reveal()), s3: a.deps.S3, log: log,
		progress: &reporter{ctx: ctx, publish: a.deps.Queue.Publish, log: log, now: a.now, job: job, attempts: a.cfg.MaxAttempts},
		backup:   job.Backup, strategy: job.Strategy, level: job.MaskLevel, parallelism: job.Parallelism,
	}
	return x.run(ctx, creds)
}

// run restores the backup into the target, or masks the target in place, and verifies it.
// Nothing is restored before the backup's schema has been read and the rules checked against
// it, so a refusal leaves the target as it was; whatever a restore that fails later created
// is dropped, leaving the target empty (unless ctx ended: then another agent has the job, or
// the agent is stopping).
func (x attempt) run(ctx context.Context, creds provisioner.Credentials) error {
	// step 1: the masking profile and the target.
	profile, err := x.rules.Profile(x.level)
	if err != nil {
		return permanent(err, "masking level %q is not defined in the rules", x.level)
	}
	tgt, err := newTarget(creds, x.cfg.SSLMode, x.cfg.SortMemory)
	if err != nil {
		return permanent(err, "the target's connection settings are not valid")
	}
	r := &run{
		cfg: x.cfg, log: x.log, target: tgt, profile: profile,
		maskOpts: mask.Options{Key: x.key}, progress: x.progress, pool: &pool{t: tgt},
	}
	defer r.pool.close(ctx)
	n := x.parallelism
	if n == 0 {
		n = x.cfg.Parallelism
	}
	if x.strategy != provisioner.StrategyRestore {
		// step 2 (fast-clone, snapshot): mask the target in place, gate included.
		return r.maskInPlace(ctx)
	}

	// step 2: fetch the backup.
	r.progress.start(jobs.PhaseDownload)
	b, err := fetchBackup(ctx, x.s3, x.cfg.WorkDir, x.backup, func(n int64) { r.progress.data("", n) })
	if err != nil {
		return err
	}
	defer b.Close()

	// step 3: its format, and its schema, read whole before anything moves: the plan.
	format, err := detectFormat(b)
	if err != nil {
		return err
	}
	src, err := openBackup(b, b.size, format)
	if err != nil {
		return backupFailure(err)
	}
	if r.plan, err = planFor(profile, src.schema); err != nil {
		return err
	}

	// step 4: restore it; any failure drops what was created.
	tables, err := r.restore(ctx, src, n)
	if err == nil {
		err = r.resumeAutovacuum(ctx)
	}
	// step 5: the verification gate, and statistics for the planner.
	if err == nil {
		err = r.verify(ctx, tables, n)
	}
	if err != nil {
		err = backupFailure(err)
		if ctx.Err() == nil {
			r.dropAll(ctx, err)
		}
	}
	return err
}

// restore restores an opened backup by its format and returns the tables it loaded.
func (r *run) restore(ctx context.Context, src *backupSource, n int) ([]string, error) {
	if src.archive != nil {
		return r.restoreCustom(ctx, src, n)
	}
	return r.restoreScript(ctx, src, n)
}

// dropAll empties the target after a failed attempt, so that no half restore (and no clone
// the gate refused) stays behind. Its own failure is logged; the attempt's error stands.
func (r *run) dropAll(ctx context.Context, cause error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	conn, err := r.target.connect(ctx)
	if err == nil {
		err = execSQL(ctx, conn, cleanTarget)
		conn.Close(ctx)
	}
	if err != nil {
		r.log.Error("the failed restore could not be dropped from the target", zap.NamedError("cause", cause), zap.Error(err))
		return
	}
	r.log.Info("the failed restore was dropped from the target", zap.NamedError("cause", cause))
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
func (r *run) restoreCustom(ctx context.Context, src *backupSource, n int) ([]string, error) {
	arch := src.archive
	lo := r.plan.LargeObjects()
	var pre, seqs []string
	var post []postItem
	var loads []tableLoad
	var blobs []pgdump.Entry
	sizes := dataSizes(arch.Entries, src.size)
	tableOf := map[int]tableLoad{} // TABLE entry → its data
	ownOf := map[int]string{}      // index or key constraint entry → its one table
	for _, e := range arch.Entries {
		if e.Desc != "TABLE DATA" {
			continue
		}
		schema, name, ok := e.CopyTable()
		if !ok {
			return nil, fmt.Errorf("%w: archive entry %d TABLE DATA %s holds INSERT statements (pg_dump --inserts); dump without --inserts",
				pgdump.ErrUnsupported, e.DumpID, e.QualifiedName())
		}
		t := tableLoad{table: e.QualifiedName(), schema: schema, name: name, columns: e.Columns(), size: sizes[e.DumpID],
			open: func() (io.ReadCloser, error) { return arch.Data(e) }}
		if t.into() == t.table {
			if via, ok := src.schema.Table(r.plan.LoadVia(t.table)); ok {
				t.schema, t.name = via.Schema, via.Name
			}
		}
		loads = append(loads, t)
		for _, d := range e.Dependencies {
			tableOf[d] = t
		}
	}
	for _, e := range arch.Entries {
		switch {
		case e.Desc == "ENCODING" || e.Desc == "STDSTRINGS":
			r.target.extra = append(r.target.extra, e.Defn)
		case largeObjectEntry(e.Desc, e.Tag) && lo == mask.PolicyDrop:
		case e.Desc == "BLOBS":
			blobs = append(blobs, e)
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
	// step 1: a clean target, then the schema.
	if err := r.preData(ctx, pre); err != nil {
		return nil, err
	}
	if err := r.loadWeights(ctx); err != nil {
		return nil, err
	}
	// step 2: the data, masked on the way in; each table's own indexes and keys are built as
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
	// step 3: the large objects the level keeps.
	if err := r.loadLargeObjects(ctx, arch, blobs); err != nil {
		return nil, err
	}
	// step 4: the other post-data items, sequences, and any foreign key left.
	return nil, r.postData(ctx, append(rest, left...), seqs, n)
}

// loWrite is how much of a large object one lowrite call sends.
const loWrite = 1 << 20

// loadLargeObjects writes the contents of the large objects of BLOBS entries (created by the
// pre-data BLOB entries), each in a transaction of its own, as pg_restore does.
func (r *run) loadLargeObjects(ctx context.Context, arch *pgdump.Archive, blobs []pgdump.Entry) error {
	if len(blobs) == 0 {
		return nil
	}
	return r.pool.do(ctx, func(conn *pgx.Conn) error {
		buf := make([]byte, loWrite)
		for _, e := range blobs {
			err := arch.LargeObjects(e, func(oid uint32, data io.Reader) error {
				return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
					var fd int32
					if err := tx.QueryRow(ctx, "SELECT pg_catalog.lo_open($1, 131072)", oid).Scan(&fd); err != nil { // INV_WRITE
						return fmt.Errorf("open large object %d: %w", oid, err)
					}
					for {
						k, err := io.ReadFull(data, buf)
						if k > 0 {
							if _, err := tx.Exec(ctx, "SELECT pg_catalog.lowrite($1, $2)", fd, buf[:k]); err != nil {
								return fmt.Errorf("write large object %d: %w", oid, err)
							}
						}
						if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
							break
						}
						if err != nil {
							return err
						}
					}
					_, err := tx.Exec(ctx, "SELECT pg_catalog.lo_close($1)", fd)
					return err
				})
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
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
