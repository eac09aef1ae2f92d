package app

import (
	"fmt"
	"strings"

	"github.com/clonebot/clonebot/agent/mask"
	"github.com/clonebot/clonebot/approvals"
)

// ReadRules reads the masking rules file at path and checks the policy against it: every
// masking level a tier uses, but none, must be defined. With no path, only a policy whose
// tiers all use none passes, with rules that define none. An error names the rules file and
// the key and line of the problem, or the policy file and the tier's masking key.
func ReadRules(path string, p *approvals.Policy) (*mask.Rules, error) {
	if path == "" {
		if err := p.CheckMaskLevels(nil, "the config names no masking rules file (masking.rules)"); err != nil {
			return nil, err
		}
		return mask.EmptyRules(mask.LevelNone), nil
	}
	rules, err := mask.LoadRules(path)
	if err != nil {
		return nil, err
	}
	if err := CheckRules(rules, path, p); err != nil {
		return nil, err
	}
	return rules, nil
}

// CheckRules checks the policy against masking rules read from name.
func CheckRules(rules *mask.Rules, name string, p *approvals.Policy) error {
	return p.CheckMaskLevels(rules.Levels(), fmt.Sprintf("%s defines %s", name, strings.Join(rules.Levels(), ", ")))
}

// ReadRules reads the masking rules the config names and checks the policy against them.
func (c *Config) ReadRules(p *approvals.Policy) (*mask.Rules, error) {
	return ReadRules(c.RulesPath(), p)
}
