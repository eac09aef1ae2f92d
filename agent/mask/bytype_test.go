package mask

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// typedMasker returns the masker of one column c of type typ, masked by rule (YAML flow) or,
// for rule "", by type.
func typedMasker(t *testing.T, typ, rule string, key []byte) *TableMasker {
	t.Helper()
	rules := "levels:\n  full:\n    unclassified: mask-by-type\n"
	if rule != "" {
		rules += "    public.t:\n      c: " + rule + "\n"
	}
	r, err := ParseRules([]byte(rules))
	if err != nil {
		t.Fatal(err)
	}
	p, _ := r.Profile("full")
	pl, err := p.Resolve([]Table{{Name: "public.t", Columns: []Column{{"c", typ}}}})
	if err != nil {
		t.Fatal(err)
	}
	m, ok, err := pl.ForTable("public.t", []string{"c"}, Options{Key: key})
	if err != nil || !ok {
		t.Fatalf("ForTable: %v %v", ok, err)
	}
	return m
}

func maskTyped(t *testing.T, typ, rule, v string) (string, error) {
	t.Helper()
	out, null, err := typedMasker(t, typ, rule, testKey).MaskValue("c", []byte(v), false)
	if null {
		return "NULL", err
	}
	return string(out), err
}

// within checks that got is a number other than give, within pct percent of it (at least one
// unit), with as many decimals.
func within(t *testing.T, give, got string, pct float64) {
	t.Helper()
	g, err1 := strconv.ParseFloat(give, 64)
	o, err2 := strconv.ParseFloat(got, 64)
	if err1 != nil || err2 != nil || o == g || math.Abs(o-g) > math.Max(math.Abs(g)*pct/100, 1) {
		t.Errorf("noise(%s) = %s: want another number within %v%%", give, got, pct)
	}
	_, gf, _ := strings.Cut(give, ".")
	_, of, _ := strings.Cut(got, ".")
	if !strings.ContainsAny(give, "eE") && pct == defaultNoisePercent && strings.Contains(give, ".") && len(gf) != len(of) {
		t.Errorf("noise(%s) = %s: the scale changed", give, got)
	}
}

func TestNoise(t *testing.T) {
	tests := []struct{ typ, give string }{
		{"integer", "100"}, {"integer", "0"}, {"integer", "-7"}, {"integer", "2147483647"}, {"smallint", "-32768"},
		{"bigint", "9223372036854775807"}, {"numeric(12,2)", "1234.50"}, {"numeric", "-0.05"}, {"numeric", "12345678901234567890.123"},
		{"numeric(5,2)", "999.99"}, {"real", "1.5"}, {"double precision", "-2.5e-300"}, {"double precision", "0"},
	}
	for _, tt := range tests {
		got, err := maskTyped(t, tt.typ, "", tt.give)
		if err != nil {
			t.Fatalf("%s %s: %v", tt.typ, tt.give, err)
		}
		pct := float64(defaultNoisePercent)
		if strings.Contains(tt.typ, "real") || strings.Contains(tt.typ, "double") {
			pct += 0.001 // floats do not keep a scale
		}
		within(t, tt.give, got, pct)
		if tt.typ == "numeric(5,2)" && len(got) > 6 {
			t.Errorf("numeric(5,2) %s → %s: out of the type's range", tt.give, got)
		}
		if tt.typ == "smallint" {
			if n, err := strconv.ParseInt(got, 10, 16); err != nil || n == -32768 {
				t.Errorf("smallint %s → %s", tt.give, got)
			}
		}
		if tt.typ == "bigint" {
			if _, err := strconv.ParseInt(got, 10, 64); err != nil {
				t.Errorf("bigint %s → %s: %v", tt.give, got, err)
			}
		}
	}
	for _, special := range []string{"NaN", "Infinity", "-Infinity"} {
		if got, err := maskTyped(t, "double precision", "", special); got != special || err != nil {
			t.Errorf("noise(%s) = %s, %v", special, got, err)
		}
	}
	if _, err := maskTyped(t, "text", "{strategy: noise, percent: 50}", "about 12"); !errors.Is(err, ErrNotNumber) || strings.Contains(err.Error(), "12") {
		t.Errorf("noise of text: %v", err)
	}
	got, _ := maskTyped(t, "text", "{strategy: noise, percent: 50}", "200")
	within(t, "200", got, 50)
}

