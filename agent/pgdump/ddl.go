package pgdump

import (
	"slices"
	"strings"
)

// Schema is what a backup's statements say about its tables, read without restoring
// anything: every table's columns and their types, its partitioned or inheritance parents,
// and whether the backup holds large objects or INSERT-loaded rows. It is what a masking
// plan needs before any data moves.
type Schema struct {
	Tables []Table // in backup order
	// LargeObjects counts the large objects the backup creates.
	LargeObjects int
	// Inserts lists the tables whose rows the backup loads with INSERT statements
	// (pg_dump --inserts), in backup order, each once.
	Inserts []string

	byName     map[string]int
	domains    map[string]string   // qualified name → base type as written
	composites map[string][]Column // qualified composite type → its attributes
	stdStrings bool
}

// Table is one table of a backup.
type Table struct {
	Schema, Name string
	// Columns in table order, inherited ones first; generated columns (never loaded) are
	// left out. Types are as pg_dump writes them (format_type), domains resolved to their
	// base type, arrays of domains to arrays of the base type.
	Columns []Column
	// Parents are the qualified names of the partitioned table it is a partition of, or of
	// the tables it inherits from, in order.
	Parents []string
	// Partitioned is true for a partitioned table (PARTITION BY), which holds no rows itself.
	Partitioned bool
	// PartitionKey lists the names the PARTITION BY clause mentions: its columns, and the
	// functions of key expressions.
	PartitionKey []string
	// Foreign is true for a foreign table.
	Foreign bool

	local      []Column // columns the statement itself lists
	ofType     string   // CREATE TABLE ... OF type
	resolved   bool
	generated  []string
	inheritsOf []string
}

// Column is one column of a table.
type Column struct {
	Name string
	Type string
}

// QualifiedName returns "schema.table", unquoted.
func (t Table) QualifiedName() string { return t.Schema + "." + t.Name }

// Table returns the table with the qualified name, if the backup defines it.
func (s *Schema) Table(name string) (Table, bool) {
	i, ok := s.byName[name]
	if !ok {
		return Table{}, false
	}
	return s.Tables[i], true
}

func newSchema() *Schema {
	return &Schema{byName: map[string]int{}, domains: map[string]string{}, composites: map[string][]Column{}, stdStrings: true}
}

// statement notes what one schema statement defines; other statements are ignored.
func (s *Schema) statement(sql string) {
	w := leadingWords(sql, 3)
	if len(w) < 2 || (w[0] != "create" && w[0] != "alter") {
		return
	}
	toks := lexSQL(sql, s.stdStrings)
	p := &ddlParser{s: sql, toks: toks}
	switch {
	case p.accept("create"):
		p.accept("or", "replace")
		p.acceptAny("global", "local")
		p.acceptAny("temp", "temporary", "unlogged")
		foreign := p.accept("foreign")
		switch {
		case p.accept("table"):
			if t, ok := p.createTable(); ok {
				t.Foreign = foreign
				s.addTable(t)
			}
		case p.accept("domain"):
			if name, base, ok := p.createDomain(); ok {
				s.domains[name] = base
			}
		case p.accept("type"):
			if name, cols, ok := p.createComposite(); ok {
				s.composites[name] = cols
			}
		}
	case p.accept("alter", "table"):
		p.accept("if", "exists")
		p.accept("only")
		table, ok := p.qualifiedName()
		if !ok {
			return
		}
		var parent, child string
		switch {
		case p.accept("attach", "partition"):
			parent = table
			child, ok = p.qualifiedName()
		case p.accept("inherit"):
			child = table
			parent, ok = p.qualifiedName()
		default:
			return
		}
		if i, found := s.byName[child]; ok && found && !slices.Contains(s.Tables[i].Parents, parent) {
			s.Tables[i].Parents = append(s.Tables[i].Parents, parent)
		}
	}
}

func (s *Schema) addTable(t Table) {
	if i, dup := s.byName[t.QualifiedName()]; dup {
		s.Tables[i] = t
		return
	}
	s.byName[t.QualifiedName()] = len(s.Tables)
	s.Tables = append(s.Tables, t)
}

// insert notes an INSERT statement's table.
func (s *Schema) insert(sql string) {
	p := &ddlParser{s: sql, toks: lexSQL(sql, s.stdStrings)}
	if !p.accept("insert", "into") {
		return
	}
	if name, ok := p.qualifiedName(); ok && !slices.Contains(s.Inserts, name) {
		s.Inserts = append(s.Inserts, name)
	}
}

// finish resolves inherited columns and domain types once every statement is in.
func (s *Schema) finish() {
	for i := range s.Tables {
		s.resolve(i, 0)
	}
	for i := range s.Tables {
		t := &s.Tables[i]
		for j := range t.Columns {
			t.Columns[j].Type = s.baseType(t.Columns[j].Type)
		}
	}
}

