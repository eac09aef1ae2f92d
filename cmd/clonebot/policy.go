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
	p, err := readPolicy(args[1])
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: ok — sources: %s; tiers: %s\n", args[1],
		strings.Join(p.SourceNames(), ", "), strings.Join(p.TierNames(), ", "))
	return nil
}

// readPolicy reads and checks the policy file at path; an error names the file.
func readPolicy(path string) (*approvals.Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read policy: %w", err)
	}
	p, err := approvals.ParsePolicy(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}
