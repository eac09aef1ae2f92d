package mask

import (
	"errors"
	"fmt"
	"maps"
	"os"
	pathpkg "path"
	"slices"
	"strings"

	"go.yaml.in/yaml/v4"

	"github.com/clonebot/clonebot/internal/yamlerr"
)

// Sentinel errors callers match with errors.Is.
var (
	// ErrInvalidRules is matched by every problem found in a rules file (a *RulesError).
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

// strategyList names the strategies in the order the errors list them.
var strategyList = []string{StrategyPartial, StrategyToken, StrategyFakeEmail, StrategyFakePhone, StrategyFakeSSN,
	StrategyFakeCard, StrategyFakeName, StrategyNull, StrategyFixed, StrategyNoise, StrategyShift}

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
	file   string // the file's name, when the caller gave one
}

// Profile holds the rules of one masking level: qualified table → column → rule, the
// columns and tables declared safe (keep), and the level's policies.
type Profile struct {
	level        string
	file         string // the rules file's name, for the lines errors name
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

// RulesError is a problem in a masking rules file: the dotted path of the key it is about
// ("levels.full.public.users.email.strategy"), its line, and what is allowed there. It
// matches ErrInvalidRules.
type RulesError struct {
	File string // the file's name, when the caller gave one
	Path string // "" for the whole file
	Line int    // 1-based; 0 when unknown
	Msg  string
}

func (e *RulesError) Error() string {
	return (&yamlerr.Error{Path: e.Path, Line: e.Line, Msg: e.Msg}).InFile("masking rules", e.File)
}

// Is makes every RulesError match ErrInvalidRules.
func (e *RulesError) Is(target error) bool { return target == ErrInvalidRules }

// LoadRules reads and parses the rules file at path; its errors name the file.
func LoadRules(path string) (*Rules, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read masking rules: %w", err)
	}
	return ParseRulesFile(path, data)
}

// ParseRules parses a rules file (see the package documentation for its shape). Every
// problem, from a YAML syntax error to an option a strategy does not take, is a *RulesError
// naming the key's path, its line and what is allowed; the first in file order is returned.
func ParseRules(data []byte) (*Rules, error) { return ParseRulesFile("", data) }

// ParseRulesFile is ParseRules for the file named name, which its errors name.
func ParseRulesFile(name string, data []byte) (*Rules, error) {
	r, err := parseRules(data)
	if err != nil {
		var e *yamlerr.Error
		if errors.As(err, &e) {
			return nil, &RulesError{File: name, Path: e.Path, Line: e.Line, Msg: e.Msg}
		}
		return nil, fmt.Errorf("%w %s: %w", ErrInvalidRules, name, err)
	}
	r.file = name
	for _, p := range r.levels {
		p.file = name
	}
	return r, nil
}

