package bot_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clonebot/clonebot/bot/command"
	"github.com/clonebot/clonebot/bot/slackfake"
	"github.com/clonebot/clonebot/bot/transport"
)

// TestEveryCommandCallsItsUseCase types one command of every kind, in order, and checks the
// answer is its own use case's: a runner wired to the wrong use case answers something else.
func TestEveryCommandCallsItsUseCase(t *testing.T) {
	h := newHarness(t)
	srv := h.httpServer()
	var id string
	tests := []struct {
		kind             command.Kind
		user, text, want string // typed in #general; {id} is the request the first command makes
	}{
		{command.KindRequest, "UDEV", "prod latest tier=staging", "requested: prod as of"},
		{command.KindExplain, "UDEV", "explain prod latest", "Dry run for prod"},
		{command.KindBackups, "UDEV", "backups prod", "Backups of prod in the last 31 days"},
		{command.KindList, "UDEV", "list", "active clones and pending requests (1)"},
		{command.KindStatus, "UDEV", "status {id}", "{id}: pending"},
		{command.KindExtend, "UDEV", "extend {id} 2h", "only a ready clone can be extended"},
		{command.KindDestroy, "UDEV", "destroy {id}", "/clone cancel {id} withdraws it"},
		{command.KindCancel, "UDEV", "cancel {id}", "{id} is cancelled"},
		{command.KindBreakGlass, "UDEV", `breakglass prod reason="INC-42 down"`,
			"Break-glass works only in incident channels"},
		{command.KindReport, "UADMIN", "report 7d", "Governance report"},
		{command.KindDestroyAll, "UDEV", "destroy-all confirm", "Only admins can use the kill switch"},
		{command.KindGolden, "UDEV", "golden", "No golden copies are configured"},
		{command.KindRefresh, "UDEV", "refresh prod full", "Only admins can rebuild golden copies"},
		{command.KindHelp, "UDEV", "help", "clonebot makes temporary, masked copies"},
	}
	var typed []command.Kind
	for _, tt := range tests {
		withID := strings.NewReplacer("{id}", id)
		cmd := h.fake.SlashCommand(tt.user, "CGEN", withID.Replace(tt.text))
		h.post(srv.URL+transport.PathCommands, slackfake.CommandBody(cmd), time.Now(), signingSecret)
		mustContain(t, string(tt.kind)+"'s answer", jsonText(h.answer(cmd.ResponseURL)), withID.Replace(tt.want))
		if tt.kind == command.KindRequest {
			id = h.only().ID
		}
		typed = append(typed, tt.kind)
	}
	for _, k := range command.Kinds() {
		if k != command.KindModal && !slices.Contains(typed, k) {
			t.Errorf("no command of kind %s was typed", k)
		}
	}
}
