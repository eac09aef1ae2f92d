// Command clonebot is the Slack bot, the restore agent and their tools in one binary:
//
//	clonebot serve   -config clonebot.yaml   the Slack bot (Socket Mode or HTTP)
//	clonebot agent   -config clonebot.yaml   a restore agent reading the job stream
//	clonebot policy  validate policy.yaml    check a policy file (-rules, -config: and masking rules)
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
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// cli runs clonebot with args and returns its exit status: 0; 1 when the command failed; 2
// for a command line it cannot run, whose usage has been printed. -h prints a command's usage
// and flags to stdout, and is 0.
func cli(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	err := run(ctx, args, stdout, stderr)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		if err != errUsage { // the bare errUsage says nothing the printed usage does not
			fmt.Fprintln(stderr, "clonebot:", err)
		}
		return 2
	}
	fmt.Fprintln(stderr, "clonebot:", err)
	return 1
}

// errUsage is matched by every usage error: a command line clonebot cannot run.
var errUsage = errors.New("usage")

// usageError is a usage error that says what was wrong with the command line.
type usageError struct{ msg string }

func (e usageError) Error() string        { return e.msg }
func (e usageError) Is(target error) bool { return target == errUsage }

// usagef returns a usage error.
func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// parseFlags parses a command's flags, then refuses leftover arguments. -h prints usage (the
// command's synopsis) and the flags to stdout and returns flag.ErrHelp (exit 0); a bad flag
// prints them to stderr and is a usage error (exit 2).
func parseFlags(fs *flag.FlagSet, usage string, args []string, stdout, stderr io.Writer) error {
	pos, err := parseArgs(fs, usage, args, stdout, stderr)
	if err == nil && len(pos) > 0 {
		printFlags(fs, usage, stderr)
		return usagef("%s: unexpected argument %q", fs.Name(), pos[0])
	}
	return err
}

// parseArgs is parseFlags for a command that takes arguments besides its flags, which may
// come before, between or after them: it returns those arguments.
func parseArgs(fs *flag.FlagSet, usage string, args []string, stdout, stderr io.Writer) ([]string, error) {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {} // printed below, to the right stream
	var pos []string
	for {
		err := fs.Parse(args)
		switch {
		case errors.Is(err, flag.ErrHelp):
			printFlags(fs, usage, stdout)
			return nil, flag.ErrHelp
		case err != nil:
			printFlags(fs, usage, stderr)
			return nil, usagef("%s: %v", fs.Name(), err)
		case fs.NArg() == 0:
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func printFlags(fs *flag.FlagSet, usage string, w io.Writer) {
	fmt.Fprint(w, strings.TrimSuffix(usage, "\n")+"\n\nflags:\n")
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

const usage = `clonebot: governed, temporary, masked copies of production databases, from Slack.

usage:
  clonebot serve -config clonebot.yaml     the Slack bot and the lifecycle loop
  clonebot agent -config clonebot.yaml     a restore agent: takes jobs from the Redis Stream
  clonebot policy validate <policy.yaml> [-rules masking.yaml] | -config clonebot.yaml
                                           check a policy (and masking rules); names the bad field and line
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
		return runPolicy(args[1:], stdout, stderr)
	case "serve":
		return runServe(ctx, args[1:], stdout, stderr)
	case "agent":
		return runAgent(ctx, args[1:], stdout, stderr)
	case "demo":
		return runDemo(ctx, args[1:], stdout, stderr)
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
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return usagef("unknown command %q", args[0])
}
