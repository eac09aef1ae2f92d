package agent

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/clonebot/clonebot/agent/mask"
	"github.com/clonebot/clonebot/internal/testenv"
)

// gateRows are COPY rows of (id, email, doc, amount, born), as a source would hold them.
var gateRows = []string{
	"1\tann@corp.example\t{\"contact\": {\"phone\": \"+1 415-555-0100\"}, \"n\": 1}\t10.50\t1980-01-02",
	"2\tbob@corp.example\t{\"contact\": {\"phone\": \"+1 415-555-0101\"}}\t20.00\t1990-03-04",
	"3\t\t{}\t0.01\t\\N",
}

// TestGateFindsOriginals loads the sampled rows into a table either as they are (masking
// that did not happen) or masked, and runs the gate on it: row by row when the key is unique,
// column by column when it is not, for plain, cast and json-path columns.
func TestGateFindsOriginals(t *testing.T) {
	rules, err := mask.ParseRules([]byte(`levels:
  full:
    public.g:
      id: keep
      email: {strategy: fake-email}
      doc: {json: {contact.phone: {strategy: fake-phone}}}
      amount: {strategy: noise}
      born: {strategy: shift}
`))
	if err != nil {
		t.Fatal(err)
	}
	p, _ := rules.Profile("full")
	cols := []string{"id", "email", "doc", "amount", "born"}
	table := mask.Table{Name: "public.g", Columns: []mask.Column{{Name: "id", Type: "integer"}, {Name: "email", Type: "text"},
		{Name: "doc", Type: "jsonb"}, {Name: "amount", Type: "numeric(10,2)"}, {Name: "born", Type: "date"}}}
	plan, err := p.Resolve([]mask.Table{table})
	if err != nil {
		t.Fatal(err)
	}
	m, _, err := plan.ForTable("public.g", cols, mask.Options{Key: []byte(testKey.Reveal())})
	if err != nil {
		t.Fatal(err)
	}
	masked := make([]string, len(gateRows))
	for i, r := range gateRows {
		out, err := m.MaskLine(nil, []byte(r))
		if err != nil {
			t.Fatal(err)
		}
		masked[i] = string(out)
	}
	tests := []struct {
		name   string
		unique bool
		rows   []string
		want   string // "" for a pass
	}{
		{"by key, masked", true, masked, ""},
		{"by column, masked", false, masked, ""},
		{"by key, email left", true, mixed(masked, gateRows, 1), "public.g.email still hold"},
		{"by column, email left", false, mixed(masked, gateRows, 1), "public.g.email still hold"},
		{"by key, a phone in the document left", true, mixed(masked, gateRows, 2), "public.g.doc still hold"},
		{"by column, a phone in the document left", false, mixed(masked, gateRows, 2), "public.g.doc still hold"},
		{"by key, noise left", true, mixed(masked, gateRows, 3), "public.g.amount still hold"},
		{"by column, noise is not compared", false, mixed(masked, gateRows, 3), ""},
		{"by key, dates left", true, mixed(masked, gateRows, 4), "public.g.born still hold"},
	}
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := testenv.Postgres(t)
			key := ""
			if tt.unique {
				key = " PRIMARY KEY"
			}
			execURL(t, u, "CREATE TABLE public.g (id int"+key+", email text, doc jsonb, amount numeric(10,2), born date)")
			conn, err := pgx.Connect(ctx, u)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			if _, err := conn.PgConn().CopyFrom(ctx, strings.NewReader(strings.Join(tt.rows, "\n")+"\n"), "COPY public.g FROM STDIN"); err != nil {
				t.Fatal(err)
			}
			s := newSampler(10, 0, m)
			for _, r := range gateRows {
				if err := s.offer([]byte(r)); err != nil {
					t.Fatal(err)
				}
			}
			var ss samples
			ss.add("public.g", "id", false, s)
			err = ss.gate(ctx, conn, "public.g")
			if tt.want == "" {
				if err != nil {
					t.Fatalf("gate: %v", err)
				}
				return
			}
			var f *Failure
			if !errors.As(err, &f) || !f.Permanent || !errors.Is(err, ErrGate) || !strings.Contains(f.Reason, tt.want) {
				t.Fatalf("gate = %v, want a permanent failure with %q", err, tt.want)
			}
			for _, v := range []string{"ann@", "415-555", "10.50", "1980"} {
				if strings.Contains(f.Reason, v) {
					t.Fatalf("the reason quotes a value: %q", f.Reason)
				}
			}
		})
	}
}

// mixed returns the masked rows with field col of each taken from the original rows.
func mixed(masked, orig []string, col int) []string {
	out := make([]string, len(masked))
	for i := range masked {
		m, o := strings.Split(masked[i], "\t"), strings.Split(orig[i], "\t")
		m[col] = o[col]
		out[i] = strings.Join(m, "\t")
	}
	return out
}
