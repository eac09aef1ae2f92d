package mask

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// familyTables has a partitioned table with a partition of its own partitions, and an
// inheritance parent with a child and a grandchild that add columns.
var familyTables = []Table{
	{Name: "public.cards", Partitioned: true, PartitionKey: []string{"card"}, Columns: []Column{{"id", "integer"}, {"card", "text"}, {"note", "text"}}},
	{Name: "public.cards_1", Parents: []string{"public.cards"}, Columns: []Column{{"id", "integer"}, {"card", "text"}, {"note", "text"}}},
	{Name: "public.cards_2", Parents: []string{"public.cards"}, Partitioned: true, PartitionKey: []string{"id"},
		Columns: []Column{{"id", "integer"}, {"card", "text"}, {"note", "text"}}},
	{Name: "public.cards_2a", Parents: []string{"public.cards_2"}, Columns: []Column{{"id", "integer"}, {"card", "text"}, {"note", "text"}}},
	{Name: "hr.people", Columns: []Column{{"id", "integer"}, {"email", "text"}, {"born", "date"}}},
	{Name: "hr.staff", Parents: []string{"hr.people"}, Columns: []Column{{"id", "integer"}, {"email", "text"}, {"born", "date"}, {"salary", "numeric(10,2)"}}},
	{Name: "hr.contractors", Parents: []string{"hr.staff"}, Columns: []Column{{"id", "integer"}, {"email", "text"}, {"born", "date"},
		{"salary", "numeric(10,2)"}, {"agency", "text"}, {"flags", "boolean"}}},
	{Name: "public.countries", Columns: []Column{{"code", "text"}, {"name", "text"}}},
}

func resolve(t *testing.T, rules, level string, tables []Table) *Plan {
	t.Helper()
	r, err := ParseRules([]byte(rules))
	if err != nil {
		t.Fatal(err)
	}
	p, err := r.Profile(level)
	if err != nil {
		t.Fatal(err)
	}
	pl, err := p.Resolve(tables)
	if err != nil {
		t.Fatal(err)
	}
	return pl
}

func planOf(pl *Plan) map[string]string {
	out := map[string]string{}
	for _, c := range pl.Coverage() {
		s := c.Treatment.String()
		if c.Strategy != "" {
			s += " " + c.Strategy
		}
		if c.From != "" {
			s += " <" + c.From
		}
		out[c.Table+"."+c.Column] = s
	}
	return out
}

const familyRules = `levels:
  full:
    keep: ["*.*.id", "hr.contractors.ag*"]
    public.cards:
      card: {strategy: fake-card}
    public.cards_2a:
      note: keep
    hr.people:
      email: {strategy: fake-email}
    hr.staff:
      born: {strategy: shift}
      salary: keep
    public.countries: keep
`

func TestResolveCoversChildrenAndKeeps(t *testing.T) {
	pl := resolve(t, familyRules, "full", familyTables)
	want := map[string]string{
		"public.cards.id":       "keep <keep *.*.id",
		"public.cards.card":     "masked fake-card",
		"public.cards.note":     "unclassified",
		"public.cards_1.card":   "masked fake-card <public.cards",
		"public.cards_2a.card":  "masked fake-card <public.cards",
		"public.cards_2a.note":  "keep",
		"hr.people.born":        "unclassified",
		"hr.staff.email":        "masked fake-email <hr.people",
		"hr.staff.born":         "masked shift",
		"hr.contractors.email":  "masked fake-email <hr.people",
		"hr.contractors.born":   "masked shift <hr.staff",
		"hr.contractors.salary": "keep <hr.staff",
		"hr.contractors.agency": "keep <keep hr.contractors.ag*",
		"hr.contractors.flags":  "unclassified",
		"public.countries.name": "keep <public.countries: keep",
		"public.countries.code": "keep <public.countries: keep",
		"public.cards_2.note":   "unclassified",
		"hr.contractors.id":     "keep <keep *.*.id",
	}
	got := planOf(pl)
	for col, w := range want {
		if got[col] != w {
			t.Errorf("%s: %q, want %q", col, got[col], w)
		}
	}
	err := pl.Refusal()
	if !errors.Is(err, ErrUnclassified) {
		t.Fatalf("Refusal = %v, want ErrUnclassified", err)
	}
	for _, c := range []string{"public.cards.note", "public.cards_1.note", "hr.people.born", "hr.contractors.flags"} {
		if !strings.Contains(err.Error(), c) {
			t.Errorf("Refusal %q does not name %s", err, c)
		}
	}
	if strings.Contains(err.Error(), "cards_2a.note") {
		t.Errorf("Refusal names a kept column: %v", err)
	}
	s := pl.Summary()
	if s.Columns != 27 || s.Masked+s.Kept+s.Unclassified != s.Columns || s.Unclassified != 5 || s.Policy != PolicyRefuse {
		t.Errorf("Summary = %+v", s)
	}
}

