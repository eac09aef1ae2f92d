package mask

import (
	"fmt"
	"slices"
	"strings"
)

// Table is one table of a backup (or of a database masked in place) as a plan sees it.
type Table struct {
	Name    string // schema.table, unquoted
	Columns []Column
	// Parents are the qualified names of the partitioned table it is a partition of, or of
	// the tables it inherits from, nearest first.
	Parents      []string
	Partitioned  bool     // a partitioned table: its rows are in its partitions
	PartitionKey []string // the names its PARTITION BY clause mentions
}

// Column is one column and its type as format_type writes it (domains resolved to their
// base type).
type Column struct {
	Name, Type string
}

// Treatment is what a plan does with a column.
type Treatment int

const (
	// Masked by a rule: the column's own, or a parent table's.
	Masked Treatment = iota
	// MaskedByType: no rule and no keep, and the level masks such columns by type.
	MaskedByType
	// Kept: declared safe by keep (the column, its table, a pattern, or a parent's).
	Kept
	// KeptByPolicy: no rule and no keep, and the level keeps such columns; the gate's
	// detectors read their values.
	KeptByPolicy
	// Unclassified: no rule and no keep, and the level refuses such columns (or masks them
	// by a type that has no default). The restore fails before data moves.
	Unclassified
)

func (t Treatment) String() string {
	switch t {
	case Masked:
		return "masked"
	case MaskedByType:
		return "masked by type"
	case Kept:
		return "keep"
	case KeptByPolicy:
		return "kept (unclassified: keep)"
	}
	return "unclassified"
}

// ColumnPlan says what a plan does with one column.
type ColumnPlan struct {
	Table, Column, Type string
	Treatment           Treatment
	// Strategy is the rule's strategy ("json paths" for rules by path), or how masking by
	// type masks the column; empty for kept and unclassified columns.
	Strategy string
	// From names where the decision comes from when it is not the column's own entry: a
	// parent table ("public.cards"), a table's keep ("public.countries: keep"), a keep
	// pattern ("keep *.*.id"), or why a type has no default.
	From string
}

// Plan is a masking level applied to a backup's tables: every column's treatment.
type Plan struct {
	profile *Profile
	order   []string
	tables  map[string]*tablePlan
}

type tablePlan struct {
	Table
	cols     []colPlan
	children []string
}

type colPlan struct {
	ColumnPlan
	rule *rule // Masked, MaskedByType
	typ  colType
}

// Resolve applies the profile to the tables of a backup. Every ruled or kept table and
// column must exist (errors wrap ErrUnknownTable and ErrUnknownColumn, all named at once).
// Each column then gets, nearest first: its own rule or keep, its table's keep, a keep
// pattern matching it; the same of its parents, nearest first (rules on a partitioned or an
// inheritance parent cover its partitions and children); and otherwise the level's policy
// for unclassified columns. Refusal says whether the plan may run.
func (p *Profile) Resolve(tables []Table) (*Plan, error) {
	names := make(map[string][]string, len(tables))
	pl := &Plan{profile: p, tables: make(map[string]*tablePlan, len(tables))}
	for _, t := range tables {
		cols := make([]string, len(t.Columns))
		for i, c := range t.Columns {
			cols[i] = c.Name
		}
		names[t.Name] = cols
		if _, dup := pl.tables[t.Name]; !dup {
			pl.order = append(pl.order, t.Name)
		}
		pl.tables[t.Name] = &tablePlan{Table: t}
	}
	// step 1: the rules must name only tables and columns the backup has.
	if err := p.checkNames(names); err != nil {
		return nil, err
	}
	for _, name := range pl.order {
		for _, parent := range pl.tables[name].Parents {
			if tp, ok := pl.tables[parent]; ok {
				tp.children = append(tp.children, name)
			}
		}
	}
	// step 2: each column's treatment.
	for _, name := range pl.order {
		tp := pl.tables[name]
		for _, c := range tp.Columns {
			tp.cols = append(tp.cols, pl.decide(tp, c))
		}
	}
	return pl, nil
}

// ancestors returns the table and its parents, nearest first, each once.
func (pl *Plan) ancestors(name string) []string {
	out := []string{name}
	for i := 0; i < len(out); i++ {
		if tp, ok := pl.tables[out[i]]; ok {
			for _, p := range tp.Parents {
				if !slices.Contains(out, p) {
					out = append(out, p)
				}
			}
		}
	}
	return out
}

