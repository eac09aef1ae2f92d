package agent

import (
	"regexp"
	"strings"
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
		if plainIndex.MatchString(it.sql) && !strings.Contains(it.sql, "\nALTER ") {
			builds = append(builds, it.sql)
			continue
		}
		alters = append(alters, it.sql)
	}
	return builds, alters
}

// indexesExpression reports whether a CREATE INDEX statement indexes an expression: an
// opening parenthesis inside its key list, as pg_dump writes "USING btree (lower(email))". A
// quoted column name with a parenthesis counts too, which only costs that table an early
// ANALYZE.
func indexesExpression(sql string) bool {
	_, rest, ok := strings.Cut(sql, " USING ")
	if !ok {
		return true
	}
	open := strings.IndexByte(rest, '(')
	if open < 0 {
		return true
	}
	depth := 0
	for _, c := range rest[open:] {
		switch c {
		case '(':
			if depth++; depth > 1 {
				return true
			}
		case ')':
			if depth--; depth == 0 {
				return false
			}
		}
	}
	return true
}