// resolve computes the columns of table i: those of its parents (or of its type), then its
// own; depth guards against inheritance cycles in damaged input.
func (s *Schema) resolve(i, depth int) []Column {
	t := &s.Tables[i]
	if t.resolved || depth > 64 {
		return t.Columns
	}
	t.resolved = true
	var cols []Column
	add := func(c Column) {
		if slices.Contains(t.generated, c.Name) || slices.ContainsFunc(cols, func(x Column) bool { return x.Name == c.Name }) {
			return
		}
		cols = append(cols, c)
	}
	if t.ofType != "" {
		for _, c := range s.composites[t.ofType] {
			add(c)
		}
	}
	if len(t.local) == 0 || len(t.inheritsOf) > 0 {
		// A partition created with PARTITION OF, or a child with INHERITS: the parents'
		// columns come first. A partition attached later lists all its columns itself.
		for _, p := range t.Parents {
			if j, ok := s.byName[p]; ok && j != i {
				for _, c := range s.resolve(j, depth+1) {
					add(c)
				}
			}
		}
	}
	for _, c := range t.local {
		add(c)
	}
	t.Columns = cols
	return cols
}

// baseType replaces a domain (or an array of one) by its base type, as written.
func (s *Schema) baseType(typ string) string {
	for range 16 { // domains over domains, bounded
		name, dims := typeName(typ, s.stdStrings)
		base, ok := s.domains[name]
		if !ok {
			return typ
		}
		typ = base + strings.Repeat("[]", dims)
	}
	return typ
}

// typeName returns the name of a schema-qualified type as written ("schema.name",
// unquoted) and its number of array dimensions; "" for anything else. pg_dump qualifies
// every user type (it dumps with an empty search_path), so a domain is always qualified.
func typeName(typ string, stdStrings bool) (string, int) {
	toks := lexSQL(typ, stdStrings)
	if len(toks) < 3 || !toks[1].isPunct(".") {
		return "", 0
	}
	schema, ok1 := toks[0].ident()
	name, ok2 := toks[2].ident()
	if !ok1 || !ok2 {
		return "", 0
	}
	dims := 0
	for i := 3; i < len(toks); i += 2 {
		if i+1 >= len(toks) || !toks[i].isPunct("[") || !toks[i+1].isPunct("]") {
			return "", 0
		}
		dims++
	}
	return schema + "." + name, dims
}

// ddlParser walks the tokens of one statement.
type ddlParser struct {
	s    string
	toks []lexToken
	i    int
}

// accept consumes the keywords words if they come next.
func (p *ddlParser) accept(words ...string) bool {
	if p.i+len(words) > len(p.toks) {
		return false
	}
	for j, w := range words {
		if !p.toks[p.i+j].is(w) {
			return false
		}
	}
	p.i += len(words)
	return true
}

func (p *ddlParser) acceptAny(words ...string) {
	for _, w := range words {
		if p.accept(w) {
			return
		}
	}
}

func (p *ddlParser) acceptPunct(c string) bool {
	if p.i < len(p.toks) && p.toks[p.i].isPunct(c) {
		p.i++
		return true
	}
	return false
}

// qualifiedName reads name or schema.name; an unqualified name is in public.
func (p *ddlParser) qualifiedName() (string, bool) {
	if p.i >= len(p.toks) {
		return "", false
	}
	first, ok := p.toks[p.i].ident()
	if !ok {
		return "", false
	}
	p.i++
	if p.i+1 < len(p.toks) && p.toks[p.i].isPunct(".") {
		if second, ok := p.toks[p.i+1].ident(); ok {
			p.i += 2
			return first + "." + second, true
		}
	}
	return "public." + first, true
}

// group returns the tokens inside the parenthesis that starts at p.i, and moves past it.
func (p *ddlParser) group() ([]lexToken, bool) {
	if !p.acceptPunct("(") {
		return nil, false
	}
	start, depth := p.i, 1
	for ; p.i < len(p.toks); p.i++ {
		switch {
		case p.toks[p.i].isPunct("("):
			depth++
		case p.toks[p.i].isPunct(")"):
			depth--
			if depth == 0 {
				p.i++
				return p.toks[start : p.i-1], true
			}
		}
	}
	return nil, false
}

// splitTop splits tokens at the commas outside parentheses and brackets.
func splitTop(toks []lexToken) [][]lexToken {
	var out [][]lexToken
	depth, start := 0, 0
	for i, t := range toks {
		switch {
		case t.isPunct("(") || t.isPunct("["):
			depth++
		case t.isPunct(")") || t.isPunct("]"):
			depth--
		case t.isPunct(",") && depth == 0:
			out = append(out, toks[start:i])
			start = i + 1
		}
	}
	if start < len(toks) {
		out = append(out, toks[start:])
	}
	return out
}

