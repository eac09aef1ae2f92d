package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/clonebot/clonebot/approvals"
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
	p, err := approvals.ParsePolicyFile(path, data)
	if err != nil {
		return nil, err
	}
	return p, nil
}
