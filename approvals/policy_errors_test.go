package approvals

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/clonebot/clonebot/deploy"
	"github.com/clonebot/clonebot/internal/golden"
)

// TestPolicyErrorsGolden keeps every kind of policy error as its author reads it in
// testdata/policy_errors.golden (go test -update rewrites it): the field's path, its line,
// what is allowed, and never a Go type name (issue 14, item 4).
func TestPolicyErrorsGolden(t *testing.T) {
	example := string(deploy.PolicyExample)
	edit := func(old, new string) string {
		t.Helper()
		if !strings.Contains(example, old) {
			t.Fatalf("the example policy has no %q", old)
		}
		return strings.Replace(example, old, new, 1)
	}
	tests := []struct{ name, give string }{
		{"an empty file", ""},
		{"only comments", "# policy: to be written\n"},
		{"a typo in a tier's key", edit("    masking: full\n", "    masknig: full\n")},
		{"a key that is nowhere near one", edit("admins: [group:platform]", "admins: [group:platform]\nowners: [group:platform]")},
		{"a typo in a top-level key", edit("incident_channels:", "incident_channel:")},
		{"a duration in words", edit("    default_ttl: 8h\n    max_ttl: 24h", "    default_ttl: 8 hours\n    max_ttl: 24h")},
		{"a duration without a unit", edit("pending_expiry: 1h", "pending_expiry: 60")},
		{"a bad duration in a list", edit("ttl_warnings: [60m, 10m]", "ttl_warnings: [60m, soon]")},
		{"a list where a mapping goes", edit("quota: {per_user: 3, per_team: 20}", "quota: [3, 20]")},
		{"one value where a list goes", edit("requesters: [group:developers, service:nightly-tests]", "requesters: group:developers")},
		{"a quota that is not a number", edit("quota: {per_user: 3, per_team: 20}", "quota: {per_user: three, per_team: 20}")},
		{"a key given twice", edit("    masking: full\n", "    masking: full\n    masking: partial\n")},
		{"max_ttl below default_ttl", edit("    max_ttl: 24h", "    max_ttl: 4h")},
		{"an approval mode that does not exist", edit("approval: single", "approval: one")},
		{"a confirm that does not exist", edit("confirm: modal ", "confirm: popup ")},
		{"a principal without its kind", edit("approvers: [group:oncall]", "approvers: [oncall]")},
		{"misindented key", edit("    approval: auto\n", "   approval: auto\n")},
		{"an unclosed quote", edit(`end: "19:00"`, `end: "19:00`)},
		{"a tab", edit("    approval: auto\n", "\tapproval: auto\n")},
		{"a second document", example + "---\ndefault_tier: dev\n"},
	}
	var out bytes.Buffer
	for _, tt := range tests {
		_, err := ParsePolicy([]byte(tt.give))
		var ve *ValidationError
		if !errors.As(err, &ve) {
			t.Errorf("%s: %v (%T), want a *ValidationError", tt.name, err, err)
			continue
		}
		for _, goName := range []string{"approvals.", "time.Duration", "not found in type", "!!", "construct", "EOF"} {
			if strings.Contains(err.Error(), goName) {
				t.Errorf("%s: %q shows the decoder's words %q", tt.name, err, goName)
			}
		}
		fmt.Fprintf(&out, "# %s\n%s\n\n", tt.name, err)
	}
	golden.Check(t, "policy_errors.golden", out.Bytes())
}

// TestCheckMaskLevels checks the policy against the levels the masking rules define: a tier
// whose level has no rules is named with its line, and none needs none (issue 13, item 2).
func TestCheckMaskLevels(t *testing.T) {
	p, err := ParsePolicyFile("policy.yaml", deploy.PolicyExample)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		levels []string
		want   string // "" for no error
	}{
		{"every level defined", []string{"full", "none", "partial"}, ""},
		{"none left to its default", []string{"full", "partial"}, ""},
		{"partial missing", []string{"full", "none"},
			"policy policy.yaml: tiers.staging.masking (line 49): masking level partial has no rules: m.yaml defines full, none"},
		{"no rules at all", nil, "policy policy.yaml: tiers.dev.masking (line 42): masking level full has no rules: m.yaml defines full, none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := p.CheckMaskLevels(tt.levels, "m.yaml defines full, none")
			var ve *ValidationError
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("err = %v, want none", err)
			case tt.want != "" && (!errors.As(err, &ve) || err.Error() != tt.want):
				t.Errorf("err = %v, want a *ValidationError %q", err, tt.want)
			}
		})
	}
}
