package agent

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/clonebot/clonebot/agent/mask"
	"github.com/clonebot/clonebot/internal/testenv"
)

// TestCheckBackup reads both formats without a database: the partitioned parent is judged
// on its partitions' rows, the rules on the parents cover the children, and what a restore
// would refuse is said.
func TestCheckBackup(t *testing.T) {
	src := testenv.Postgres(t)
	execURL(t, src, parentsSchema+loSchema)
	rules, err := mask.ParseRules([]byte(parentsRules))
	if err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"-Fc", "-Fp"} {
		t.Run(format, func(t *testing.T) {
			file := dump(t, src, "prod"+format, format)
			c, err := CheckBackup(context.Background(), file, rules, "full", 50)
			if err != nil {
				t.Fatal(err)
			}
			// What /clone explain reports: the schema alone, counted.
			tables, err := BackupTables(context.Background(), file)
			if err != nil {
				t.Fatal(err)
			}
			ended, cancel := context.WithCancel(context.Background())
			cancel()
			if _, err := BackupTables(ended, file); !errors.Is(err, context.Canceled) {
				t.Errorf("BackupTables after its context ended: %v, want context.Canceled", err)
			}
			if s, err := rules.Summarize("full", tables); err != nil || s.Unclassified != 1 || s.Columns != c.Report.Summary.Columns || s.Tables != 6 {
				t.Errorf("Summarize = %+v, %v", s, err)
			}
			got := map[string]mask.ColumnReport{}
			for _, col := range c.Report.Columns {
				got[col.Table+"."+col.Column] = col
			}
			if c := got["public.cards.card_number"]; c.Treatment != mask.Masked || c.Sampled != 50 {
				t.Errorf("cards.card_number: %+v", c)
			}
			if c := got["public.staff.email"]; c.Treatment != mask.Masked || c.From != "public.people" {
				t.Errorf("staff.email: %+v", c)
			}
			if c := got["public.docs.card_number"]; c.Treatment != mask.Unclassified || c.Suggest != "{strategy: fake-card}" {
				t.Errorf("docs.card_number: %+v", c)
			}
			if c.LargeObjects != 1 || c.Refusal == nil || !strings.Contains(c.Refusal.Error(), "unclassified columns: public.docs.card_number") {
				t.Errorf("large objects %d, refusal %v", c.LargeObjects, c.Refusal)
			}
		})
	}
}
