package agent

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/clonebot/clonebot/internal/testenv"
	"github.com/clonebot/clonebot/jobs"
)

// The property test's generator: make test runs a few cases of a fixed seed; make
// fuzz-masking runs many of a random one (-masking.seed=0).
var (
	propertySeed  = flag.Uint64("masking.seed", 11, "seed of TestMaskingProperty's generator; 0 draws one")
	propertyCases = flag.Int("masking.cases", 3, "cases of TestMaskingProperty")
)

// TestMaskingProperty restores generated schemas (partitioned and inheritance parents, quoted
// mixed-case names, schemas with spaces, json and jsonb, arrays, domains) with generated rules,
// from pg_dump -Fc and plain (sometimes --load-via-partition-root), and checks that no source
// value of a masked column or json path is anywhere in pg_dump of the clone, that numbers and
// dates masked by noise or shift changed row by row, and that kept columns and the unmasked
// parts of documents are byte-identical to the source.
func TestMaskingProperty(t *testing.T) {
	seed := *propertySeed
	if seed == 0 {
		seed = rand.Uint64()
	}
	t.Logf("seed %d (rerun: go test ./agent -run TestMaskingProperty -args -masking.seed=%d -masking.cases=%d)", seed, seed, *propertyCases)
	rdb, prefix := testenv.Redis(t)
	for i := range *propertyCases {
		c := generateCase(rand.New(rand.NewPCG(seed, uint64(i))), i)
		t.Run(fmt.Sprintf("case %d", i), func(t *testing.T) {
			src := testenv.Postgres(t)
			execURL(t, src, c.sql.String())
			a, q := newTestAgent(t, rdb, prefix, fmt.Sprintf("prop-%d-%d", seed, i), agentOpts{rules: c.rules.String()})
			formats := [][]string{{"-Fc"}, {"-Fp"}}
			if c.viaRoot {
				formats[1] = append(formats[1], "--load-via-partition-root")
			}
			for j, args := range formats {
				clone := testenv.Postgres(t)
				e := runToEnd(t, a, q, restoreJob(fmt.Sprintf("prop-%d-%d-%d", seed, i, j), dump(t, src, "src"+args[0], args...), clone))
				if e.State != jobs.StateReady {
					t.Fatalf("%v: final = %+v\nschema:\n%s\nrules:\n%s", args, e, c.sql.String(), c.rules.String())
				}
				c.check(t, src, clone, args)
			}
			if t.Failed() {
				t.Logf("schema:\n%s\nrules:\n%s", c.sql.String(), c.rules.String())
			}
		})
	}
}

// propCase is one generated schema, its rules, and what to check.
type propCase struct {
	rng     *rand.Rand
	sql     strings.Builder
	rules   strings.Builder
	viaRoot bool
	checks  []propCheck
}

// propCheck is one column of one table (queried as from, ONLY for inheritance parents) and
// what its clone must show.
type propCheck struct {
	from, col, kind string
	how             string // "absent" (every source value), "changed" (row by row), "same" (row by row), "json" (paths absent, note same)
}

// column kinds: SQL type and a value for row n with a distinctive tag.
var propKinds = map[string]struct {
	typ   string
	value func(tag string, n int) string
}{
	"email":   {"text", func(tag string, _ int) string { return "'e" + tag + "@corp.example'" }},
	"name":    {"character varying(40)", func(tag string, _ int) string { return "'Name" + tag + " Person'" }},
	"domain":  {"", func(tag string, _ int) string { return "'d" + tag + "@corp.example'" }},
	"array":   {"text[]", func(tag string, _ int) string { return "ARRAY['a" + tag + "@corp.example', NULL, 'b" + tag + "x']" }},
	"jsonb":   {"jsonb", jsonValue},
	"json":    {"json", jsonValue},
	"numeric": {"numeric(10,2)", func(_ string, n int) string { return fmt.Sprintf("%d.%02d", 1000+n*37, n%100) }},
	"date":    {"date", func(_ string, n int) string { return fmt.Sprintf("date '1970-01-01' + %d", 3000+n*17) }},
}

// jsonValue's phone numbers take their digits from the tag's random part, so that no two
// rows or tables share one.
func jsonValue(tag string, n int) string {
	r, _ := strconv.ParseUint(tag[len(tag)-8:], 16, 64)
	return fmt.Sprintf(`'{"profile": {"email": "j%s@corp.example", "age": %d}, "contacts": [{"phone": "+1 415 %07d"}, {"phone": "+1 650 %07d"}], "note": "n%s"}'`,
		tag, 20+n%50, r%10000000, r*2654435761%10000000, tag)
}

