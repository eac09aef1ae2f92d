package bot

import (
	"testing"

	"github.com/clonebot/clonebot/bot/command"
)

// TestEveryCommandRuns keeps the runners in step with command's table, both ways: every kind
// but the form has a runner, and every runner is of a kind in the table.
func TestEveryCommandRuns(t *testing.T) {
	kinds := map[command.Kind]bool{}
	for _, k := range command.Kinds() {
		kinds[k] = true
		if _, ok := runners[k]; ok == (k == command.KindModal) {
			t.Errorf("kind %s: has a runner %t, want %t", k, ok, k != command.KindModal)
		}
	}
	for k := range runners {
		if !kinds[k] {
			t.Errorf("runner of %s, a kind not in command's table", k)
		}
	}
	if len(kinds) < 10 {
		t.Fatalf("command's table has %d kinds", len(kinds))
	}
}
