package approvals

import (
	"testing"

	"github.com/clonebot/clonebot/deploy"
)

func TestExamplePolicyIsValid(t *testing.T) {
	p, err := ParsePolicy(deploy.PolicyExample)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.TierNames(); len(got) != 4 {
		t.Fatalf("tiers %v, want dev, staging, debug, breakglass", got)
	}
}