// createTable parses what follows CREATE [FOREIGN] TABLE.
func (p *ddlParser) createTable() (Table, bool) {
	p.accept("if", "not", "exists")
	name, ok := p.qualifiedName()
	if !ok {
		return Table{}, false
	}
	schema, table, _ := strings.Cut(name, ".")
	t := Table{Schema: schema, Name: table}
	switch {
	case p.accept("of"):
		if t.ofType, ok = p.qualifiedName(); !ok {
			return Table{}, false
		}
	case p.accept("partition", "of"):
		parent, ok := p.qualifiedName()
		if !ok {
			return Table{}, false
		}
		t.Parents = []string{parent}
	}
	if p.i < len(p.toks) && p.toks[p.i].isPunct("(") {
		elems, ok := p.group()
		if !ok {
			return Table{}, false
		}
		for _, e := range splitTop(elems) {
			p.element(&t, e)
		}
	}
	for p.i < len(p.toks) {
		switch {
		case p.accept("inherits"):
			elems, ok := p.group()
			if !ok {
				return Table{}, false
			}
			for _, e := range splitTop(elems) {
				q := &ddlParser{s: p.s, toks: e}
				if parent, ok := q.qualifiedName(); ok {
					t.Parents = append(t.Parents, parent)
					t.inheritsOf = append(t.inheritsOf, parent)
				}
			}
		case p.accept("partition", "by"):
			t.Partitioned = true
			p.acceptAny("range", "list", "hash")
			key, _ := p.group()
			for _, k := range key {
				if n, ok := k.ident(); ok && !slices.Contains(t.PartitionKey, n) {
					t.PartitionKey = append(t.PartitionKey, n)
				}
			}
		default:
			p.i++
		}
	}
	return t, true
}

// columnStops end a column's type: the words that start its options and constraints.
var columnStops = map[string]bool{
	"collate": true, "constraint": true, "not": true, "null": true, "default": true, "check": true,
	"unique": true, "primary": true, "references": true, "generated": true, "compression": true,
	"storage": true, "options": true, "deferrable": true, "initially": true,
}

// tableConstraints start a table element that is not a column.
var tableConstraints = map[string]bool{
	"constraint": true, "check": true, "primary": true, "unique": true, "foreign": true, "exclude": true, "like": true,
}

// element notes one element of a CREATE TABLE list: a column, or a constraint (ignored).
func (p *ddlParser) element(t *Table, toks []lexToken) {
	if len(toks) == 0 || toks[0].kind == lexWord && tableConstraints[toks[0].text] {
		return
	}
	name, ok := toks[0].ident()
	if !ok {
		return
	}
	if len(toks) > 2 && toks[1].is("with") && toks[2].is("options") {
		return // options of a column the table's type or parent defines
	}
	end := 1
	for end < len(toks) && !(toks[end].kind == lexWord && columnStops[toks[end].text]) {
		end++
	}
	for k := end; k+2 < len(toks); k++ {
		if toks[k].is("generated") && toks[k+1].is("always") && toks[k+2].is("as") && k+3 < len(toks) && toks[k+3].isPunct("(") {
			t.generated = append(t.generated, name)
			return
		}
	}
	if end == 1 {
		return
	}
	t.local = append(t.local, Column{Name: name, Type: span(p.s, toks[1:end])})
}

// span returns the source text of toks with white space runs reduced to one space.
func span(s string, toks []lexToken) string {
	return strings.Join(strings.Fields(s[toks[0].pos:toks[len(toks)-1].end]), " ")
}

// createDomain parses what follows CREATE DOMAIN: its name and base type.
func (p *ddlParser) createDomain() (string, string, bool) {
	name, ok := p.qualifiedName()
	if !ok {
		return "", "", false
	}
	p.accept("as")
	start := p.i
	for p.i < len(p.toks) && !(p.toks[p.i].kind == lexWord && columnStops[p.toks[p.i].text]) && !p.toks[p.i].isPunct(";") {
		p.i++
	}
	if p.i == start {
		return "", "", false
	}
	return name, span(p.s, p.toks[start:p.i]), true
}

// createComposite parses what follows CREATE TYPE when it is a composite type.
func (p *ddlParser) createComposite() (string, []Column, bool) {
	name, ok := p.qualifiedName()
	if !ok || !p.accept("as") || p.i >= len(p.toks) || !p.toks[p.i].isPunct("(") {
		return "", nil, false
	}
	attrs, ok := p.group()
	if !ok {
		return "", nil, false
	}
	var t Table
	for _, e := range splitTop(attrs) {
		p.element(&t, e)
	}
	return name, t.local, true
}