func TestShift(t *testing.T) {
	day := func(s string) time.Time {
		d, err := time.Parse("2006-01-02", s[:10])
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		return d
	}
	tests := []struct{ typ, rule, give, rest string }{
		{"date", "", "2024-01-05", ""},
		{"date", "{strategy: shift, days: 3}", "2024-03-01", ""},
		{"timestamp with time zone", "", "2024-02-29 10:11:12.5+01", " 10:11:12.5+01"},
		{"timestamp(3) without time zone", "", "1999-12-31 23:59:59.999", " 23:59:59.999"},
		{"text", "{strategy: shift}", "1985-06-30", ""},
	}
	for _, tt := range tests {
		got, err := maskTyped(t, tt.typ, tt.rule, tt.give)
		if err != nil {
			t.Fatalf("%s: %v", tt.give, err)
		}
		limit := 365
		if strings.Contains(tt.rule, "days: 3") {
			limit = 3
		}
		d := day(got).Sub(day(tt.give)).Hours() / 24
		if d == 0 || math.Abs(d) > float64(limit) || got[10:] != tt.rest {
			t.Errorf("shift(%s) = %s: want another day within %d days, time kept", tt.give, got, limit)
		}
	}
	if got, _ := maskTyped(t, "date", "", "0044-03-15 BC"); !regexp.MustCompile(`^00(4[3-5])-\d\d-\d\d BC$`).MatchString(got) {
		t.Errorf("shift(0044-03-15 BC) = %s", got)
	}
	if got, _ := maskTyped(t, "date", "", "infinity"); got != "infinity" {
		t.Errorf("shift(infinity) = %s", got)
	}
	if _, err := maskTyped(t, "date", "", "05/01/2024"); !errors.Is(err, ErrNotDate) {
		t.Errorf("shift of a non-ISO date: %v", err)
	}
}

func TestMaskByType(t *testing.T) {
	hexOf := func(n int) *regexp.Regexp { return regexp.MustCompile(`^[0-9a-f]{` + strconv.Itoa(n) + `}$`) }
	tests := []struct {
		typ, give string
		want      *regexp.Regexp
	}{
		{"text", "Jane Roe", hexOf(byTypeTokenLen)},
		{"character varying(10)", "Jane Roe", hexOf(10)},
		{"character(4)", "abcd", hexOf(4)},
		{"public.citext", "Jane", hexOf(byTypeTokenLen)},
		{"uuid", "0f8fad5b-d9cb-469f-a165-70867728950e", regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)},
		{"bytea", `\x0102ff`, regexp.MustCompile(`^\\x[0-9a-f]{6}$`)},
		{"text[]", `{"Jane Roe",NULL,x}`, regexp.MustCompile(`^\{"[0-9a-f]{32}",NULL,"[0-9a-f]{32}"\}$`)},
		{"integer[]", `{{1,2},{3,NULL}}`, regexp.MustCompile(`^\{\{"-?\d+","-?\d+"\},\{"-?\d+",NULL\}\}$`)},
	}
	for _, tt := range tests {
		got, err := maskTyped(t, tt.typ, "", tt.give)
		if err != nil || !tt.want.MatchString(got) || got == tt.give {
			t.Errorf("by type %s %q = %q, %v; want %s", tt.typ, tt.give, got, err, tt.want)
		}
	}
	// A document keeps its shape: names, true, false and null stay, strings and numbers change.
	doc := `{"name": "Jane", "age": 41, "tags": ["a", true, null], "n": {"x": -1.5e3}}`
	got, err := maskTyped(t, "jsonb", "", doc)
	var before, after map[string]any
	if err != nil || json.Unmarshal([]byte(doc), &before) != nil || json.Unmarshal([]byte(got), &after) != nil {
		t.Fatalf("by type jsonb = %q, %v", got, err)
	}
	if after["name"] == "Jane" || after["age"] == 41.0 || after["tags"].([]any)[1] != true || after["tags"].([]any)[2] != nil ||
		after["n"].(map[string]any)["x"] == -1500.0 || !hexOf(jsonTokenLen).MatchString(after["name"].(string)) {
		t.Errorf("by type jsonb = %s", got)
	}
	// Deterministic, keyed.
	a, _, _ := typedMasker(t, "date", "", testKey).MaskValue("c", []byte("2024-01-05"), false)
	a = []byte(string(a))
	b, _, _ := typedMasker(t, "date", "", testKey).MaskValue("c", []byte("2024-01-05"), false)
	c, _, _ := typedMasker(t, "text", "", otherKey).MaskValue("c", []byte("2024-01-05"), false)
	if string(a) != string(b) || string(c) == string(a) {
		t.Errorf("by type not deterministic or not keyed: %s %s %s", a, b, c)
	}
}

