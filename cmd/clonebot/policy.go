package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/clonebot/clonebot/app"
)

const policyUsage = "usage: clonebot policy validate <policy.yaml>   check a policy file; names the bad field and line\n"

// runPolicy implements `clonebot policy validate <file>`.
func runPolicy(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && (args[len(args)-1] == "-h" || args[len(args)-1] == "-help" || args[len(args)-1] == "--help") {
		fmt.Fprint(stdout, policyUsage)
		return nil
	}
	if len(args) != 2 || args[0] != "validate" {
		fmt.Fprint(stderr, policyUsage)
		return errUsage
	}
	p, err := app.ReadPolicyFile(args[1])
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: ok — sources: %s; tiers: %s\n", args[1],
		strings.Join(p.SourceNames(), ", "), strings.Join(p.TierNames(), ", "))
	return nil
}
