package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/clonebot/clonebot/approvals"
)

// runPolicy implements `clonebot policy validate <file>`.
func runPolicy(args []string, stdout io.Writer) error {
	if len(args) != 2 || args[0] != "validate" {
		return fmt.Errorf("%w: clonebot policy validate <policy.yaml>", errUsage)
	}
	data, err := os.ReadFile(args[1])
	if err != nil {
		return fmt.Errorf("read policy: %w", err)
	}
	p, err := approvals.ParsePolicy(data)
	if err != nil {
		return fmt.Errorf("%s: %w", args[1], err)
	}
	fmt.Fprintf(stdout, "%s: ok — sources: %s; tiers: %s\n", args[1],
		strings.Join(p.SourceNames(), ", "), strings.Join(p.TierNames(), ", "))
	return nil
}
