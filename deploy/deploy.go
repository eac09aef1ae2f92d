// Package deploy holds what clonebot is deployed with: the example config, policy and masking
// rules, the Slack app manifests (Socket Mode, HTTP mode), the IAM policies (bot, agent) and the
// Kubernetes manifests (kubernetes/: a Kustomize base, overlays and components). The example
// policy and masking rules are embedded, so the demo runs on exactly the files operators start
// from. internal/deploycheck tests that all of it builds, is admitted and starts.
package deploy

import _ "embed"

// PolicyExample is policy.example.yaml: the tiers and rules of PRODUCT.md.
//
//go:embed policy.example.yaml
var PolicyExample []byte

// MaskingExample is masking.example.yaml: masking rules for the sample schema.
//
//go:embed masking.example.yaml
var MaskingExample []byte
