// Package deploy holds what clonebot is deployed with: the example config, policy and masking
// rules, the Slack app manifest, the IAM policy and the Kubernetes manifests. The example policy
// and masking rules are embedded, so the demo runs on exactly the files operators start from.
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