func TestJSONPaths(t *testing.T) {
	rule := `{json: {profile.email: {strategy: fake-email}, "contacts[*].phone": {strategy: fake-phone}, "ids[1]": {strategy: null}, "meta.*.secret": {strategy: fixed, value: "x"}}}`
	doc := `{"profile": {"email": "jane@corp.example", "age": 41},
  "contacts": [{"phone": "+1 415-555-0100"}, {"phone": 4155550101, "kind": "home"}],
  "ids": [10, 11, 12], "meta": {"a": {"secret": true}, "b": {"secret": "s"}}, "profile2": {"email": "kept@corp.example"}}`
	got, err := maskTyped(t, "json", rule, doc)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(got), &v); err != nil {
		t.Fatalf("masked document is not JSON: %v\n%s", err, got)
	}
	email := v["profile"].(map[string]any)["email"].(string)
	contacts := v["contacts"].([]any)
	if email == "jane@corp.example" || !strings.HasSuffix(email, "@example.com") ||
		contacts[0].(map[string]any)["phone"] == "+1 415-555-0100" || contacts[1].(map[string]any)["phone"] == 4155550101.0 ||
		contacts[1].(map[string]any)["kind"] != "home" || v["ids"].([]any)[1] != nil || v["ids"].([]any)[2] != 12.0 ||
		v["meta"].(map[string]any)["a"].(map[string]any)["secret"] != "x" || v["profile"].(map[string]any)["age"] != 41.0 ||
		v["profile2"].(map[string]any)["email"] != "kept@corp.example" {
		t.Errorf("masked document:\n%s", got)
	}
	// Bytes outside the masked scalars stay as they were, line breaks included.
	if !strings.Contains(got, `"age": 41},`+"\n  \"contacts\": [{\"phone\": ") {
		t.Errorf("layout changed:\n%s", got)
	}
	for _, bad := range []string{`{"profile": `, `not json`, `{"a":1} {"b":2}`} {
		if _, err := maskTyped(t, "jsonb", rule, bad); !errors.Is(err, ErrNotJSON) {
			t.Errorf("maskJSON(%q) = %v, want ErrNotJSON", bad, err)
		}
	}
	if got, _ := maskTyped(t, "json", rule, `{"a": 1, "a": 2}`); got != `{"a": 1, "a": 2}` {
		t.Errorf("duplicate names: %s", got)
	}
}

func TestArrays(t *testing.T) {
	tests := []struct{ give, want string }{
		{`{}`, `{}`},
		{`{NULL}`, `{NULL}`},
		{`{a,"b c",NULL,"x\"y",  z  }`, `{"A","B C",NULL,"X\"Y","Z"}`},
		{`{{a,b},{"c",null}}`, `{{"A","B"},{"C",NULL}}`},
		{`[0:1]={a,b}`, `[0:1]={"A","B"}`},
	}
	upper := func(e []byte) ([]byte, bool, error) { return []byte(strings.ToUpper(string(e))), false, nil }
	for _, tt := range tests {
		got, err := maskArray(nil, []byte(tt.give), upper)
		if err != nil || string(got) != tt.want {
			t.Errorf("maskArray(%s) = %s, %v; want %s", tt.give, got, err, tt.want)
		}
	}
	for _, bad := range []string{`{a`, `a,b`, `{"a}`, `{a}x`, `{,}`} {
		if _, err := maskArray(nil, []byte(bad), upper); !errors.Is(err, ErrNotArray) {
			t.Errorf("maskArray(%s) = %v, want ErrNotArray", bad, err)
		}
	}
	// A strategy on an array column masks each element; null and fixed replace the whole value.
	got, _ := maskTyped(t, "text[]", "{strategy: fake-email}", `{a@corp.example,NULL}`)
	if !regexp.MustCompile(`^\{"[a-z]+\.[a-z2-7]{16}@example\.com",NULL\}$`).MatchString(got) {
		t.Errorf("fake-email on text[] = %s", got)
	}
	if got, _ := maskTyped(t, "text[]", "{strategy: fixed, value: '{}'}", `{a}`); got != "{}" {
		t.Errorf("fixed on text[] = %s", got)
	}
}

