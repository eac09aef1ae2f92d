package agent

import (
	"regexp"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

// lockMode is the table lock a restore statement takes. Two statements on one table run at
// the same time only when their modes are compatible; otherwise the second waits inside
// PostgreSQL and its worker idles, so the scheduler never starts it (pg_restore -j keeps the
// same rule).
type lockMode int

const (
	lockShare          lockMode = iota + 1 // CREATE INDEX
	lockShareUpdateExc                     // ANALYZE
	lockShareRowExc                        // ADD FOREIGN KEY, on both tables
	lockAccessExc                          // any other ALTER TABLE
)

// conflicts reports whether two of the modes above conflict: of these, only SHARE is
// compatible with itself (PostgreSQL's table-level lock matrix).
func conflicts(a, b lockMode) bool { return a != lockShare || b != lockShare }

// tableLock is one lock a task takes.
type tableLock struct {
	table string
	mode  lockMode
}

// lockSet counts the locks running tasks hold, by table.
type lockSet map[string][]lockMode

// admits reports whether a task taking locks can start beside the running ones.
func (s lockSet) admits(locks []tableLock) bool {
	for _, l := range locks {
		for _, m := range s[l.table] {
			if conflicts(l.mode, m) {
				return false
			}
		}
	}
	return true
}

func (s lockSet) take(locks []tableLock) {
	for _, l := range locks {
		s[l.table] = append(s[l.table], l.mode)
	}
}

func (s lockSet) release(locks []tableLock) {
	for _, l := range locks {
		held := s[l.table]
		for i, m := range held {
			if m == l.mode {
				s[l.table] = append(held[:i], held[i+1:]...)
				break
			}
		}
	}
}

// ident matches one SQL identifier as pg_dump writes it: bare, or double-quoted with "" for a
// quote.
const ident = `(?:"(?:[^"]|"")+"|[^\s."(),;]+)`

// keyConstraint matches the plain primary key or unique constraint pg_dump writes for one
// table: no INCLUDE, WITH, DEFERRABLE, NULLS NOT DISTINCT or USING INDEX TABLESPACE clause.
var keyConstraint = regexp.MustCompile(`^\s*ALTER TABLE ONLY (` + ident + `\.` + ident + `)\s+ADD CONSTRAINT (` +
	ident + `) (PRIMARY KEY|UNIQUE) \(((?:` + ident + `, )*` + ident + `)\);\s*$`)

// splitKey cuts a plain primary key or unique constraint into the build of its index, which
// takes only a SHARE lock and so runs beside the table's other index builds, and the attach
// of that index as the constraint, which takes an instant once the index exists. The result
// is the constraint pg_restore makes (same name, same index, same definition). ok is false
// for any other statement, which then runs whole.
func splitKey(sql string) (build, attach string, ok bool) {
	m := keyConstraint.FindStringSubmatch(sql)
	if m == nil {
		return "", "", false
	}
	table, name, kind, cols := m[1], m[2], m[3], m[4]
	build = "CREATE UNIQUE INDEX " + name + " ON " + table + " USING btree (" + cols + ");"
	attach = "ALTER TABLE ONLY " + table + " ADD CONSTRAINT " + name + " " + kind + " USING INDEX " + name + ";"
	return build, attach, true
}

// plainIndex matches an INDEX entry that is one CREATE INDEX statement and nothing else
// (pg_dump appends ALTER TABLE ... CLUSTER ON or REPLICA IDENTITY to some, which lock more).
var plainIndex = regexp.MustCompile(`^\s*CREATE (UNIQUE )?INDEX [^;]*;\s*$`)

// ownSteps sorts a table's own post-data items into builds (SHARE lock, run together) and
// alters (ACCESS EXCLUSIVE, one at a time, after the builds): key constraints are split into
// a build and an attach; any other item is an alter, unless it is a plain CREATE INDEX.
func ownSteps(items []postItem) (builds, alters []string) {
	for _, it := range items {
		if b, a, ok := splitKey(it.sql); ok {
			builds, alters = append(builds, b), append(alters, a)
			continue
		}
		if plainIndex.MatchString(it.sql) {
			builds = append(builds, it.sql)
			continue
		}
		alters = append(alters, it.sql)
	}
	return builds, alters
}

// indexKeys returns the key list of a CREATE INDEX statement in pg_dump's form, "USING btree
// (a, lower(b))": each element's column name (unquoted), or "" for an expression. ok is false
// when the statement has no such list.
func indexKeys(sql string) (cols []string, ok bool) {
	_, rest, found := strings.Cut(sql, " USING ")
	open := strings.IndexByte(rest, '(')
	if !found || open < 0 {
		return nil, false
	}
	depth, start, quoted := 0, open+1, false
	for i := open; i < len(rest); i++ {
		switch c := rest[i]; {
		case c == '"':
			quoted = !quoted // a doubled quote inside a name toggles twice
		case quoted:
		case c == '(':
			depth++
		case c == ')' || c == ',' && depth == 1:
			if c == ')' {
				if depth--; depth > 0 {
					continue
				}
			}
			cols = append(cols, keyColumn(strings.TrimSpace(rest[start:i])))
			if depth == 0 {
				return cols, true
			}
			start = i + 1
		}
	}
	return nil, false
}

// keyColumn returns the column an index key element names ("name", `"Odd ""x"""`, followed
// by an operator class, COLLATE, DESC or NULLS clause), or "" for an expression.
func keyColumn(elem string) string {
	if !strings.HasPrefix(elem, `"`) {
		name, rest, _ := strings.Cut(elem, " ")
		if strings.ContainsRune(name, '(') || strings.ContainsRune(rest, '(') {
			return ""
		}
		return name
	}
	for end := 1; end < len(elem); end++ {
		switch {
		case elem[end] != '"':
		case end+1 < len(elem) && elem[end+1] == '"': // a doubled quote inside the name
			end++
		case strings.ContainsRune(elem[end+1:], '('):
			return ""
		default:
			return strings.ReplaceAll(elem[1:end], `""`, `"`)
		}
	}
	return "" // no closing quote
}

// indexesExpression reports whether a CREATE INDEX statement indexes an expression (or has no
// key list this package can read, which it treats the same way).
func indexesExpression(sql string) bool {
	cols, ok := indexKeys(sql)
	return !ok || slices.Contains(cols, "")
}

// Sort weights of index key columns: text-like columns compare through the collation and
// cost the most to sort; other variable-length values (numeric, bytea) come next.
const (
	weightFixed      = 1
	weightVarlena    = 2
	weightCollatable = 4
)

// buildCost estimates the relative cost of an index build from its key columns' weights
// (table → column → weight); an expression or an unknown column weighs as text.
func buildCost(sql, table string, weights map[string]map[string]int) int {
	cols, ok := indexKeys(sql)
	if !ok {
		return weightCollatable
	}
	cost := 0
	for _, c := range cols {
		w := weights[table][c]
		if c == "" || w == 0 {
			w = weightCollatable
		}
		cost += w
	}
	return cost
}

// task is one statement of loadTables, or one table's load.
type task struct {
	load  *tableLoad
	sql   string
	table string // the table whose stage the task belongs to; "" for a late ANALYZE or a foreign key
	locks []tableLock
}

// stage is where a table is in loadTables.
type stage int

const (
	loading stage = iota
	analyzing
	building
	altering
)

type tableState struct {
	stage          stage
	left           int // tasks of the stage not done
	builds, alters []string
	analyzed       bool // ANALYZE ran before the builds
}

// planner orders loadTables' work. Loads come first, largest first. When a table's data is in,
// its own items follow in stages: ANALYZE (unless an expression index must exist first, since
// ANALYZE also gathers statistics on indexed expressions); its index builds, key constraints
// split into build and attach (splitKey), longest first and together; the statements that
// lock the table exclusively, one at a time; then the foreign keys whose tables are all that
// far, and a late ANALYZE. next never hands out a task whose table locks conflict with a
// running task's: such a task waits in the queue, not inside PostgreSQL, so no worker idles on
// a lock and no two statements deadlock. A planner is not safe for concurrent use.
type planner struct {
	queue   []task
	running int
	held    lockSet
	tables  map[string]*tableState
	ready   map[string]bool
	own     map[string][]postItem
	fks     []postItem // foreign keys not queued yet
	weights map[string]map[string]int
}

func newPlanner(loads []tableLoad, own map[string][]postItem, fks []postItem, weights map[string]map[string]int) *planner {
	p := &planner{held: lockSet{}, tables: map[string]*tableState{}, ready: map[string]bool{},
		own: own, fks: fks, weights: weights}
	loads = slices.Clone(loads)
	slices.SortStableFunc(loads, func(a, b tableLoad) int { return compareDesc(a.size, b.size) })
	for i := range loads {
		p.queue = append(p.queue, task{load: &loads[i], table: loads[i].table})
		p.tables[loads[i].table] = &tableState{left: 1}
	}
	return p
}

// next takes the first queued task that can run beside the running ones.
func (p *planner) next() (task, bool) {
	for i, t := range p.queue {
		if p.held.admits(t.locks) {
			p.queue = slices.Delete(p.queue, i, i+1)
			p.held.take(t.locks)
			p.running++
			return t, true
		}
	}
	return task{}, false
}

// finish records that t has ended; a failed task releases its locks and queues nothing.
func (p *planner) finish(t task, ok bool) {
	p.running--
	p.held.release(t.locks)
	if ok && t.table != "" {
		p.tables[t.table].left--
		p.advance(t.table)
	}
}

func analyzeTask(table, owner string) task {
	schema, name, _ := strings.Cut(table, ".")
	return task{sql: "ANALYZE " + pgx.Identifier{schema, name}.Sanitize(), table: owner,
		locks: []tableLock{{table, lockShareUpdateExc}}}
}

// advance moves a table whose stage is done to the next stage with work.
func (p *planner) advance(table string) {
	st := p.tables[table]
	for st.left == 0 {
		switch st.stage {
		case loading:
			st.builds, st.alters = ownSteps(p.own[table])
			st.stage, st.analyzed = analyzing, !slices.ContainsFunc(st.builds, indexesExpression)
			if st.analyzed {
				st.left = 1
				p.queue = append(p.queue, analyzeTask(table, table))
			}
		case analyzing:
			// Longest first, so that the last build to finish is a short one.
			cost := make(map[string]int, len(st.builds))
			for _, b := range st.builds {
				cost[b] = buildCost(b, table, p.weights)
			}
			slices.SortStableFunc(st.builds, func(a, b string) int { return cost[b] - cost[a] })
			st.stage, st.left = building, len(st.builds)
			for _, b := range st.builds {
				p.queue = append(p.queue, task{sql: b, table: table, locks: []tableLock{{table, lockShare}}})
			}
		case building:
			st.stage, st.left = altering, len(st.alters)
			for _, a := range st.alters {
				p.queue = append(p.queue, task{sql: a, table: table, locks: []tableLock{{table, lockAccessExc}}})
			}
		default:
			p.markReady(table)
			return
		}
	}
}

// markReady queues the foreign keys the table was the last table of, and its ANALYZE if it
// was not analyzed before its builds.
func (p *planner) markReady(table string) {
	p.ready[table] = true
	if !p.tables[table].analyzed {
		p.queue = append(p.queue, analyzeTask(table, ""))
	}
	waiting := p.fks[:0]
	for _, fk := range p.fks {
		if slices.ContainsFunc(fk.needs, func(t string) bool { return !p.ready[t] }) {
			waiting = append(waiting, fk)
			continue
		}
		t := task{sql: fk.sql}
		for _, need := range fk.needs {
			t.locks = append(t.locks, tableLock{need, lockShareRowExc})
		}
		p.queue = append(p.queue, t)
	}
	p.fks = waiting
}
