package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/clonebot/clonebot/app"
)

// runPolicy implements `clonebot policy validate <file>`.
func runPolicy(args []string, stdout io.Writer) error {
	if len(args) != 2 || args[0] != "validate" {
		return fmt.Errorf("%w: clonebot policy validate <policy.yaml>", errUsage)
	}
	p, err := app.ReadPolicyFile(args[1])
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: ok — sources: %s; tiers: %s\n", args[1],
		strings.Join(p.SourceNames(), ", "), strings.Join(p.TierNames(), ", "))
	return nil
}