func (pl *Plan) decide(tp *tablePlan, c Column) colPlan {
	p := pl.profile
	cp := colPlan{ColumnPlan: ColumnPlan{Table: tp.Name, Column: c.Name, Type: c.Type}, typ: parseType(c.Type)}
	from := func(name string) string {
		if name == tp.Name {
			return ""
		}
		return name
	}
	for _, name := range pl.ancestors(tp.Name) {
		if rl := p.tables[name][c.Name]; rl != nil {
			cp.Treatment, cp.rule, cp.Strategy, cp.From = Masked, rl, rl.name, from(name)
			return cp
		}
		if _, ok := p.keepCols[name][c.Name]; ok {
			cp.Treatment, cp.From = Kept, from(name)
			return cp
		}
		if _, ok := p.keepTables[name]; ok {
			cp.Treatment, cp.From = Kept, name+": keep"
			return cp
		}
		for _, k := range p.keepPatterns {
			if k.matches(name, c.Name) {
				cp.Treatment, cp.From = Kept, "keep "+k.text
				return cp
			}
		}
	}
	switch p.Unclassified() {
	case PolicyKeep:
		cp.Treatment = KeptByPolicy
	case PolicyMaskByType:
		elem := cp.typ
		elem.dims = 0
		if how := elem.byTypeName(); how != "" {
			cp.Treatment, cp.rule, cp.Strategy = MaskedByType, byTypeRule(elem), how
			return cp
		}
		cp.Treatment, cp.From = Unclassified, "mask-by-type has no default for type "+c.Type
	default:
		cp.Treatment = Unclassified
	}
	return cp
}

// Refusal returns nil when the plan may run, or an error wrapping ErrUnclassified that
// names every unclassified column and what to do.
func (pl *Plan) Refusal() error {
	var names, noDefault []string
	for _, c := range pl.Coverage() {
		if c.Treatment != Unclassified {
			continue
		}
		q := c.Table + "." + c.Column
		if c.From != "" {
			noDefault = append(noDefault, q+" ("+c.Type+")")
		} else {
			names = append(names, q)
		}
	}
	switch {
	case len(noDefault) > 0 && len(names) == 0:
		return fmt.Errorf("%w: %s: mask-by-type has no default for their types; give each a rule or keep it (level %s)",
			ErrUnclassified, strings.Join(noDefault, ", "), pl.profile.level)
	case len(names) > 0:
		all := append(names, noDefault...)
		return fmt.Errorf("%w: %s: level %s refuses columns that are neither ruled nor declared keep; give each a rule or keep it "+
			"(clonebot masking check suggests rules), or set unclassified: mask-by-type", ErrUnclassified, strings.Join(all, ", "), pl.profile.level)
	}
	return nil
}

// Coverage lists every column's plan, table by table in backup order, columns in table order.
func (pl *Plan) Coverage() []ColumnPlan {
	var out []ColumnPlan
	for _, name := range pl.order {
		for _, c := range pl.tables[name].cols {
			out = append(out, c.ColumnPlan)
		}
	}
	return out
}

// Summary counts a plan's columns, for a dry run such as /clone explain.
type Summary struct {
	Level  string
	Policy string // the level's policy for unclassified columns
	Tables int
	// Columns is the number of columns; each is masked (by a rule or by type), kept
	// (declared or by policy), or unclassified.
	Columns, Masked, Kept, Unclassified int
}

// Summary counts the plan's columns.
func (pl *Plan) Summary() Summary {
	s := Summary{Level: pl.profile.level, Policy: pl.profile.Unclassified(), Tables: len(pl.order)}
	for _, c := range pl.Coverage() {
		s.Columns++
		switch c.Treatment {
		case Masked, MaskedByType:
			s.Masked++
		case Kept, KeptByPolicy:
			s.Kept++
		default:
			s.Unclassified++
		}
	}
	return s
}

// Summarize resolves a level against a backup's tables and counts the columns: how many are
// masked, kept and unclassified. It is what /clone explain reports.
func (r *Rules) Summarize(level string, tables []Table) (Summary, error) {
	p, err := r.Profile(level)
	if err != nil {
		return Summary{}, err
	}
	pl, err := p.Resolve(tables)
	if err != nil {
		return Summary{}, err
	}
	return pl.Summary(), nil
}

// Profile returns the profile the plan applies.
func (pl *Plan) Profile() *Profile { return pl.profile }

// LargeObjects returns the level's policy for large objects.
func (pl *Plan) LargeObjects() string { return pl.profile.LargeObjects() }

