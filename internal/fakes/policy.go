package fakes

import (
	_ "embed"

	"github.com/clonebot/clonebot/agent/mask"
	"github.com/clonebot/clonebot/approvals"
	"github.com/clonebot/clonebot/deploy"
)

//go:embed testdata/policy.yaml
var policyYAML []byte

// Policy returns the tests' policy (testdata/policy.yaml): sources prod (local, restore,
// team payments) and billing (aws, fast-clone); tiers dev (auto, full masking, quota 2 per
// user), staging (one lead or security), debug (an on-call peer and security or a manager) and
// breakglass; channels CREQ (requests) and CSEC (security); incident channels inc-*; admins
// group:platform; the service identity service:ci (group pipelines, team payments), which may
// request dev and staging.
func Policy() *approvals.Policy {
	p, err := approvals.ParsePolicy(policyYAML)
	if err != nil {
		panic("fakes: the test policy is invalid: " + err.Error())
	}
	return p
}

// Rules returns the masking rules of deploy/masking.example.yaml, which define every level
// Policy's tiers use (full, partial, none).
func Rules() *mask.Rules {
	r, err := mask.ParseRules(deploy.MaskingExample)
	if err != nil {
		panic("fakes: the example masking rules are invalid: " + err.Error())
	}
	return r
}