func TestGateHelpers(t *testing.T) {
	m := typedMasker(t, "jsonb", `{json: {email: {strategy: fake-email}, "tags[*]": {strategy: partial}}}`, testKey)
	orig, err := m.Originals("c", []byte(`{"email": "jane@corp.example", "tags": ["-", "secret"], "note": "call +1 415 555 0100"}`), false)
	if err != nil || len(orig) != 2 || string(orig[0]) != `"jane@corp.example"` || string(orig[1]) != `"secret"` {
		t.Errorf("Originals = %q, %v (a tag without letters masks to itself and is left out)", orig, err)
	}
	cov, err := m.CoveredScalars("c", []byte(`{"email": "e", "tags": [1], "note": "n"}`))
	if err != nil || len(cov) != 2 {
		t.Errorf("CoveredScalars = %q, %v", cov, err)
	}
	vals, err := m.ScanValues(nil, "c", []byte(`{"email": "e", "note": "call", "deep": [{"s": "t"}]}`))
	if err != nil || len(vals) != 2 || string(vals[0]) != "call" || string(vals[1]) != "t" {
		t.Errorf("ScanValues = %q, %v", vals, err)
	}
	g := m.GateColumns()
	if len(g) != 1 || !g[0].JSON {
		t.Errorf("GateColumns = %+v", g)
	}
	n := typedMasker(t, "numeric(10,2)", "", testKey)
	if g := n.GateColumns(); g[0].Cast != "numeric(10,2)" || !g[0].RowsOnly {
		t.Errorf("GateColumns of noise = %+v", g)
	}
	e := typedMasker(t, "text", "{strategy: fake-email}", testKey)
	for _, v := range []string{"", "x"} {
		o, err := e.Originals("c", []byte(v), v == "x")
		if o != nil || err != nil {
			t.Errorf("Originals(%q) = %q, %v: want nothing (empty or NULL)", v, o, err)
		}
	}
}

// TestTypedGolden pins the outputs of noise, shift and masking by type for a fixed key, as
// TestGolden does for the other strategies.
func TestTypedGolden(t *testing.T) {
	tests := []struct{ typ, rule, give string }{
		{"integer", "", "4242"}, {"numeric(12,2)", "", "1234.50"}, {"double precision", "", "3.25"},
		{"date", "", "1985-06-30"}, {"timestamp with time zone", "", "2024-02-29 10:11:12.5+01"},
		{"text", "", "Jane Roe"}, {"character varying(8)", "", "Jane Roe"}, {"uuid", "", "0f8fad5b-d9cb-469f-a165-70867728950e"},
		{"bytea", "", `\x0102ff`}, {"jsonb", "", `{"name": "Jane", "age": 41, "ok": true}`}, {"text[]", "", `{a,b}`},
		{"bigint", "{strategy: noise, percent: 50}", "1000000"}, {"date", "{strategy: shift, days: 30}", "2020-01-01"},
		{"jsonb", `{json: {"a[*].email": {strategy: fake-email}}}`, `{"a": [{"email": "x@corp.example"}]}`},
	}
	var b strings.Builder
	for _, tt := range tests {
		got, err := maskTyped(t, tt.typ, tt.rule, tt.give)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s\t%s\t%s\t%s\n", tt.typ, tt.rule, tt.give, got)
	}
	golden(t, "typed.golden", b.String())
}

// FuzzMaskDocument feeds arbitrary documents and array literals to the json-path and
// by-type maskers: they must return an error or a valid document (an array literal that
// parses again), never panic or hang, and never carry the input in an error.
func FuzzMaskDocument(f *testing.F) {
	for _, s := range []string{
		`{"profile": {"email": "a@b.c", "age": 3}, "contacts": [{"phone": "+1 415"}, {"phone": 415}], "x": [true, null]}`,
		`[{"a": "\u00e9\"\\"}, 1e300, -0.5]`, `"just a string"`, `{"a": 1, "a": 2}`, `{`, `{"contacts": [[{"phone": "1"}]]}`,
		`{a,"b c",NULL,"x\"y"}`, `{{1,2},{3,NULL}}`, `[1:2]={a,b}`, `{"\\\\"}`,
	} {
		f.Add([]byte(s))
	}
	paths := `{json: {profile.email: {strategy: fake-email}, "contacts[*].phone": {strategy: fake-phone}, "*.x": {strategy: null}}}`
	f.Fuzz(func(t *testing.T, doc []byte) {
		for _, m := range []*TableMasker{typedMasker(t, "jsonb", paths, testKey), typedMasker(t, "json", "", testKey)} {
			out, _, err := m.MaskValue("c", doc, false)
			switch {
			case err != nil && len(doc) > 3 && strings.Contains(err.Error(), string(doc)):
				t.Fatalf("the error quotes the value: %v", err)
			case err == nil && json.Valid(doc) && !json.Valid(out):
				t.Fatalf("masked %q into invalid JSON %q", doc, out)
			}
		}
		out, _, err := typedMasker(t, "text[]", "", testKey).MaskValue("c", doc, false)
		if err == nil {
			if _, err := maskArray(nil, out, func(e []byte) ([]byte, bool, error) { return e, false, nil }); err != nil {
				t.Fatalf("masked array %q does not parse: %v", out, err)
			}
		}
	})
}
