package mask

import (
	"errors"
	"fmt"
	"maps"
	"os"
	pathpkg "path"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Sentinel errors callers match with errors.Is.
var (
	// ErrInvalidRules wraps every problem found in a rules file.
	ErrInvalidRules = errors.New("invalid masking rules")
	// ErrUnknownLevel is returned by Profile for a level the rules do not define.
	ErrUnknownLevel = errors.New("unknown masking level")
	// ErrUnknownTable is returned when a rule names a table the schema does not have.
	ErrUnknownTable = errors.New("masking rule names an unknown table")
	// ErrUnknownColumn is returned when a rule names a column the table does not have.
	ErrUnknownColumn = errors.New("masking rule names an unknown column")
	// ErrUnclassified is wrapped by Plan.Refusal when columns are neither ruled nor kept and
	// the level's policy refuses them (or masks them by a type that has no default).
	ErrUnclassified = errors.New("unclassified columns")
)

// Strategy names as written in the rules file.
const (
	StrategyPartial   = "partial"
	StrategyToken     = "token"
	StrategyFakeEmail = "fake-email"
	StrategyFakePhone = "fake-phone"
	StrategyFakeSSN   = "fake-ssn"
	StrategyFakeCard  = "fake-card"
	StrategyFakeName  = "fake-name"
	StrategyNull      = "null"
	StrategyFixed     = "fixed"
	StrategyNoise     = "noise"
	StrategyShift     = "shift"
	// Keep declares a column (or, as a table's value, every column of the table) safe to
	// copy unchanged. It is written alone, as `email: keep`.
	Keep = "keep"
)

// Policies of a level for what its rules leave out, as written in the rules file.
const (
	// PolicyRefuse (unclassified) fails the restore before data moves, naming every column
	// neither ruled nor kept. The default of every level but none.
	PolicyRefuse = "refuse"
	// PolicyMaskByType (unclassified) masks such columns by their type.
	PolicyMaskByType = "mask-by-type"
	// PolicyKeep (unclassified, large_objects) copies them unchanged; for unclassified, the
	// verification gate's detectors still look at their values. The default of level none
	// for unclassified columns.
	PolicyKeep = "keep"
	// PolicyDrop (large_objects) restores no large object.
	PolicyDrop = "drop"
)

// LevelNone is the level that masks nothing; Profile returns an empty profile for it when
// the rules file does not define it.
const LevelNone = "none"

type strategy int

const (
	partial strategy = iota
	token
	fakeEmail
	fakePhone
	fakeSSN
	fakeCard
	fakeName
	null
	fixed
	noise
	shift
	jsonPaths // a json: mapping of paths to rules, no strategy of its own
	byType    // mask-by-type: how depends on the column's type
)

var strategyNames = map[string]strategy{
	StrategyPartial: partial, StrategyToken: token, StrategyFakeEmail: fakeEmail,
	StrategyFakePhone: fakePhone, StrategyFakeSSN: fakeSSN, StrategyFakeCard: fakeCard,
	StrategyFakeName: fakeName, StrategyNull: null, StrategyFixed: fixed,
	StrategyNoise: noise, StrategyShift: shift,
}

// Token encodings and their lengths at full strength (256 bits).
const (
	formatHex       = "hex"
	formatBase32    = "base32"
	maxHexLen       = 64
	maxBase32Len    = 52
	minUniqueTokBit = 64
)

// rule is one column's masking rule.
type rule struct {
	strategy  strategy
	name      string // strategy name as written
	unique    bool
	value     []byte // fixed
	format    string // token: hex or base32
	length    int    // token: output length in characters
	keepFirst int    // partial; -1 means the default
	keepLast  int    // partial; -1 means the default
	percent   int    // noise: the largest change, in percent of the value
	days      int    // shift: the largest shift, in days
	paths     []pathRule
	typ       colType // byType: the (element) type
	line      int
}

// pathRule is one rule of a json: mapping, for the values at a path inside a document.
type pathRule struct {
	text string
	path jsonPath
	rule *rule
}

// needsKey reports whether the rule derives output from the masking key.
func (r *rule) needsKey() bool {
	switch r.strategy {
	case null, fixed:
		return false
	case partial:
		return r.unique
	case jsonPaths:
		for _, p := range r.paths {
			if p.rule.needsKey() {
				return true
			}
		}
		return false
	}
	return true
}

// Rules holds every masking level of a rules file.
type Rules struct {
	levels map[string]*Profile
}

// Profile holds the rules of one masking level: qualified table → column → rule, the
// columns and tables declared safe (keep), and the level's policies.
type Profile struct {
	level        string
	tables       map[string]map[string]*rule
	keepCols     map[string]map[string]int // table → column → line
	keepTables   map[string]int            // table → line
	keepPatterns []keepPattern
	unclassified string         // a Policy*; "" means the default
	largeObjects string         // PolicyRefuse (default), PolicyDrop or PolicyKeep
	lines        map[string]int // table → line of its key in the rules file
}

// keepPattern is a schema.table.column glob of a level's keep list.
type keepPattern struct {
	schema, table, column string
	text                  string
}

func newProfile(level string) *Profile {
	return &Profile{level: level, tables: map[string]map[string]*rule{}, keepCols: map[string]map[string]int{},
		keepTables: map[string]int{}, lines: map[string]int{}}
}

// LoadRules reads and parses a rules file.
func LoadRules(path string) (*Rules, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read masking rules: %w", err)
	}
	r, err := ParseRules(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// ParseRules parses a rules file (see the package documentation for its shape). Errors name
// the offending field as a dotted path and its line, and wrap ErrInvalidRules.
func ParseRules(data []byte) (*Rules, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidRules, err)
	}
	r := &Rules{levels: map[string]*Profile{}}
	if len(doc.Content) == 0 {
		return nil, fmt.Errorf("%w: empty file, want a top-level levels: mapping", ErrInvalidRules)
	}
	root := doc.Content[0]
	err := eachPair(root, "", func(key, val *yaml.Node, path string) error {
		if key.Value != "levels" {
			return fieldErr(key, path, "unknown field, want levels")
		}
		return eachPair(val, path, func(lk, lv *yaml.Node, lpath string) error {
			p, err := parseLevel(lk.Value, lv, lpath)
			r.levels[lk.Value] = p
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	if len(r.levels) == 0 {
		return nil, fieldErr(root, "levels", "no masking level defined")
	}
	return r, nil
}

// isKeep reports whether n is the scalar keep.
func isKeep(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Value == Keep }

func parseLevel(level string, n *yaml.Node, path string) (*Profile, error) {
	p := newProfile(level)
	err := eachPair(n, path, func(tk, tv *yaml.Node, tpath string) error {
		switch tk.Value {
		case "unclassified":
			return p.parsePolicy(&p.unclassified, tv, tpath, PolicyRefuse, PolicyMaskByType, PolicyKeep)
		case "large_objects":
			return p.parsePolicy(&p.largeObjects, tv, tpath, PolicyRefuse, PolicyDrop, PolicyKeep)
		case "keep":
			return p.parseKeepList(tv, tpath)
		}
		table, ok := qualify(tk.Value)
		if !ok {
			return fieldErr(tk, tpath, "table must be schema.table or table")
		}
		_, dup := p.tables[table]
		if _, kept := p.keepTables[table]; dup || kept {
			return fieldErr(tk, tpath, "table "+table+" listed twice")
		}
		p.lines[table] = tk.Line
		if isKeep(tv) {
			p.keepTables[table] = tk.Line
			return nil
		}
		cols := map[string]*rule{}
		p.tables[table] = cols
		return eachPair(tv, tpath, func(ck, cv *yaml.Node, cpath string) error {
			if ck.Value == "" {
				return fieldErr(ck, cpath, "empty column name")
			}
			if isKeep(cv) {
				if p.keepCols[table] == nil {
					p.keepCols[table] = map[string]int{}
				}
				p.keepCols[table][ck.Value] = ck.Line
				return nil
			}
			rl, err := parseRule(cv, cpath)
			if err != nil {
				return err
			}
			rl.line = ck.Line
			cols[ck.Value] = rl
			return nil
		})
	})
	return p, err
}

// parsePolicy sets *dst to the scalar n, one of allowed.
func (p *Profile) parsePolicy(dst *string, n *yaml.Node, path string, allowed ...string) error {
	if n.Kind != yaml.ScalarNode || !slices.Contains(allowed, n.Value) {
		return fieldErr(n, path, "want "+strings.Join(allowed, ", "))
	}
	*dst = n.Value
	return nil
}

// parseKeepList reads a level's keep: list of schema.table.column globs.
func (p *Profile) parseKeepList(n *yaml.Node, path string) error {
	if n.Kind != yaml.SequenceNode {
		return fieldErr(n, path, "want a list of schema.table.column patterns")
	}
	for i, item := range n.Content {
		ipath := fmt.Sprintf("%s[%d]", path, i)
		if item.Kind != yaml.ScalarNode {
			return fieldErr(item, ipath, "want a schema.table.column pattern")
		}
		parts := strings.Split(item.Value, ".")
		if len(parts) != 3 || slices.Contains(parts, "") {
			return fieldErr(item, ipath, "want schema.table.column, each part a name or a glob such as * or *_id")
		}
		for _, part := range parts {
			if _, err := pathpkg.Match(part, ""); err != nil {
				return fieldErr(item, ipath, "bad glob "+part)
			}
		}
		p.keepPatterns = append(p.keepPatterns, keepPattern{schema: parts[0], table: parts[1], column: parts[2], text: item.Value})
	}
	return nil
}

// matches reports whether the pattern matches the column of table (schema.table).
func (k keepPattern) matches(table, column string) bool {
	schema, name, _ := strings.Cut(table, ".")
	ok1, _ := pathpkg.Match(k.schema, schema)
	ok2, _ := pathpkg.Match(k.table, name)
	ok3, _ := pathpkg.Match(k.column, column)
	return ok1 && ok2 && ok3
}

func parseRule(n *yaml.Node, path string) (*rule, error) {
	rl := &rule{keepFirst: -1, keepLast: -1}
	seen := map[string]*yaml.Node{}
	err := eachPair(n, path, func(k, v *yaml.Node, fpath string) error {
		seen[k.Value] = k
		if k.Value == "json" {
			rl.strategy, rl.name = jsonPaths, "json paths"
			return parsePaths(rl, v, fpath)
		}
		if v.Kind != yaml.ScalarNode {
			return fieldErr(v, fpath, "want a scalar value")
		}
		var err error
		switch k.Value {
		case "strategy":
			s, ok := strategyNames[v.Value]
			if !ok {
				return fieldErr(v, fpath, fmt.Sprintf("unknown strategy %q", v.Value))
			}
			rl.strategy, rl.name = s, v.Value
		case "unique":
			rl.unique, err = strconv.ParseBool(v.Value)
		case "value":
			if v.Tag == "!!null" {
				return fieldErr(v, fpath, "null value, use strategy: null")
			}
			rl.value = []byte(v.Value)
		case "format":
			if v.Value != formatHex && v.Value != formatBase32 {
				return fieldErr(v, fpath, "want hex or base32")
			}
			rl.format = v.Value
		case "length":
			rl.length, err = nonNegative(v.Value)
		case "keep_first":
			rl.keepFirst, err = nonNegative(v.Value)
		case "keep_last":
			rl.keepLast, err = nonNegative(v.Value)
		case "percent":
			rl.percent, err = inRange(v.Value, 1, 100)
		case "days":
			rl.days, err = inRange(v.Value, 1, 36500)
		default:
			return fieldErr(k, fpath, "unknown field, want strategy, unique, value, format, length, keep_first, keep_last, percent, days or json")
		}
		if err != nil {
			return fieldErr(v, fpath, err.Error())
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if seen["json"] != nil {
		if len(seen) > 1 {
			return nil, fieldErr(seen["json"], path+".json", "a column with json paths takes no other field")
		}
		return rl, nil
	}
	if seen["strategy"] == nil {
		return nil, fieldErr(n, path+".strategy", "missing")
	}
	return rl, rl.validate(seen, path)
}

// parsePaths reads a json: mapping of document paths to rules.
func parsePaths(rl *rule, n *yaml.Node, path string) error {
	err := eachPair(n, path, func(k, v *yaml.Node, ppath string) error {
		jp, err := parseJSONPath(k.Value)
		if err != nil {
			return fieldErr(k, ppath, err.Error())
		}
		sub, err := parseRule(v, ppath)
		if err != nil {
			return err
		}
		if sub.strategy == jsonPaths {
			return fieldErr(k, ppath, "json paths do not nest")
		}
		sub.line = k.Line
		rl.paths = append(rl.paths, pathRule{text: k.Value, path: jp, rule: sub})
		return nil
	})
	if err == nil && len(rl.paths) == 0 {
		return fieldErr(n, path, "no path")
	}
	return err
}

// validate checks the options that only some strategies take.
func (rl *rule) validate(seen map[string]*yaml.Node, path string) error {
	only := map[string]strategy{"value": fixed, "format": token, "length": token, "keep_first": partial, "keep_last": partial,
		"percent": noise, "days": shift}
	for _, f := range []string{"value", "format", "length", "keep_first", "keep_last", "percent", "days"} {
		if k := seen[f]; k != nil && only[f] != rl.strategy {
			return fieldErr(k, path+"."+f, "not an option of strategy "+rl.name)
		}
	}
	if rl.strategy == noise && rl.percent == 0 {
		rl.percent = defaultNoisePercent
	}
	if rl.strategy == shift && rl.days == 0 {
		rl.days = defaultShiftDays
	}
	if rl.strategy == fixed && rl.value == nil {
		return fieldErr(seen["strategy"], path+".value", "strategy fixed needs a value")
	}
	if rl.strategy == token {
		if rl.format == "" {
			rl.format = formatHex
		}
		limit, bitsPerChar := maxHexLen, 4
		if rl.format == formatBase32 {
			limit, bitsPerChar = maxBase32Len, 5
		}
		if rl.length == 0 {
			rl.length = limit
		}
		if rl.length > limit {
			return fieldErr(seen["length"], path+".length", fmt.Sprintf("at most %d for %s", limit, rl.format))
		}
		if rl.unique && rl.length*bitsPerChar < minUniqueTokBit {
			return fieldErr(seen["unique"], path+".unique",
				fmt.Sprintf("a unique token needs at least %d bits: length %d of %s carries %d", minUniqueTokBit, rl.length, rl.format, rl.length*bitsPerChar))
		}
	}
	if rl.unique {
		switch rl.strategy {
		case token, fakeEmail, null, partial:
		default:
			return fieldErr(seen["unique"], path+".unique",
				"strategy "+rl.name+" cannot keep a column unique (its value space is too small); use token or fake-email")
		}
	}
	return nil
}

func inRange(s string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("want an integer from %d to %d, got %q", lo, hi, s)
	}
	return n, nil
}

func nonNegative(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("want a non-negative integer, got %q", s)
	}
	return n, nil
}

// eachPair calls fn for every key/value pair of a mapping node. A null node is an empty mapping.
func eachPair(n *yaml.Node, path string, fn func(k, v *yaml.Node, path string) error) error {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return fieldErr(n, path, "want a mapping")
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		p := k.Value
		if path != "" {
			p = path + "." + k.Value
		}
		if seen[k.Value] {
			return fieldErr(k, p, "listed twice")
		}
		seen[k.Value] = true
		if err := fn(k, v, p); err != nil {
			return err
		}
	}
	return nil
}

func fieldErr(n *yaml.Node, path, msg string) error {
	if path == "" {
		path = "(top level)"
	}
	return fmt.Errorf("%w: line %d: %s: %s", ErrInvalidRules, n.Line, path, msg)
}

// qualify returns "schema.table", defaulting the schema to public.
func qualify(name string) (string, bool) {
	schema, table, found := strings.Cut(name, ".")
	if !found {
		schema, table = "public", name
	}
	if schema == "" || table == "" || strings.Contains(table, ".") {
		return "", false
	}
	return schema + "." + table, true
}

// EmptyRules returns rules that define level with no rule at all: at a masked level every
// column is then unclassified, which is where clonebot masking check starts without a file.
func EmptyRules(level string) *Rules {
	return &Rules{levels: map[string]*Profile{level: newProfile(level)}}
}

// Levels returns the level names the rules define, sorted.
func (r *Rules) Levels() []string {
	return slices.Sorted(maps.Keys(r.levels))
}

// Profile returns the rules of one level ("full", "partial", "none", or any level the file
// defines). "none" is an empty profile when the file does not define it. An undefined level
// returns ErrUnknownLevel.
func (r *Rules) Profile(level string) (*Profile, error) {
	if p, ok := r.levels[level]; ok {
		return p, nil
	}
	if level == LevelNone {
		return newProfile(LevelNone), nil
	}
	return nil, fmt.Errorf("%w %q (defined: %s)", ErrUnknownLevel, level, strings.Join(r.Levels(), ", "))
}

// Level returns the profile's level name.
func (p *Profile) Level() string { return p.level }

// Masked reports whether the level promises masked data: every level but none. A masked
// level refuses unclassified columns unless it says otherwise, and its clones pass the
// verification gate's detectors.
func (p *Profile) Masked() bool { return p.level != LevelNone }

// Unclassified returns the level's policy for columns neither ruled nor kept.
func (p *Profile) Unclassified() string {
	switch {
	case p.unclassified != "":
		return p.unclassified
	case p.Masked():
		return PolicyRefuse
	}
	return PolicyKeep
}

// LargeObjects returns the level's policy for large objects: refuse (the default), drop
// or keep.
func (p *Profile) LargeObjects() string {
	if p.largeObjects == "" {
		return PolicyRefuse
	}
	return p.largeObjects
}

// Tables returns the qualified names of the tables that have rules, sorted.
func (p *Profile) Tables() []string {
	return slices.Sorted(maps.Keys(p.tables))
}

// Columns returns the ruled columns of a table (qualified or public), sorted; nil if none.
func (p *Profile) Columns(table string) []string {
	t, _ := qualify(table)
	cols := p.tables[t]
	if len(cols) == 0 {
		return nil
	}
	return slices.Sorted(maps.Keys(cols))
}

// NeedsKey reports whether any rule of the profile needs Options.Key.
func (p *Profile) NeedsKey() bool {
	for _, cols := range p.tables {
		for _, rl := range cols {
			if rl.needsKey() {
				return true
			}
		}
	}
	return false
}

// checkNames verifies that every ruled or kept table and column exists in schema (qualified
// table name → its columns). It reports every problem at once, each naming the table or
// column and its line, wrapping ErrUnknownTable or ErrUnknownColumn.
func (p *Profile) checkNames(schema map[string][]string) error {
	var errs []error
	tables := slices.Sorted(maps.Keys(p.lines))
	for _, t := range tables {
		cols, ok := schema[t]
		if !ok {
			errs = append(errs, fmt.Errorf("%w: %s (level %s, line %d)", ErrUnknownTable, t, p.level, p.lines[t]))
			continue
		}
		for _, c := range p.Columns(t) {
			if !slices.Contains(cols, c) {
				errs = append(errs, fmt.Errorf("%w: %s.%s (level %s, line %d)", ErrUnknownColumn, t, c, p.level, p.tables[t][c].line))
			}
		}
		for _, c := range slices.Sorted(maps.Keys(p.keepCols[t])) {
			if !slices.Contains(cols, c) {
				errs = append(errs, fmt.Errorf("%w: %s.%s (level %s, line %d)", ErrUnknownColumn, t, c, p.level, p.keepCols[t][c]))
			}
		}
	}
	return errors.Join(errs...)
}
