package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/clonebot/clonebot/agent/mask"
	"github.com/clonebot/clonebot/app"
	"github.com/clonebot/clonebot/approvals"
)

const policyUsage = `usage: clonebot policy validate <policy.yaml> [-rules masking.yaml]
       clonebot policy validate -config clonebot.yaml
  Check a policy file, and with -rules the masking rules with it (every masking level a tier
  uses must be defined); with -config, the policy and masking rules a config names, and that
  its backends serve the policy's sources. Errors name the file, the field and its line.
`

// runPolicy implements `clonebot policy validate`: what serve and agent check of their files
// at start, without starting.
func runPolicy(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "validate" {
		if len(args) > 0 && (args[len(args)-1] == "-h" || args[len(args)-1] == "-help" || args[len(args)-1] == "--help") {
			fmt.Fprint(stdout, policyUsage)
			return nil
		}
		fmt.Fprint(stderr, policyUsage)
		return errUsage
	}
	fs := flag.NewFlagSet("policy validate", flag.ContinueOnError)
	configPath := fs.String("config", "", "a config file: check the policy and masking rules it names, and its backends against the policy")
	rulesPath := fs.String("rules", "", "a masking rules file: check it, and that it defines every masking level the policy's tiers use")
	pos, err := parseArgs(fs, policyUsage, args[1:], stdout, stderr)
	if err != nil {
		return err
	}
	switch {
	case *configPath != "" && (len(pos) > 0 || *rulesPath != ""):
		printFlags(fs, policyUsage, stderr)
		return usagef("policy validate: -config names the policy and the masking rules; give neither a policy file nor -rules with it")
	case *configPath == "" && len(pos) != 1:
		fmt.Fprint(stderr, policyUsage)
		return errUsage
	}
	// step 1: the files, each checked as serve and agent check it.
	var (
		policyPath = *configPath
		p          *approvals.Policy
		rules      *mask.Rules
		rulesName  = *rulesPath
	)
	if *configPath != "" {
		cfg, err := app.LoadConfig(*configPath, os.Getenv)
		if err != nil {
			return err
		}
		if p, err = cfg.ReadPolicy(); err != nil {
			return err
		}
		if rules, err = cfg.ReadRules(p); err != nil {
			return err
		}
		policyPath, rulesName = cfg.PolicyPath(), cfg.RulesPath()
	} else {
		policyPath = pos[0]
		if p, err = app.ReadPolicyFile(policyPath); err != nil {
			return err
		}
		if rulesName != "" {
			if rules, err = app.ReadRules(rulesName, p); err != nil {
				return err
			}
		}
	}
	// step 2: what was checked.
	fmt.Fprintf(stdout, "%s: ok — sources: %s; tiers: %s\n", policyPath,
		strings.Join(p.SourceNames(), ", "), strings.Join(p.TierNames(), ", "))
	switch {
	case rules != nil && rulesName != "":
		fmt.Fprintf(stdout, "%s: ok — levels: %s; every masking level the tiers use is defined\n", rulesName, strings.Join(rules.Levels(), ", "))
	case rules != nil:
		fmt.Fprintln(stdout, "masking rules: none named, and every tier uses masking none")
	}
	return nil
}
