package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/clonebot/clonebot/app"
	"github.com/clonebot/clonebot/approvals"
	"github.com/clonebot/clonebot/audit"
	"github.com/clonebot/clonebot/audit/pgstore"
	"github.com/clonebot/clonebot/bot/command"
)

const envAuditURL = app.EnvAuditURL

const auditUsage = `usage:
  clonebot audit verify [--anchor seq:hash]...   walk the chain; name the first row tampered with
  clonebot audit anchor                          print the chain head (seq:hash) to keep outside the database
  clonebot audit export --since 90d [--until 30d] [--actor U..] [--tier t] [--action a] [--source s] --format csv|json
  clonebot audit unmasked [--since 90d]          who had unmasked production data, and for how long
  clonebot audit breakglass [--since quarter]    every break-glass: reason, review, reviewer
  clonebot audit approvals [--since 30d]         who approved (or denied) what
  clonebot audit destroyed [--since 30d]         who destroyed what, and when
  clonebot audit alive                           every clone still alive, and its owner
every command also takes -config clonebot.yaml (audit.url and the policy), or reads
CLONEBOT_AUDIT_DATABASE_URL and -policy policy.yaml; times are UTC; --since/--until take 90d, 12h,
a date (2026-01-31) or an RFC 3339 time.
`

// auditCommand is the setup every audit command shares: flags, the log, the policy's tiers.
type auditCommand struct {
	fs             *flag.FlagSet
	usage          string // printed before the flags
	stdout, stderr io.Writer
	configPath     string
	policyPath     string
	now            time.Time
	store          *pgstore.Store
	policy         *approvals.Policy // nil without one
}

func newAuditCommand(name string, stdout, stderr io.Writer) *auditCommand {
	a := &auditCommand{fs: flag.NewFlagSet(name, flag.ContinueOnError), usage: auditUsage, stdout: stdout, stderr: stderr, now: time.Now().UTC()}
	a.fs.StringVar(&a.configPath, "config", "", "config file (audit.url, policy)")
	a.fs.StringVar(&a.policyPath, "policy", "", "policy file (tiers' masking, break-glass review_within), when no config names one")
	return a
}

// parseFlags reads the flags; no positional argument is left.
func (a *auditCommand) parseFlags(args []string) error {
	return parseFlags(a.fs, a.usage, args, a.stdout, a.stderr)
}

// open opens the audit log (applying its migrations) and the policy.
func (a *auditCommand) open(ctx context.Context) error {
	url := os.Getenv(envAuditURL)
	if a.configPath != "" {
		c, err := app.LoadConfig(a.configPath, os.Getenv)
		if err != nil {
			return err
		}
		url = c.Audit.URL
		if a.policyPath == "" {
			a.policyPath = c.PolicyPath()
		}
	}
	if url == "" {
		return fmt.Errorf("no audit database: set audit.url in the config (-config) or %s", envAuditURL)
	}
	if a.policyPath != "" {
		p, err := app.ReadPolicyFile(a.policyPath)
		if err != nil {
			return err
		}
		a.policy = p
	}
	s, err := pgstore.Open(ctx, url)
	if err != nil {
		return err
	}
	a.store = s
	return nil
}

// parse is parseFlags then open.
func (a *auditCommand) parse(ctx context.Context, args []string) error {
	if err := a.parseFlags(args); err != nil {
		return err
	}
	return a.open(ctx)
}

func (a *auditCommand) close() {
	if a.store != nil {
		a.store.Close()
	}
}

// tierMasking is each policy tier's masking (audit.TierMasking).
func (a *auditCommand) tierMasking() map[string]string { return audit.TierMasking(a.policy) }

// reviewWithin is the policy's break-glass review deadline (audit.ReviewWithin).
func (a *auditCommand) reviewWithin() time.Duration { return audit.ReviewWithin(a.policy) }

// when reads --since/--until: a duration back from now (90d, 12h), "quarter" (its first day),
// a date or an RFC 3339 time.
func when(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if s == "quarter" {
		return audit.QuarterStart(now), nil
	}
	if d, err := command.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, usagef("%q is not a duration back from now (90d, 12h), quarter, a date (2006-01-02) or an RFC 3339 time", s)
}

// runAudit implements `clonebot audit ...`.
func runAudit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, auditUsage)
		return errUsage
	}
	cmds := map[string]func(context.Context, []string, io.Writer, io.Writer) error{
		"verify": auditVerify, "anchor": auditAnchor, "export": auditExport, "unmasked": auditUnmasked,
		"breakglass": auditBreakGlass, "approvals": auditApprovals, "destroyed": auditDestroyed, "alive": auditAlive,
	}
	if args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stdout, auditUsage)
		return nil
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		fmt.Fprint(stderr, auditUsage)
		return usagef("unknown audit command %q", args[0])
	}
	return cmd(ctx, args[1:], stdout, stderr)
}

// anchorFlags collects repeated --anchor seq:hash flags.
type anchorFlags []audit.Head

func (f *anchorFlags) String() string { return fmt.Sprint(*f) }
func (f *anchorFlags) Set(s string) error {
	h, err := audit.ParseAnchor(s)
	if err != nil {
		return err
	}
	*f = append(*f, h)
	return nil
}

func auditVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	a := newAuditCommand("audit verify", stdout, stderr)
	var anchors anchorFlags
	a.fs.Var(&anchors, "anchor", "a published head, seq:hash (repeatable)")
	if err := a.parse(ctx, args); err != nil {
		return err
	}
	defer a.close()
	v, err := audit.Verify(ctx, a.store, anchors...)
	if err != nil {
		if errors.Is(err, audit.ErrTampered) {
			fmt.Fprintf(stdout, "audit chain TAMPERED: %v\n", strings.TrimPrefix(err.Error(), "audit chain: "))
		}
		return err
	}
	fmt.Fprintf(stdout, "audit chain verified: %d rows, head %s, %d anchor(s) checked\n", v.Rows, v.Head, v.Anchors)
	if len(anchors) == 0 {
		fmt.Fprintln(stdout, "no anchor given: a cut-off tail is visible only against one (clonebot audit anchor, or the security channel's daily post)")
	}
	return nil
}

func auditAnchor(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	a := newAuditCommand("audit anchor", stdout, stderr)
	if err := a.parse(ctx, args); err != nil {
		return err
	}
	defer a.close()
	h, err := a.store.Head(ctx)
	if err != nil {
		return err
	}
	if h.Seq == 0 {
		return audit.ErrEmptyChain
	}
	fmt.Fprintf(stdout, "%s\n", h)
	fmt.Fprintf(stderr, "chain head at %s; keep it outside the database and check with: clonebot audit verify --anchor %s\n",
		a.now.Format(time.RFC3339), h)
	return nil
}

func auditExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	a := newAuditCommand("audit export", stdout, stderr)
	var since, until, format string
	var f audit.Filter
	a.fs.StringVar(&since, "since", "", "from (90d, a date, an RFC 3339 time)")
	a.fs.StringVar(&until, "until", "", "to, exclusive")
	a.fs.StringVar(&f.Actor, "actor", "", "Slack user ID, clonebot, or apikey:<id>")
	a.fs.StringVar(&f.Tier, "tier", "", "tier")
	a.fs.StringVar(&f.Action, "action", "", "action (requested, voted, approved, ready, destroyed, reviewed, …)")
	a.fs.StringVar(&f.Source, "source", "", "source database")
	a.fs.StringVar(&format, "format", "", "csv or json")
	if err := a.parseFlags(args); err != nil {
		return err
	}
	var err error
	if f.Since, err = when(since, a.now); err != nil {
		return err
	}
	if f.Until, err = when(until, a.now); err != nil {
		return err
	}
	if !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return usagef("--since must be before --until")
	}
	w, err := audit.NewRecordWriter(format, stdout)
	if err != nil {
		return usagef("--format: %v", err)
	}
	if err := a.open(ctx); err != nil {
		return err
	}
	defer a.close()
	n, err := audit.ExportTo(ctx, a.store, f, w)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "%d event(s) exported\n", n)
	return nil
}

// answer runs one of the auditor's questions over the history since --since (default def).
func answer(ctx context.Context, name, def string, args []string, stdout, stderr io.Writer,
	show func(a *auditCommand, clones []*audit.Clone, since time.Time) error) error {
	a := newAuditCommand("audit "+name, stdout, stderr)
	var sinceText string
	if def != "" {
		a.fs.StringVar(&sinceText, "since", def, "from (90d, quarter, a date, an RFC 3339 time)")
	}
	if err := a.parseFlags(args); err != nil {
		return err
	}
	since, err := when(sinceText, a.now)
	if err != nil {
		return err
	}
	if err := a.open(ctx); err != nil {
		return err
	}
	defer a.close()
	clones, err := audit.LoadClones(ctx, a.store, since, a.tierMasking())
	if err != nil {
		return err
	}
	return show(a, clones, since)
}

func auditUnmasked(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return answer(ctx, "unmasked", "90d", args, stdout, stderr, func(a *auditCommand, clones []*audit.Clone, since time.Time) error {
		fmt.Fprintf(stdout, "Unmasked production data since %s (UTC):\n", since.Format("2006-01-02 15:04"))
		return audit.WriteUnmasked(stdout, audit.UnmaskedAccess(clones, since, a.now, audit.Everyone), a.now)
	})
}

func auditBreakGlass(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return answer(ctx, "breakglass", "quarter", args, stdout, stderr, func(a *auditCommand, clones []*audit.Clone, since time.Time) error {
		fmt.Fprintf(stdout, "Break-glass since %s (UTC):\n", since.Format("2006-01-02 15:04"))
		return audit.WriteBreakGlass(stdout, audit.BreakGlassSince(clones, since, a.now, audit.Everyone), a.now, a.reviewWithin())
	})
}

func auditApprovals(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return answer(ctx, "approvals", "30d", args, stdout, stderr, func(a *auditCommand, clones []*audit.Clone, since time.Time) error {
		fmt.Fprintf(stdout, "Approvals and denials since %s (UTC):\n", since.Format("2006-01-02 15:04"))
		return audit.WriteApprovals(stdout, audit.Approvals(clones, since, a.now, audit.Everyone))
	})
}

func auditDestroyed(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return answer(ctx, "destroyed", "30d", args, stdout, stderr, func(a *auditCommand, clones []*audit.Clone, since time.Time) error {
		fmt.Fprintf(stdout, "Clones destroyed since %s (UTC):\n", since.Format("2006-01-02 15:04"))
		return audit.WriteDestroyed(stdout, audit.Destroyed(clones, since, a.now, audit.Everyone))
	})
}

func auditAlive(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return answer(ctx, "alive", "", args, stdout, stderr, func(a *auditCommand, clones []*audit.Clone, _ time.Time) error {
		fmt.Fprintf(stdout, "Clones alive at %s (UTC):\n", a.now.Format("2006-01-02 15:04"))
		return audit.WriteAlive(stdout, audit.Alive(clones, audit.Everyone), a.now)
	})
}