// generateCase writes one case: one to three table families in one or two schemas.
func generateCase(rng *rand.Rand, i int) *propCase {
	c := &propCase{rng: rng}
	schemas := []string{"public", "My Schema", "Sales Dept", "ventes"}
	domSchema := schemas[rng.IntN(len(schemas))]
	dom := pgx.Identifier{domSchema, "Email Dom"}.Sanitize()
	for _, s := range schemas[1:] {
		fmt.Fprintf(&c.sql, "CREATE SCHEMA %s;\n", pgx.Identifier{s}.Sanitize())
	}
	fmt.Fprintf(&c.sql, "CREATE DOMAIN %s AS text CHECK (VALUE LIKE '%%@%%');\n", dom)
	policy := []string{"refuse", "mask-by-type"}[rng.IntN(2)]
	fmt.Fprintf(&c.rules, "levels:\n  full:\n    unclassified: %s\n    keep: [\"*.*.id\"]\n", policy)
	names := []string{"users", "Orders", "Client Notes", "events", "Ledger"}
	for f := range 1 + rng.IntN(3) {
		schema := schemas[rng.IntN(len(schemas))]
		name := fmt.Sprintf("%s_%d", names[rng.IntN(len(names))], f)
		c.family(schema, name, dom, policy, i)
	}
	return c
}

// family writes a plain, partitioned or inheritance table family with rows and rules.
func (c *propCase) family(schema, name, dom, policy string, caseNo int) {
	rng := c.rng
	kinds := slices.Sorted(func(yield func(string) bool) {
		for k := range propKinds {
			if !yield(k) {
				return
			}
		}
	})
	rng.Shuffle(len(kinds), func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })
	kinds = kinds[:2+rng.IntN(3)]
	var cols, colNames []string
	for k, kind := range kinds {
		typ := propKinds[kind].typ
		if kind == "domain" {
			typ = dom
		}
		col := fmt.Sprintf("%s_%d", kind, k)
		if rng.IntN(3) == 0 {
			col = "Col " + strings.ToUpper(col[:1]) + col[1:] // quoted, mixed case, with a space
		}
		colNames = append(colNames, col)
		cols = append(cols, pgx.Identifier{col}.Sanitize()+" "+typ)
	}
	table := pgx.Identifier{schema, name}.Sanitize()
	shape := rng.IntN(3)
	var leaves []string // tables that hold rows
	switch shape {
	case 0: // plain
		fmt.Fprintf(&c.sql, "CREATE TABLE %s (id int PRIMARY KEY, %s);\n", table, strings.Join(cols, ", "))
		leaves = []string{table}
	case 1: // partitioned, by id or by hash of its first text column (masked: rows move)
		key := "RANGE (id)"
		bounds := []string{"FROM (0) TO (15)", "FROM (15) TO (100000)"}
		if kinds[0] == "email" || kinds[0] == "name" {
			key = "HASH (" + pgx.Identifier{colNames[0]}.Sanitize() + ")"
			bounds = []string{"WITH (MODULUS 2, REMAINDER 0)", "WITH (MODULUS 2, REMAINDER 1)"}
		}
		fmt.Fprintf(&c.sql, "CREATE TABLE %s (id int, %s) PARTITION BY %s;\n", table, strings.Join(cols, ", "), key)
		for p, b := range bounds {
			part := pgx.Identifier{schema, fmt.Sprintf("%s p%d", name, p)}.Sanitize()
			fmt.Fprintf(&c.sql, "CREATE TABLE %s PARTITION OF %s FOR VALUES %s;\n", part, table, b)
		}
		leaves = []string{table} // rows are checked through the parent
		c.viaRoot = c.viaRoot || rng.IntN(2) == 0
	default: // inheritance: a parent with rows, and a child with a column of its own
		child := pgx.Identifier{schema, name + " child"}.Sanitize()
		fmt.Fprintf(&c.sql, "CREATE TABLE %s (id int PRIMARY KEY, %s);\n", table, strings.Join(cols, ", "))
		fmt.Fprintf(&c.sql, "CREATE TABLE %s (extra text) INHERITS (%s);\n", child, table)
		leaves = []string{"ONLY " + table, child}
	}
	// Rows: the parent's, and the child's with its extra column.
	for li, leaf := range leaves {
		into := strings.TrimPrefix(leaf, "ONLY ")
		for n := range 30 {
			id := n + 100*li
			var vals []string
			for _, kind := range kinds {
				vals = append(vals, propKinds[kind].value(fmt.Sprintf("%d%c%08x", caseNo, 'a'+li, rng.Uint32()), id))
			}
			names := []string{"id"}
			for _, cn := range colNames {
				names = append(names, pgx.Identifier{cn}.Sanitize())
			}
			if li == 1 {
				names = append(names, "extra")
				vals = append(vals, fmt.Sprintf("'x%08x'", rng.Uint32()))
			}
			fmt.Fprintf(&c.sql, "INSERT INTO %s (%s) VALUES (%d, %s);\n", into, strings.Join(names, ", "), id, strings.Join(vals, ", "))
		}
	}
	// Rules on the family's top table; children and partitions inherit them.
	fmt.Fprintf(&c.rules, "    %s:\n", strconv.Quote(schema+"."+name))
	for k, kind := range kinds {
		col := colNames[k]
		how, rule := c.rule(kind, policy)
		if rule != "" {
			fmt.Fprintf(&c.rules, "      %s: %s\n", strconv.Quote(col), rule)
		}
		for _, leaf := range leaves {
			c.checks = append(c.checks, propCheck{from: leaf, col: col, kind: kind, how: how})
		}
	}
	if shape == 2 {
		child := pgx.Identifier{schema, name + " child"}.Sanitize()
		if rng.IntN(2) == 0 {
			fmt.Fprintf(&c.rules, "    %s:\n      extra: keep\n", strconv.Quote(schema+"."+name+" child"))
			c.checks = append(c.checks, propCheck{from: child, col: "extra", kind: "email", how: "same"})
		} else {
			fmt.Fprintf(&c.rules, "    %s:\n      extra: {strategy: token, length: 20}\n", strconv.Quote(schema+"."+name+" child"))
			c.checks = append(c.checks, propCheck{from: child, col: "extra", kind: "email", how: "absent"})
		}
	}
}

