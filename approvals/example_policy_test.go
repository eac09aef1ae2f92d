package approvals

import "testing"

func TestExamplePolicyIsValid(t *testing.T) {
	p, err := LoadPolicy("../deploy/policy.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got := p.TierNames(); len(got) != 4 {
		t.Fatalf("tiers %v, want dev, staging, debug, breakglass", got)
	}
}
