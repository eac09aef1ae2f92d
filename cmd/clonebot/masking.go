package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/clonebot/clonebot/agent"
	"github.com/clonebot/clonebot/agent/mask"
)

// runMasking implements `clonebot masking check <backup> [-rules f] [-level l] [-sample n]`:
// the coverage of every column of the backup at a level, what the detectors find in sampled
// values, and suggested rules, without any database. It fails when a restore at that level
// would be refused.
func runMasking(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "check" {
		return fmt.Errorf("%w: clonebot masking check <backup> [-rules masking.yaml] [-level full] [-sample 1000]", errUsage)
	}
	fs := flag.NewFlagSet("masking check", flag.ContinueOnError)
	rulesPath := fs.String("rules", "", "masking rules file; without one, every column of a masked level is unclassified")
	level := fs.String("level", "full", "masking level to check")
	sample := fs.Int("sample", 1000, "rows sampled per table (uniformly, each table read whole) for the detectors")
	pos, err := parseInterleaved(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) != 1 || *sample < 1 {
		return fmt.Errorf("%w: clonebot masking check <backup> [-rules masking.yaml] [-level full] [-sample 1000]", errUsage)
	}
	rules := mask.EmptyRules(*level)
	if *rulesPath != "" {
		if rules, err = mask.LoadRules(*rulesPath); err != nil {
			return err
		}
	}
	c, err := agent.CheckBackup(ctx, pos[0], rules, *level, *sample)
	if err != nil {
		return err
	}
	if err := c.Report.WriteText(stdout); err != nil {
		return err
	}
	if c.LargeObjects > 0 {
		fmt.Fprintf(stdout, "\nlarge objects: %d (level %s: large_objects: %s)\n", c.LargeObjects, *level, c.LargeObjectPolicy)
	}
	fmt.Fprintln(stdout)
	if err := c.Report.WriteSuggestions(stdout); err != nil {
		return err
	}
	if c.Refusal != nil {
		var f *agent.Failure
		reason := c.Refusal.Error()
		if errors.As(c.Refusal, &f) {
			reason = f.Reason
		}
		return fmt.Errorf("a restore at level %s would be refused: %s", *level, reason)
	}
	fmt.Fprintf(stdout, "level %s: a restore would go ahead\n", *level)
	return nil
}

// parseInterleaved parses flags that may come before, between or after positional arguments
// (clonebot restore prod.dump -target ...), and returns the positional ones.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, fmt.Errorf("%w: %v", errUsage, err)
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}