// rule picks how one column is treated: a rule (YAML), keep, or nothing (the level's
// mask-by-type policy; never for the domain, whose CHECK a token would break).
func (c *propCase) rule(kind, policy string) (how, rule string) {
	choice := c.rng.IntN(4)
	if choice == 3 && (policy != "mask-by-type" || kind == "domain") {
		choice = 0
	}
	if choice == 2 {
		return "same", "keep"
	}
	masked := "absent"
	switch kind {
	case "numeric", "date":
		masked = "changed"
	case "json", "jsonb":
		masked = "json"
	}
	if choice == 3 {
		if masked == "json" {
			masked = "jsonall"
		}
		return masked, ""
	}
	switch kind {
	case "email", "domain", "array":
		return masked, []string{"{strategy: fake-email}", "{strategy: fake-email, unique: true}"}[c.rng.IntN(2)]
	case "name":
		return masked, []string{"{strategy: fake-name}", "{strategy: token, length: 20}", "{strategy: partial, unique: true}"}[c.rng.IntN(3)]
	case "json", "jsonb":
		return masked, `{json: {profile.email: {strategy: fake-email}, "contacts[*].phone": {strategy: fake-phone}}}`
	case "numeric":
		return masked, "{strategy: noise}"
	}
	return masked, "{strategy: shift}"
}

// check compares the clone with the source.
func (c *propCase) check(t *testing.T, src, clone string, args []string) {
	t.Helper()
	out, err := exec.Command("pg_dump", "-d", clone).Output()
	if err != nil {
		t.Fatalf("pg_dump of the clone: %v", err)
	}
	cloneDump := string(out)
	for _, ck := range c.checks {
		col := pgx.Identifier{ck.col}.Sanitize()
		var srcVals []string
		switch ck.how {
		case "absent":
			vals := "ARRAY[" + col + "::text]"
			if ck.kind == "array" {
				vals = col
			}
			srcVals = query(t, src, fmt.Sprintf("SELECT v FROM %s, unnest(%s) v WHERE v IS NOT NULL", ck.from, vals))
		case "json", "jsonall":
			paths := "'$.profile.email', '$.contacts[*].phone'"
			if ck.how == "jsonall" {
				paths = "'$.profile.email', '$.contacts[*].phone', '$.note'"
			}
			srcVals = query(t, src, fmt.Sprintf("SELECT v #>> '{}' FROM %s, unnest(ARRAY[%s]::jsonpath[]) p, jsonb_path_query(%s::jsonb, p) v", ck.from, paths, col))
			if ck.how == "json" {
				c.sameRows(t, src, clone, ck.from, col+"::jsonb -> 'note'", args)
				c.sameRows(t, src, clone, ck.from, col+"::jsonb #> '{profile,age}'", args)
			}
		case "changed":
			w := query(t, src, fmt.Sprintf("SELECT id, %s FROM %s ORDER BY id", col, ck.from))
			g := query(t, clone, fmt.Sprintf("SELECT id, %s FROM %s ORDER BY id", col, ck.from))
			if len(w) != len(g) {
				t.Errorf("%v %s.%s: %d rows, source %d", args, ck.from, ck.col, len(g), len(w))
			}
			for i := range min(len(w), len(g)) {
				if w[i] == g[i] {
					t.Errorf("%v %s.%s: row %q unchanged", args, ck.from, ck.col, w[i])
				}
			}
		case "same":
			c.sameRows(t, src, clone, ck.from, col+"::text", args)
		}
		if len(srcVals) == 0 && (ck.how == "absent" || strings.HasPrefix(ck.how, "json")) {
			t.Errorf("%s.%s: no source values to look for", ck.from, ck.col)
		}
		for _, v := range srcVals {
			if strings.Contains(cloneDump, v) {
				t.Errorf("%v %s.%s (%s): source value %q is in pg_dump of the clone", args, ck.from, ck.col, ck.kind, v)
			}
		}
	}
}

// sameRows checks that expr is equal, row by row (by id), on source and clone.
func (c *propCase) sameRows(t *testing.T, src, clone, from, expr string, args []string) {
	t.Helper()
	sql := fmt.Sprintf("SELECT id, coalesce((%s)::text, 'NULL') FROM %s ORDER BY id", expr, from)
	if w, g := query(t, src, sql), query(t, clone, sql); !slices.Equal(w, g) {
		t.Errorf("%v %s %s: differs from the source\nsource %q\nclone  %q", args, from, expr, w, g)
	}
}