func parseRules(data []byte) (*Rules, error) {
	root, err := yamlerr.Parse(data)
	if err != nil {
		return nil, err
	}
	if root.Kind != yaml.MappingNode {
		return nil, yamlerr.At(root, "", "must be a mapping with the key levels, not %s", yamlerr.Shape(root))
	}
	r := &Rules{levels: map[string]*Profile{}}
	at := root
	err = eachKey(root, "", func(k, v *yaml.Node, path string) error {
		if k.Value != "levels" {
			return yamlerr.UnknownKey(k, path, []string{"levels"})
		}
		at = k
		if isNull(v) {
			return nil
		}
		if v.Kind != yaml.MappingNode {
			return yamlerr.At(v, path, "must be a mapping of masking levels (full, partial, none) to their rules, not %s", yamlerr.Shape(v))
		}
		return eachKey(v, path, func(lk, lv *yaml.Node, lpath string) error {
			p, err := parseLevel(lk.Value, lv, lpath)
			r.levels[lk.Value] = p
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	if len(r.levels) == 0 {
		return nil, yamlerr.At(at, "levels", "defines no masking level: give full, partial or none")
	}
	return r, nil
}

// Level settings: the keys of a level that are no table.
const (
	settingUnclassified = "unclassified"
	settingLargeObjects = "large_objects"
	settingKeep         = "keep"
)

// ruleKeys are the keys a column's rule takes, in the order the errors list them.
var ruleKeys = []string{"strategy", "unique", "value", "format", "length", "keep_first", "keep_last", "percent", "days", "json"}

// isKeep reports whether n is the scalar keep.
func isKeep(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Value == Keep }

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

func parseLevel(level string, n *yaml.Node, path string) (*Profile, error) {
	p := newProfile(level)
	if isNull(n) {
		return p, nil
	}
	if n.Kind != yaml.MappingNode {
		return p, yamlerr.At(n, path, "must be a mapping of tables (schema.table) to their columns' rules, with the settings %s, %s and %s; not %s",
			settingUnclassified, settingLargeObjects, settingKeep, yamlerr.Shape(n))
	}
	keys := map[string]*yaml.Node{} // qualified table → its key, for a table given twice
	err := eachKey(n, path, func(tk, tv *yaml.Node, tpath string) error {
		switch tk.Value {
		case settingUnclassified:
			return parseSetting(&p.unclassified, tv, tpath, PolicyRefuse, PolicyMaskByType, PolicyKeep)
		case settingLargeObjects:
			return parseSetting(&p.largeObjects, tv, tpath, PolicyRefuse, PolicyDrop, PolicyKeep)
		case settingKeep:
			return p.parseKeepList(tv, tpath)
		}
		if !strings.Contains(tk.Value, ".") {
			if near := yamlerr.Nearest(tk.Value, []string{settingUnclassified, settingLargeObjects}); near != "" {
				return yamlerr.At(tk, tpath, "unknown key %q (did you mean %s?); a table of that name is written public.%s", tk.Value, near, tk.Value)
			}
		}
		table, ok := qualify(tk.Value)
		if !ok {
			return yamlerr.At(tk, tpath, "%q is not a table: write schema.table, or table for one in public", tk.Value)
		}
		if first, dup := keys[table]; dup {
			return yamlerr.At(tk, tpath, "table %s given twice (first as %s at line %d)", table, first.Value, first.Line)
		}
		keys[table] = tk
		p.lines[table] = tk.Line
		switch {
		case isKeep(tv):
			p.keepTables[table] = tk.Line
			return nil
		case tv.Kind == yaml.SequenceNode && yamlerr.Nearest(tk.Value, []string{settingKeep}) != "":
			return yamlerr.At(tv, tpath, "must be keep or a mapping of the table's columns to rules, not a list (did you mean keep, the list of columns declared safe?)")
		case !isNull(tv) && tv.Kind != yaml.MappingNode:
			return yamlerr.At(tv, tpath, "must be keep or a mapping of the table's columns to rules, not %s", yamlerr.Shape(tv))
		}
		cols := map[string]*rule{}
		p.tables[table] = cols
		if isNull(tv) {
			return nil
		}
		return eachKey(tv, tpath, func(ck, cv *yaml.Node, cpath string) error {
			if ck.Value == "" {
				return yamlerr.At(ck, cpath, "a column needs a name")
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

// parseSetting sets *dst to the scalar n, one of allowed.
func parseSetting(dst *string, n *yaml.Node, path string, allowed ...string) error {
	if n.Kind != yaml.ScalarNode || !slices.Contains(allowed, n.Value) {
		return yamlerr.At(n, path, "must be %s, not %s%s", orList(allowed), yamlerr.Shape(n), yamlerr.DidYouMean(n.Value, allowed))
	}
	*dst = n.Value
	return nil
}

// orList writes words as "a, b or c".
func orList(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}

// parseKeepList reads a level's keep: list of schema.table.column globs.
func (p *Profile) parseKeepList(n *yaml.Node, path string) error {
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		return yamlerr.At(n, path, `must be a list of schema.table.column patterns, like ["*.*.id"], not %s`, yamlerr.Shape(n))
	}
	for i, item := range n.Content {
		ipath := fmt.Sprintf("%s.%d", path, i)
		if item.Kind == yaml.AliasNode && item.Alias != nil {
			item = item.Alias
		}
		if item.Kind != yaml.ScalarNode {
			return yamlerr.At(item, ipath, "must be a schema.table.column pattern, not %s", yamlerr.Shape(item))
		}
		parts := strings.Split(item.Value, ".")
		if len(parts) != 3 || slices.Contains(parts, "") {
			return yamlerr.At(item, ipath, "%q is not schema.table.column: give three parts, each a name or a glob such as * or *_id", item.Value)
		}
		for _, part := range parts {
			if _, err := pathpkg.Match(part, ""); err != nil {
				return yamlerr.At(item, ipath, "%q is not a glob: %s is malformed", item.Value, part)
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

// parseRule reads one column's (or one json path's) rule.
func parseRule(n *yaml.Node, path string) (*rule, error) {
	if n.Kind != yaml.MappingNode {
		example := StrategyToken
		if _, ok := strategyNames[n.Value]; ok && n.Kind == yaml.ScalarNode {
			example = n.Value
		}
		return nil, yamlerr.At(n, path, "must be keep or a rule such as {strategy: %s}, not %s", example, yamlerr.Shape(n))
	}
	rl := &rule{keepFirst: -1, keepLast: -1}
	seen := map[string]*yaml.Node{}
	err := eachKey(n, path, func(k, v *yaml.Node, fpath string) error {
		if !slices.Contains(ruleKeys, k.Value) {
			return yamlerr.UnknownKey(k, fpath, ruleKeys)
		}
		seen[k.Value] = k
		if k.Value == "json" {
			rl.strategy, rl.name = jsonPaths, "json paths"
			return parsePaths(rl, v, fpath)
		}
		if v.Kind != yaml.ScalarNode {
			return yamlerr.At(v, fpath, "must be a single value, not %s", yamlerr.Shape(v))
		}
		switch k.Value {
		case "strategy":
			s, ok := strategyNames[v.Value]
			if !ok {
				return yamlerr.At(v, fpath, "unknown strategy %q%s; allowed: %s", v.Value, yamlerr.DidYouMean(v.Value, strategyList), strings.Join(strategyList, ", "))
			}
			rl.strategy, rl.name = s, v.Value
		case "unique":
			return yamlerr.DecodeAt(v, fpath, &rl.unique)
		case "value":
			if isNull(v) {
				return yamlerr.At(v, fpath, "must be a value: for NULL in every row, use strategy: null")
			}
			rl.value = []byte(v.Value)
		case "format":
			if v.Value != formatHex && v.Value != formatBase32 {
				return yamlerr.At(v, fpath, "must be %s or %s, not %s", formatHex, formatBase32, yamlerr.Shape(v))
			}
			rl.format = v.Value
		case "length":
			return intAt(v, fpath, &rl.length, 0, 0)
		case "keep_first":
			return intAt(v, fpath, &rl.keepFirst, 0, 0)
		case "keep_last":
			return intAt(v, fpath, &rl.keepLast, 0, 0)
		case "percent":
			return intAt(v, fpath, &rl.percent, 1, 100)
		case "days":
			return intAt(v, fpath, &rl.days, 1, 36500)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if seen["json"] != nil {
		if len(seen) > 1 {
			return nil, yamlerr.At(seen["json"], path+".json", "a column masked by json paths takes no other key: give each path its own strategy")
		}
		return rl, nil
	}
	if seen["strategy"] == nil {
		return nil, yamlerr.At(n, path, "a rule needs a strategy (%s) or json paths", strings.Join(strategyList, ", "))
	}
	return rl, rl.validate(seen, path)
}

// intAt reads the whole number n into *dst: at least lo, and at most hi unless hi is 0.
func intAt(n *yaml.Node, path string, dst *int, lo, hi int) error {
	var v int
	if err := yamlerr.DecodeAt(n, path, &v); err != nil {
		return err
	}
	switch {
	case hi > 0 && (v < lo || v > hi):
		return yamlerr.At(n, path, "must be from %d to %d, not %d", lo, hi, v)
	case v < lo:
		return yamlerr.At(n, path, "must be %d or more, not %d", lo, v)
	}
	*dst = v
	return nil
}

// parsePaths reads a json: mapping of document paths to rules.
func parsePaths(rl *rule, n *yaml.Node, path string) error {
	if n.Kind != yaml.MappingNode {
		return yamlerr.At(n, path, "must be a mapping of paths in the document to rules, like {email: {strategy: fake-email}}, not %s", yamlerr.Shape(n))
	}
	err := eachKey(n, path, func(k, v *yaml.Node, ppath string) error {
		jp, err := parseJSONPath(k.Value)
		if err != nil {
			return yamlerr.At(k, ppath, "%v", err)
		}
		sub, err := parseRule(v, ppath)
		if err != nil {
			return err
		}
		if sub.strategy == jsonPaths {
			return yamlerr.At(k, ppath, "json paths do not nest: write the whole path, like a.b")
		}
		sub.line = k.Line
		rl.paths = append(rl.paths, pathRule{text: k.Value, path: jp, rule: sub})
		return nil
	})
	if err == nil && len(rl.paths) == 0 {
		return yamlerr.At(n, path, "names no path")
	}
	return err
}

// strategyOf names the strategy each strategy-specific option goes with.
var strategyOf = map[string]strategy{"value": fixed, "format": token, "length": token, "keep_first": partial, "keep_last": partial,
	"percent": noise, "days": shift}

// validate checks the options that only some strategies take.
func (rl *rule) validate(seen map[string]*yaml.Node, path string) error {
	for _, f := range []string{"value", "format", "length", "keep_first", "keep_last", "percent", "days"} {
		if k := seen[f]; k != nil && strategyOf[f] != rl.strategy {
			return yamlerr.At(k, path+"."+f, "is not an option of strategy %s (%s goes with %s)", rl.name, f, nameOf(strategyOf[f]))
		}
	}
	if rl.strategy == noise && rl.percent == 0 {
		rl.percent = defaultNoisePercent
	}
	if rl.strategy == shift && rl.days == 0 {
		rl.days = defaultShiftDays
	}
	if rl.strategy == fixed && rl.value == nil {
		return yamlerr.At(seen["strategy"], path+".value", "missing: strategy fixed needs a value")
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
			return yamlerr.At(seen["length"], path+".length", "must be at most %d for %s, not %d", limit, rl.format, rl.length)
		}
		if rl.unique && rl.length*bitsPerChar < minUniqueTokBit {
			return yamlerr.At(seen["unique"], path+".unique",
				"a unique token needs at least %d bits: length %d of %s carries %d", minUniqueTokBit, rl.length, rl.format, rl.length*bitsPerChar)
		}
	}
	if rl.unique {
		switch rl.strategy {
		case token, fakeEmail, null, partial:
		default:
			return yamlerr.At(seen["unique"], path+".unique",
				"strategy %s cannot keep a column unique (its value space is too small); use token or fake-email", rl.name)
		}
	}
	return nil
}

// nameOf is a strategy's name as written.
func nameOf(s strategy) string {
	for name, v := range strategyNames {
		if v == s {
			return name
		}
	}
	return ""
}

// eachKey calls fn for every key of the mapping n, in file order, with its value (an alias
// resolved), refusing a key given twice, a key that is no single name, and merge keys (<<):
// a rules file says each rule where it applies.
func eachKey(n *yaml.Node, path string, fn func(k, v *yaml.Node, path string) error) error {
	return yamlerr.EachKey(n, path, func(k, v *yaml.Node, kpath string) error {
		switch {
		case k.Kind != yaml.ScalarNode:
			return yamlerr.At(k, path, "a key must be a single name, not %s", yamlerr.Shape(k))
		case k.ShortTag() == "!!merge":
			return yamlerr.At(k, kpath, "merge keys (<<) are not read in masking rules: write the keys out")
		}
		if v.Kind == yaml.AliasNode && v.Alias != nil {
			v = v.Alias
		}
		return fn(k, v, kpath)
	})
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
// column, its level and its line in the rules file, wrapping ErrUnknownTable or
// ErrUnknownColumn.
func (p *Profile) checkNames(schema map[string][]string) error {
	var errs []error
	tables := slices.Sorted(maps.Keys(p.lines))
	for _, t := range tables {
		cols, ok := schema[t]
		if !ok {
			errs = append(errs, fmt.Errorf("%w: %s (%s)", ErrUnknownTable, t, p.where(p.lines[t])))
			continue
		}
		for _, c := range p.Columns(t) {
			if !slices.Contains(cols, c) {
				errs = append(errs, fmt.Errorf("%w: %s.%s (%s)", ErrUnknownColumn, t, c, p.where(p.tables[t][c].line)))
			}
		}
		for _, c := range slices.Sorted(maps.Keys(p.keepCols[t])) {
			if !slices.Contains(cols, c) {
				errs = append(errs, fmt.Errorf("%w: %s.%s (%s)", ErrUnknownColumn, t, c, p.where(p.keepCols[t][c])))
			}
		}
	}
	return errors.Join(errs...)
}

// where names a line of the profile's level in the rules file: "level full, line 7", or
// "level full, masking.yaml line 7" when the file has a name.
func (p *Profile) where(line int) string {
	if p.file == "" {
		return fmt.Sprintf("level %s, line %d", p.level, line)
	}
	return fmt.Sprintf("level %s, %s line %d", p.level, p.file, line)
}
