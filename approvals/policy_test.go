package approvals

import (
	"errors"
	"os"
	"strings"
	"testing"
)

func TestPolicyValidateNamesFieldAndLine(t *testing.T) {
	base, err := os.ReadFile("../deploy/policy.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		old, new  string
		wantField string
		wantLine  bool
	}{
		{"bad backend", "backend: local", "backend: gcp", "sources.prod.backend", true},
		{"bad strategy", "strategy: restore", "strategy: magic", "sources.prod.strategy", true},
		{"max below default", "max_ttl: 24h", "max_ttl: 1h", "tiers.dev.max_ttl", true},
		{"bad masking", "masking: partial", "masking: some", "tiers.staging.masking", true},
		{"bad approval mode", "approval: single", "approval: triple", "tiers.staging.approval", true},
		{"dual with one slot", "      - name: security or manager\n        approvers: [group:security, group:managers]\n", "", "tiers.debug.slots", true},
		{"bad principal", "approvers: [group:oncall]", "approvers: [oncall]", "tiers.debug.slots.0.approvers.0", true},
		{"unknown default tier", "default_tier: dev", "default_tier: qa", "default_tier", true},
		{"pending reminder too long", "pending_reminder: 15m", "pending_reminder: 2h", "pending_reminder", true},
		{"breakglass without review", "    review_within: 48h\n", "", "tiers.breakglass.review_within", true},
		{"breakglass without incident channels", `incident_channels: ["inc-*", incidents]`, "incident_channels: []", "incident_channels", true},
		{"bad timezone", "timezone: UTC", "timezone: Mars/Olympus", "business_hours.timezone", true},
		{"bad day", "days: [mon, tue, wed, thu, fri]", "days: [mon, funday]", "business_hours.days.1", true},
		{"no requesters", "    requesters: [group:developers, service:nightly-tests]\n", "", "tiers.dev.requesters", true},
		{"unknown service requester", "service:nightly-tests]", "service:nightly]", "tiers.dev.requesters.1", true},
		{"service approver", "approvers: [group:oncall]", "approvers: [service:nightly-tests]", "tiers.debug.slots.0.approvers.0", true},
		{"bad principal kind", "[group:senior-developers, group:pipelines]", "[group:senior-developers, robot:pipelines]", "tiers.staging.requesters.1", true},
		{"bad service name", "  migration-rehearsal:\n", "  Migration:\n", "services.Migration", true},
		{"bad service group", "groups: [pipelines]", "groups: [\"a b\"]", "services.migration-rehearsal.groups.0", true},
		{"service without a request channel", "request_channel: clone-requests\n", "", "services.migration-rehearsal", true},
		{"unknown service admin", "admins: [group:platform]", "admins: [group:platform, service:deployer]", "admins.1", true},
		{"bad confirm", "confirm: modal ", "confirm: popup ", "tiers.debug.confirm", true},
		{"modal without approvers", "    quota: {per_user: 3, per_team: 20}\n", "    quota: {per_user: 3, per_team: 20}\n    confirm: modal\n", "tiers.dev.confirm", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(string(base), tt.old) {
				t.Fatalf("example policy has no %q", tt.old)
			}
			_, err := ParsePolicy([]byte(strings.Replace(string(base), tt.old, tt.new, 1)))
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("err = %v, want a ValidationError", err)
			}
			if ve.Field != tt.wantField {
				t.Fatalf("field %q, want %q (%v)", ve.Field, tt.wantField, err)
			}
			if tt.wantLine && ve.Line == 0 {
				t.Fatalf("no line in %v", err)
			}
		})
	}
}

func TestPolicyLineIsTheFieldsLine(t *testing.T) {
	src := "default_tier: dev\npending_expiry: 1h\nsources:\n  prod:\n    backend: local\n    strategy: restore\n    backups: /b\ntiers:\n  dev:\n    masking: full\n    approval: auto\n    default_ttl: 8h\n    max_ttl: 2h\n    requesters: [group:d]\n"
	_, err := ParsePolicy([]byte(src))
	var ve *ValidationError
	if !errors.As(err, &ve) || ve.Field != "tiers.dev.max_ttl" || ve.Line != 13 {
		t.Fatalf("err = %v, want tiers.dev.max_ttl at line 13", err)
	}
}

