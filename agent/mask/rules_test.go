package mask

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// sampleTables are the tables of the sample databases of the demo and the restore bench, which
// deploy/masking.example.yaml covers.
var sampleTables = []Table{
	{Name: "public.users", Columns: []Column{{"id", "integer"}, {"email", "text"}, {"ssn", "text"}, {"phone", "text"},
		{"name", "text"}, {"created_at", "timestamp with time zone"}}},
	{Name: "public.payments", Columns: []Column{{"id", "bigint"}, {"user_id", "bigint"}, {"card_number", "text"},
		{"amount", "numeric(12,2)"}, {"created_at", "timestamp with time zone"}, {"paid_at", "timestamp with time zone"}}},
}

func TestExampleRulesFile(t *testing.T) {
	r, err := LoadRules("../../deploy/masking.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r.Levels(), []string{"full", "none", "partial"}; !slices.Equal(got, want) {
		t.Errorf("Levels() = %v, want %v", got, want)
	}
	want := map[string]map[string][]string{
		"full":    {"public.users": {"email", "name", "phone", "ssn"}, "public.payments": {"card_number"}},
		"partial": {"public.users": {"email", "ssn"}, "public.payments": {"card_number"}},
		"none":    {},
	}
	for level, tables := range want {
		p, err := r.Profile(level)
		if err != nil {
			t.Fatal(err)
		}
		plan, err := p.Resolve(sampleTables)
		if err != nil {
			t.Fatalf("level %s: Resolve: %v", level, err)
		}
		if err := plan.Refusal(); err != nil {
			t.Errorf("level %s leaves columns unclassified: %v", level, err)
		}
		if len(p.Tables()) != len(tables) {
			t.Errorf("level %s: Tables() = %v", level, p.Tables())
		}
		for table, cols := range tables {
			if got := p.Columns(table); !slices.Equal(got, cols) {
				t.Errorf("level %s: Columns(%s) = %v, want %v", level, table, got, cols)
			}
		}
		if got, wantKey := p.NeedsKey(), level != "none"; got != wantKey {
			t.Errorf("level %s: NeedsKey() = %v, want %v", level, got, wantKey)
		}
	}
}

func TestProfileLevels(t *testing.T) {
	r, err := ParseRules([]byte("levels:\n  full:\n    users:\n      email: {strategy: fake-email}\n"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := r.Profile("full")
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Tables(); !slices.Equal(got, []string{"public.users"}) {
		t.Errorf("bare table name: Tables() = %v, want [public.users]", got)
	}
	none, err := r.Profile("none")
	if err != nil || len(none.Tables()) != 0 {
		t.Errorf(`Profile("none") = %v, %v; want an empty profile`, none, err)
	}
	_, err = r.Profile("partial")
	if !errors.Is(err, ErrUnknownLevel) || !strings.Contains(err.Error(), "full") {
		t.Errorf(`Profile("partial") err = %v, want ErrUnknownLevel naming the defined levels`, err)
	}
}

func TestParseRulesAccepts(t *testing.T) {
	tests := []struct {
		name string
		give string
	}{
		{"null level", "levels:\n  none:\n"},
		{"null table", "levels:\n  full:\n    users:\n"},
		{"block style rule", "levels:\n  full:\n    users:\n      email:\n        strategy: token\n        format: base32\n        length: 13\n        unique: true\n"},
		{"fixed empty value", "levels:\n  full:\n    users:\n      note: {strategy: fixed, value: ''}\n"},
		{"unique null", "levels:\n  full:\n    users:\n      note: {strategy: null, unique: true}\n"},
		{"an alias", "levels:\n  full:\n    users:\n      email: &fake {strategy: fake-email}\n    staff:\n      email: *fake\n"},
		{"null keep list", "levels:\n  full:\n    keep:\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseRules([]byte(tt.give)); err != nil {
				t.Errorf("ParseRules: %v", err)
			}
		})
	}
}

func TestResolveNamesUnknownRules(t *testing.T) {
	r, err := ParseRulesFile("masking.yaml", []byte(`levels:
  full:
    public.users:
      email: {strategy: fake-email}
      mail: {strategy: fake-email}
      nick: keep
    public.orders:
      note: {strategy: null}
    public.audit: keep
    payments:
      card_number: {strategy: fake-card}
`))
	if err != nil {
		t.Fatal(err)
	}
	p, _ := r.Profile("full")
	_, err = p.Resolve(sampleTables)
	if !errors.Is(err, ErrUnknownTable) || !errors.Is(err, ErrUnknownColumn) {
		t.Fatalf("Resolve err = %v, want ErrUnknownTable and ErrUnknownColumn", err)
	}
	for _, want := range []string{"public.orders (level full, masking.yaml line 7)", "public.users.mail (level full, masking.yaml line 5)",
		"public.users.nick (level full, masking.yaml line 6)", "public.audit (level full, masking.yaml line 9)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Resolve err = %v, want it to name %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "payments") || strings.Contains(err.Error(), "users.email") {
		t.Errorf("Resolve err = %v names a rule that matches the schema", err)
	}
}
