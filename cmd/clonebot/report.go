package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/clonebot/clonebot/audit"
	"github.com/clonebot/clonebot/bot/command"
)

// runReport implements `clonebot report [30d] [-user U123]`: the governance report computed from
// the audit log, for everyone, or as the given Slack user would see it (their own requests).
func runReport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	window := command.DefaultReportWindow
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		d, err := command.ParseDuration(args[0])
		if err != nil {
			return usagef("report window: %v", err)
		}
		window, args = d, args[1:]
	}
	a := newAuditCommand("report", stdout, stderr)
	a.usage = "usage: clonebot report [30d] [-user U123] [-config clonebot.yaml | -policy policy.yaml]"
	user := a.fs.String("user", "", "show the report as this Slack user sees it (their own requests); default: everyone")
	if err := a.parse(ctx, args); err != nil {
		return err
	}
	defer a.close()
	scope := audit.Everyone
	if *user != "" {
		scope = audit.Scope{User: *user}
	}
	r, err := audit.Reports{History: a.store, Policy: a.policy}.Build(ctx, a.now, window, scope)
	if err != nil {
		return err
	}
	for _, line := range r.Lines() {
		fmt.Fprintln(stdout, line)
	}
	return nil
}