func TestResolvePolicies(t *testing.T) {
	tests := []struct {
		policy, col, want string
		refused           bool
	}{
		{"keep", "hr.contractors.flags", "kept (unclassified: keep)", false},
		{"mask-by-type", "hr.people.born", "masked by type shift", true},
		{"mask-by-type", "public.cards.note", "masked by type token", true},
		{"mask-by-type", "hr.contractors.flags", "unclassified <mask-by-type has no default for type boolean", true},
	}
	for _, tt := range tests {
		rules := strings.Replace(familyRules, "    keep:", "    unclassified: "+tt.policy+"\n    keep:", 1)
		pl := resolve(t, rules, "full", familyTables)
		if got := planOf(pl)[tt.col]; got != tt.want {
			t.Errorf("%s: %s is %q, want %q", tt.policy, tt.col, got, tt.want)
		}
		err := pl.Refusal()
		if refused := err != nil; refused != tt.refused {
			t.Errorf("%s: Refusal = %v", tt.policy, err)
		}
		if tt.policy == "mask-by-type" && (!strings.Contains(err.Error(), "hr.contractors.flags (boolean)") || strings.Contains(err.Error(), "born")) {
			t.Errorf("mask-by-type refusal %q: want only the boolean column", err)
		}
	}
	// Level none keeps what no rule names, and asks no detector to read it.
	pl := resolve(t, "levels:\n  full: {}\n", "none", familyTables)
	if err := pl.Refusal(); err != nil {
		t.Errorf("level none: %v", err)
	}
	if m, ok, err := pl.ForTable("hr.people", []string{"id", "email", "born"}, Options{}); ok || m != nil || err != nil {
		t.Errorf("level none: a masker for an unruled table: %v %v", ok, err)
	}
}

func TestPlanForTableAndLoadVia(t *testing.T) {
	pl := resolve(t, strings.Replace(familyRules, "    keep:", "    unclassified: keep\n    keep:", 1), "full", familyTables)
	opt := Options{Key: testKey}
	// A partition gets its parent's rule; the detectors read its unmasked text.
	m, ok, err := pl.ForTable("public.cards_1", []string{"id", "card", "note"}, opt)
	if err != nil || !ok {
		t.Fatalf("ForTable: %v %v", ok, err)
	}
	if got := m.MaskedColumns(); !slices.Equal(got, []string{"card"}) {
		t.Errorf("masked %v", got)
	}
	if got := m.ScanColumns(); len(got) != 1 || got[0].Name != "note" || got[0].Index != 2 {
		t.Errorf("scanned %v", got)
	}
	// The masked card is public.cards's partition key: rows go in through it.
	if got := pl.LoadVia("public.cards_2a"); got != "public.cards" {
		t.Errorf("LoadVia(cards_2a) = %s, want public.cards", got)
	}
	if got := pl.LoadVia("hr.staff"); got != "hr.staff" {
		t.Errorf("LoadVia(hr.staff) = %s", got)
	}
	// Rows loaded through cards would get one rule for note, but cards_2a keeps it.
	_, _, err = pl.ForTable("public.cards", []string{"id", "card", "note"}, opt)
	if err == nil || !strings.Contains(err.Error(), "rule the column on public.cards only") {
		t.Errorf("ForTable(partitioned with differing partitions) = %v", err)
	}
	if _, _, err := pl.ForTable("public.nope", []string{"id"}, opt); !errors.Is(err, ErrUnknownTable) {
		t.Errorf("ForTable(unknown) = %v", err)
	}
	if _, _, err := pl.ForTable("hr.people", []string{"id", "extra"}, opt); !errors.Is(err, ErrUnknownColumn) {
		t.Errorf("ForTable(unknown column) = %v", err)
	}
	// Summarize is what /clone explain calls.
	r, _ := ParseRules([]byte(familyRules))
	s, err := r.Summarize("full", familyTables)
	if err != nil || s.Unclassified != 5 || s.Tables != len(familyTables) {
		t.Errorf("Summarize = %+v, %v", s, err)
	}
}

func TestParseRulesNewForms(t *testing.T) {
	r, err := ParseRules([]byte(`levels:
  full:
    unclassified: mask-by-type
    large_objects: drop
    keep: ["*.*.id", "audit.*.*"]
    public.countries: keep
    public.users:
      nick: keep
      doc: {json: {email: {strategy: fake-email}, "contacts[*].phone": {strategy: fake-phone}, "items[0]": {strategy: null}}}
      born: {strategy: shift, days: 30}
      salary: {strategy: noise, percent: 5}
`))
	if err != nil {
		t.Fatal(err)
	}
	p, _ := r.Profile("full")
	if p.Unclassified() != PolicyMaskByType || p.LargeObjects() != PolicyDrop || !p.NeedsKey() {
		t.Errorf("policies %s %s, NeedsKey %v", p.Unclassified(), p.LargeObjects(), p.NeedsKey())
	}
	if got := p.Columns("public.users"); !slices.Equal(got, []string{"born", "doc", "salary"}) {
		t.Errorf("Columns = %v", got)
	}
	none, _ := r.Profile("none")
	if none.Unclassified() != PolicyKeep || none.LargeObjects() != PolicyRefuse || none.Masked() {
		t.Errorf("none: %s %s %v", none.Unclassified(), none.LargeObjects(), none.Masked())
	}
}