func TestPolicyRefusesUnknownFieldsAndBadDurations(t *testing.T) {
	for _, src := range []string{
		"default_tier: dev\npending_expiry: 1h\nsourcez: {}\n",
		"default_tier: dev\npending_expiry: soon\n",
	} {
		if _, err := ParsePolicy([]byte(src)); err == nil || !strings.Contains(err.Error(), "line") {
			t.Errorf("ParsePolicy(%q) = %v, want an error with a line", src, err)
		}
	}
}

func TestIncidentChannels(t *testing.T) {
	p := &Policy{IncidentChannels: []string{"inc-*", "C0INC", "war-room"}}
	tests := []struct {
		id, name string
		want     bool
	}{
		{"C1", "inc-4411", true},
		{"C0INC", "", true},
		{"C2", "war-room", true},
		{"C3", "general", false},
		{"C4", "", false},
		{"C5", "incidents", false},
	}
	for _, tt := range tests {
		if got := p.IsIncidentChannel(tt.id, tt.name); got != tt.want {
			t.Errorf("IsIncidentChannel(%s, %s) = %v", tt.id, tt.name, got)
		}
	}
}

func TestServiceIdentities(t *testing.T) {
	base, err := os.ReadFile("../deploy/policy.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParsePolicy(base)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		id        string
		wantFound bool
		wantTeam  string
	}{
		{"service:nightly-tests", true, "payments"},
		{"service:migration-rehearsal", true, "payments"},
		{"service:nobody", false, ""},
		{"nightly-tests", false, ""},
		{"U123", false, ""},
	}
	for _, tt := range tests {
		s, ok := p.ServiceIdentity(tt.id)
		if ok != tt.wantFound || s.Team != tt.wantTeam {
			t.Errorf("ServiceIdentity(%q) = %+v, %v; want team %q, %v", tt.id, s, ok, tt.wantTeam, tt.wantFound)
		}
	}
	matches := []struct {
		p      Principal
		user   string
		groups []string
		want   bool
	}{
		{"service:nightly-tests", "service:nightly-tests", nil, true},
		{"service:nightly-tests", "nightly-tests", nil, false},
		{"service:nightly-tests", "service:migration-rehearsal", []string{"nightly-tests"}, false},
		{"user:service", "service", nil, true},
		{"group:pipelines", "service:migration-rehearsal", []string{"pipelines"}, true},
	}
	for _, m := range matches {
		if got := m.p.Matches(m.user, m.groups); got != m.want {
			t.Errorf("%s.Matches(%s, %v) = %v", m.p, m.user, m.groups, got)
		}
	}
}

func TestConfirmsInModal(t *testing.T) {
	p := &Policy{Tiers: map[string]Tier{
		"debug":   {Masking: MaskNone},
		"loose":   {Masking: MaskNone, Confirm: ConfirmClick},
		"staging": {Masking: MaskPartial},
		"strict":  {Masking: MaskPartial, Confirm: ConfirmModal},
	}}
	tests := []struct {
		tier    string
		masking MaskLevel
		want    bool
	}{
		{"debug", MaskNone, true},       // the default for unmasked tiers
		{"loose", MaskNone, false},      // opted out
		{"staging", MaskPartial, false}, // the default for masked tiers
		{"strict", MaskPartial, true},
		{"gone", MaskNone, true}, // a tier no longer in the policy: by the request's masking
		{"gone", MaskFull, false},
	}
	for _, tt := range tests {
		if got := p.ConfirmsInModal(&Request{Tier: tt.tier, Masking: tt.masking}); got != tt.want {
			t.Errorf("%s (%s): %v, want %v", tt.tier, tt.masking, got, tt.want)
		}
	}
}
