package bot

import (
	"context"

	"github.com/clonebot/clonebot/bot/command"
	"github.com/clonebot/clonebot/handlers"
)

// runner calls the use case of one kind of command with the command's input.
type runner func(ctx context.Context, svc *handlers.Service, a handlers.Actor, c command.Command) (handlers.Reply, error)

// runners are what the commands of command's table do, by Kind: every kind has one but the
// form (command.KindModal), which Command opens itself. TestEveryCommandRuns keeps the two
// tables in step.
var runners = map[command.Kind]runner{
	command.KindRequest: withCloneInput((*handlers.Service).RequestClone),
	command.KindExplain: withCloneInput((*handlers.Service).Explain),
	command.KindBackups: func(ctx context.Context, svc *handlers.Service, a handlers.Actor, c command.Command) (handlers.Reply, error) {
		return svc.Backups(ctx, a, c.Source, c.Month)
	},
	command.KindList: func(ctx context.Context, svc *handlers.Service, a handlers.Actor, c command.Command) (handlers.Reply, error) {
		return svc.List(ctx, a, c.All)
	},
	command.KindStatus: withID((*handlers.Service).Status),
	command.KindExtend: func(ctx context.Context, svc *handlers.Service, a handlers.Actor, c command.Command) (handlers.Reply, error) {
		return svc.Extend(ctx, a, c.ID, c.Duration)
	},
	command.KindDestroy: withID((*handlers.Service).Destroy),
	command.KindCancel:  withID((*handlers.Service).Cancel),
	command.KindBreakGlass: func(ctx context.Context, svc *handlers.Service, a handlers.Actor, c command.Command) (handlers.Reply, error) {
		return svc.BreakGlass(ctx, a, c.Source, c.Reason)
	},
	command.KindReport: func(ctx context.Context, svc *handlers.Service, a handlers.Actor, c command.Command) (handlers.Reply, error) {
		return svc.Report(ctx, a, c.Window)
	},
	command.KindDestroyAll: func(ctx context.Context, svc *handlers.Service, a handlers.Actor, _ command.Command) (handlers.Reply, error) {
		return svc.DestroyAll(ctx, a)
	},
	command.KindGolden: func(ctx context.Context, svc *handlers.Service, a handlers.Actor, _ command.Command) (handlers.Reply, error) {
		return svc.GoldenCopies(ctx, a)
	},
	command.KindRefresh: func(ctx context.Context, svc *handlers.Service, a handlers.Actor, c command.Command) (handlers.Reply, error) {
		return svc.Refresh(ctx, a, c.Source, c.Level)
	},
	command.KindHelp: func(ctx context.Context, svc *handlers.Service, a handlers.Actor, _ command.Command) (handlers.Reply, error) {
		return svc.Help(ctx, a, command.Help())
	},
}

// withCloneInput runs a use case that takes a clone request (typed, or from the form).
func withCloneInput(use func(*handlers.Service, context.Context, handlers.Actor, handlers.CloneInput) (handlers.Reply, error)) runner {
	return func(ctx context.Context, svc *handlers.Service, a handlers.Actor, c command.Command) (handlers.Reply, error) {
		return use(svc, ctx, a, handlers.CloneInput{Source: c.Source, Tier: c.Tier, TTL: c.TTL, Reason: c.Reason,
			When: handlers.When{Latest: c.Date.Latest, At: c.Date.At, PointInTime: c.Date.PointInTime}})
	}
}

// withID runs a use case that takes a request id.
func withID(use func(*handlers.Service, context.Context, handlers.Actor, string) (handlers.Reply, error)) runner {
	return func(ctx context.Context, svc *handlers.Service, a handlers.Actor, c command.Command) (handlers.Reply, error) {
		return use(svc, ctx, a, c.ID)
	}
}