// leaves returns the tables under a partitioned or inheritance table, itself included.
func (pl *Plan) leaves(name string) []string {
	out := []string{name}
	for i := 0; i < len(out); i++ {
		for _, c := range pl.tables[out[i]].children {
			if !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
	}
	return out
}

// LoadVia returns the table the rows of table must be copied into: the table itself, or its
// topmost partitioned ancestor when a masked column is in a partition key on the way (the
// masked value may belong to another partition, so the rows are routed from the top).
func (pl *Plan) LoadVia(table string) string {
	tp, ok := pl.tables[table]
	if !ok {
		return table
	}
	masked := map[string]bool{}
	for _, c := range tp.cols {
		if c.Treatment == Masked || c.Treatment == MaskedByType {
			masked[c.Column] = true
		}
	}
	via := table
	route := false
	for _, a := range pl.ancestors(table)[1:] {
		at, ok := pl.tables[a]
		if !ok || !at.Partitioned {
			continue
		}
		via = a
		for _, k := range at.PartitionKey {
			route = route || masked[k]
		}
	}
	if !route {
		return table
	}
	return via
}

// IsPartitioned reports whether the table is partitioned (holds no rows of its own).
func (pl *Plan) IsPartitioned(table string) bool {
	tp, ok := pl.tables[table]
	return ok && tp.Partitioned
}

// ForTable returns the masker of the rows copied into table, given the COPY column list in
// COPY order: the masked columns with their rules (a parent's included) and types, and the
// columns the verification gate's detectors read (unmasked text not declared keep, and the
// unmasked parts of documents masked by path; masked levels only). The system column ctid
// may be listed, and passes through. Rows copied into a
// partitioned table go to its partitions, so their rules must agree with its own. ok is false
// with a nil masker when there is nothing to mask or read: copy the rows unchanged. Errors
// name the table, the column and what to do; none carries a value.
func (pl *Plan) ForTable(table string, columns []string, opt Options) (m *TableMasker, ok bool, err error) {
	tp, found := pl.tables[table]
	if !found {
		return nil, false, fmt.Errorf("%w: %s has rows in the backup but no definition the rules could be checked against", ErrUnknownTable, table)
	}
	var cols []column
	var scan []scanColumn
	for _, name := range columns {
		if name == "ctid" {
			continue // the system column the in-place masker joins on
		}
		i := slices.IndexFunc(tp.cols, func(c colPlan) bool { return c.Column == name })
		if i < 0 {
			return nil, false, fmt.Errorf("%w: %s.%s is copied but not defined in the backup", ErrUnknownColumn, table, name)
		}
		cp := tp.cols[i]
		if tp.Partitioned {
			if err := pl.samePlan(table, cp); err != nil {
				return nil, false, err
			}
		}
		if cp.Treatment == Masked || cp.Treatment == MaskedByType {
			cols = append(cols, column{name: name, rule: cp.rule, typ: cp.typ})
		}
		if pl.profile.Masked() && (cp.Treatment == KeptByPolicy && cp.typ.textLike() || cp.Treatment == Masked && cp.rule.strategy == jsonPaths) {
			sc := scanColumn{name: name, typ: cp.typ}
			if cp.Treatment == Masked {
				sc.paths = cp.rule.paths
			}
			scan = append(scan, sc)
		}
	}
	if len(cols) == 0 && len(scan) == 0 {
		return nil, false, nil
	}
	m, err = newTableMasker(table, columns, cols, scan, opt)
	return m, err == nil, err
}

// samePlan checks that every partition of a partitioned table treats a column as the table
// itself does.
func (pl *Plan) samePlan(table string, cp colPlan) error {
	for _, leaf := range pl.leaves(table)[1:] {
		lt := pl.tables[leaf]
		i := slices.IndexFunc(lt.cols, func(c colPlan) bool { return c.Column == cp.Column })
		if i < 0 {
			continue
		}
		other := lt.cols[i]
		if other.Treatment != cp.Treatment || other.rule != cp.rule && !(other.Treatment == MaskedByType && other.Strategy == cp.Strategy) {
			return fmt.Errorf("%s.%s is %s in %s but %s in its partition %s; rows loaded through %s (pg_dump --load-via-partition-root) "+
				"take one rule: rule the column on %s only", table, cp.Column, describe(cp), table, describe(other), leaf, table, table)
		}
	}
	return nil
}

func describe(c colPlan) string {
	if c.Strategy != "" {
		return c.Treatment.String() + " (" + c.Strategy + ")"
	}
	return c.Treatment.String()
}
