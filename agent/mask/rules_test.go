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

func TestParseRulesErrors(t *testing.T) {
	tests := []struct {
		name string
		give string
		want string // substring of the error
	}{
		{"not yaml", "levels: [", "invalid masking rules"},
		{"empty", "", "empty file"},
		{"unknown top field", "level:\n  full: {}\n", "line 1: level: unknown field"},
		{"no levels", "levels: {}\n", "no masking level"},
		{"levels not a mapping", "levels: [full]\n", "line 1: levels: want a mapping"},
		{"unknown strategy", "levels:\n  full:\n    users:\n      email: {strategy: scramble}\n",
			`line 4: levels.full.users.email.strategy: unknown strategy "scramble"`},
		{"missing strategy", "levels:\n  full:\n    users:\n      email: {unique: true}\n",
			"line 4: levels.full.users.email.strategy: missing"},
		{"unknown rule field", "levels:\n  full:\n    users:\n      email:\n        strategy: token\n        salt: x\n",
			"line 6: levels.full.users.email.salt: unknown field"},
		{"option of another strategy", "levels:\n  full:\n    users:\n      email: {strategy: fake-email, length: 8}\n",
			"line 4: levels.full.users.email.length: not an option of strategy fake-email"},
		{"fixed without value", "levels:\n  full:\n    users:\n      email: {strategy: fixed}\n",
			"levels.full.users.email.value: strategy fixed needs a value"},
		{"fixed with null value", "levels:\n  full:\n    users:\n      email: {strategy: fixed, value: null}\n",
			"levels.full.users.email.value: null value"},
		{"bad format", "levels:\n  full:\n    users:\n      email: {strategy: token, format: base64}\n",
			"levels.full.users.email.format: want hex or base32"},
		{"token too long", "levels:\n  full:\n    users:\n      email: {strategy: token, format: base32, length: 60}\n",
			"levels.full.users.email.length: at most 52 for base32"},
		{"negative keep", "levels:\n  full:\n    users:\n      ssn: {strategy: partial, keep_last: -1}\n",
			"levels.full.users.ssn.keep_last: want a non-negative integer"},
		{"bad bool", "levels:\n  full:\n    users:\n      email: {strategy: token, unique: maybe}\n",
			"levels.full.users.email.unique"},
		{"unique short token", "levels:\n  full:\n    users:\n      email: {strategy: token, length: 12, unique: true}\n",
			"line 4: levels.full.users.email.unique: a unique token needs at least 64 bits"},
		{"unique on a small space", "levels:\n  full:\n    users:\n      ssn: {strategy: fake-ssn, unique: true}\n",
			"levels.full.users.ssn.unique: strategy fake-ssn cannot keep a column unique"},
		{"duplicate column", "levels:\n  full:\n    users:\n      ssn: {strategy: null}\n      ssn: {strategy: fake-ssn}\n",
			"line 5: levels.full.users.ssn: listed twice"},
		{"same table qualified and not", "levels:\n  full:\n    users:\n      ssn: {strategy: null}\n    public.users:\n      name: {strategy: null}\n",
			"line 5: levels.full.public.users: table public.users listed twice"},
		{"bad table name", "levels:\n  full:\n    a.b.c:\n      ssn: {strategy: null}\n",
			"line 3: levels.full.a.b.c: table must be schema.table"},
		{"rule not a mapping", "levels:\n  full:\n    users:\n      ssn: fake-ssn\n",
			"line 4: levels.full.users.ssn: want a mapping"},
		{"option not a scalar", "levels:\n  full:\n    users:\n      ssn: {strategy: [a]}\n",
			"levels.full.users.ssn.strategy: want a scalar"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseRules([]byte(tt.give))
			if !errors.Is(err, ErrInvalidRules) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseRules error = %v, want ErrInvalidRules containing %q", err, tt.want)
			}
		})
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
	r, err := ParseRules([]byte(`levels:
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
	for _, want := range []string{"public.orders (level full, line 7)", "public.users.mail (level full, line 5)",
		"public.users.nick (level full, line 6)", "public.audit (level full, line 9)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Resolve err = %v, want it to name %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "payments") || strings.Contains(err.Error(), "users.email") {
		t.Errorf("Resolve err = %v names a rule that matches the schema", err)
	}
}
