// Command clonebot is the Slack bot, the restore agent and their tools in one binary:
//
//	clonebot serve   -config clonebot.yaml   the Slack bot (Socket Mode or HTTP)
//	clonebot agent   -config clonebot.yaml   a restore agent reading the job stream
//	clonebot policy  validate policy.yaml    check a policy file
//	clonebot audit   verify|export|…         the audit log: verify, anchor, export, the auditor's answers
//	clonebot report  [30d]                   the governance report from the audit log
//	clonebot masking check <backup>          every column's masking, suggested rules
//	clonebot restore <backup> -target url    one masked restore, without Redis or Slack
//	clonebot apikey  create|list|revoke      the REST API's keys
//	clonebot demo                            the whole flow on this machine
//	clonebot version                         the release and platform of this binary
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "clonebot:", err)
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

const usage = `clonebot: governed, temporary, masked copies of production databases, from Slack.

usage:
  clonebot serve -config clonebot.yaml     the Slack bot and the lifecycle loop
  clonebot agent -config clonebot.yaml     a restore agent: takes jobs from the Redis Stream
  clonebot policy validate <policy.yaml>   check a policy file; names the bad field and line
  clonebot audit <command>                 the audit log: verify, anchor, export, unmasked, breakglass, approvals, destroyed, alive
  clonebot report [30d]                    the governance report from the audit log
  clonebot masking check <backup> [-rules f] [-level l]
                                           every column's rule or "unclassified", suggested rules
  clonebot restore <backup> -target <postgres-url> [-rules f] [-level l] [-j n]
                                           the agent's masked restore, once, without Redis or Slack
  clonebot apikey create|list|revoke       the REST API's keys (shown once, stored as a hash)
  clonebot demo                            the whole flow on this machine (see README)
  clonebot version                         the release and platform of this binary
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	switch args[0] {
	case "policy":
		return runPolicy(args[1:], stdout)
	case "serve":
		return runServe(ctx, args[1:])
	case "agent":
		return runAgent(ctx, args[1:])
	case "demo":
		return runDemo(ctx, args[1:], stdout)
	case "version":
		return runVersion(stdout)
	case "audit":
		return runAudit(ctx, args[1:], stdout, stderr)
	case "report":
		return runReport(ctx, args[1:], stdout, stderr)
	case "masking":
		return runMasking(ctx, args[1:], stdout)
	case "restore":
		return runRestore(ctx, args[1:], stdout, stderr)
	case "apikey":
		return runAPIKey(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("%w: unknown command %q", errUsage, args[0])
}
