package approvals

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clonebot/clonebot/deploy"
)

func examplePolicy(t *testing.T) *Policy {
	t.Helper()
	p, err := ParsePolicy(deploy.PolicyExample)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// A Wednesday inside and a Saturday outside the example's business hours.
var (
	weekday = time.Date(2026, 11, 18, 10, 0, 0, 0, time.UTC)
	weekend = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
)

func TestEvaluate(t *testing.T) {
	dev := Input{Requester: "U1", Groups: []string{"developers"}, Source: "prod", Now: weekday}
	tests := []struct {
		name      string
		edit      func(*Input)
		policy    func(*Policy)
		refuse    RefusalCode
		mentions  []string // words the refusal message must contain
		tier      string
		mode      ApprovalMode
		slots     int
		ttl       time.Duration
		masking   MaskLevel
		alert     bool
		reviewDue time.Duration
	}{
		{name: "dev default tier is automatic and fully masked", edit: func(in *Input) {},
			tier: "dev", mode: ModeAuto, ttl: 8 * time.Hour, masking: MaskFull},
		{name: "dev with explicit ttl under the cap", edit: func(in *Input) { in.TTL = 24 * time.Hour },
			tier: "dev", mode: ModeAuto, ttl: 24 * time.Hour, masking: MaskFull},
		{name: "dev ttl over the cap names the cap", edit: func(in *Input) { in.TTL = 999 * time.Hour },
			refuse: RefuseTTLOverCap, mentions: []string{"24h", "ttl=24h"}},
		{name: "negative ttl", edit: func(in *Input) { in.TTL = -time.Hour }, refuse: RefuseBadTTL},
		{name: "staging needs one approver from leads or security",
			edit: func(in *Input) { in.Tier = "staging"; in.Groups = []string{"senior-developers"} },
			tier: "staging", mode: ModeSingle, slots: 1, ttl: 8 * time.Hour, masking: MaskPartial},
		{name: "debug needs two slots and is unmasked",
			edit: func(in *Input) { in.Tier = "debug"; in.Groups = []string{"oncall"} },
			tier: "debug", mode: ModeDual, slots: 2, ttl: 4 * time.Hour, masking: MaskNone},
		{name: "debug ttl over its 8h cap", edit: func(in *Input) { in.Tier = "debug"; in.Groups = []string{"oncall"}; in.TTL = 9 * time.Hour },
			refuse: RefuseTTLOverCap, mentions: []string{"8h"}},
		{name: "breakglass in an incident channel by prefix",
			edit: func(in *Input) { in.BreakGlass = true; in.Groups = []string{"oncall"}; in.ChannelName = "inc-4411" },
			tier: "breakglass", mode: ModeBreakGlass, ttl: 30 * time.Minute, masking: MaskNone, alert: true, reviewDue: 48 * time.Hour},
		{name: "breakglass in an incident channel by exact name",
			edit: func(in *Input) { in.BreakGlass = true; in.Groups = []string{"oncall"}; in.ChannelName = "incidents" },
			tier: "breakglass", mode: ModeBreakGlass, ttl: 30 * time.Minute, masking: MaskNone, alert: true, reviewDue: 48 * time.Hour},
		{name: "breakglass renewable up to 4h", edit: func(in *Input) {
			in.BreakGlass = true
			in.Groups = []string{"oncall"}
			in.ChannelName = "inc-1"
			in.TTL = 5 * time.Hour
		},
			refuse: RefuseTTLOverCap, mentions: []string{"4h"}},
		{name: "breakglass outside incident channels names them",
			edit:   func(in *Input) { in.BreakGlass = true; in.Groups = []string{"oncall"}; in.ChannelName = "general" },
			refuse: RefuseBreakGlassChannel, mentions: []string{"inc-*", "incidents"}},
		{name: "breakglass tier requested as a normal tier",
			edit:   func(in *Input) { in.Tier = "breakglass"; in.Groups = []string{"oncall"} },
			refuse: RefuseBreakGlassTier, mentions: []string{"/clone breakglass"}},
		{name: "breakglass by someone not on call",
			edit:   func(in *Input) { in.BreakGlass = true; in.ChannelName = "inc-1" },
			refuse: RefuseNotAllowed, mentions: []string{"group:oncall", "dev"}},
		{name: "unknown source lists the configured ones", edit: func(in *Input) { in.Source = "prdo" },
			refuse: RefuseUnknownSource, mentions: []string{"prdo", "prod"}},
		{name: "unknown tier lists requestable tiers only", edit: func(in *Input) { in.Tier = "qa" },
			refuse: RefuseUnknownTier, mentions: []string{"debug, dev, staging"}},
		{name: "developer may not request debug, told what they may",
			edit: func(in *Input) { in.Tier = "debug" }, refuse: RefuseNotAllowed, mentions: []string{"debug", "you may request: dev"}},
		{name: "requester named by user id", edit: func(in *Input) { in.Groups = nil; in.Requester = "U777" },
			policy: func(p *Policy) { d := p.Tiers["dev"]; d.Requesters = []Principal{"user:U777"}; p.Tiers["dev"] = d },
			tier:   "dev", mode: ModeAuto, ttl: 8 * time.Hour, masking: MaskFull},
		{name: "user quota reached", edit: func(in *Input) { in.ActiveForUser = 3 }, refuse: RefuseUserQuota, mentions: []string{"3"}},
		{name: "user quota not yet reached", edit: func(in *Input) { in.ActiveForUser = 2 },
			tier: "dev", mode: ModeAuto, ttl: 8 * time.Hour, masking: MaskFull},
		{name: "team quota reached", edit: func(in *Input) { in.Team = "payments"; in.ActiveForTeam = 20 },
			refuse: RefuseTeamQuota, mentions: []string{"payments"}},
		{name: "auto tier inside business hours stays automatic", edit: func(in *Input) {},
			policy: businessHoursOnly, tier: "dev", mode: ModeAuto, ttl: 8 * time.Hour, masking: MaskFull},
		{name: "auto tier outside business hours needs one approver", edit: func(in *Input) { in.Now = weekend },
			policy: businessHoursOnly, tier: "dev", mode: ModeSingle, slots: 1, ttl: 8 * time.Hour, masking: MaskFull},
		{name: "breakglass not configured", edit: func(in *Input) { in.BreakGlass = true; in.ChannelName = "inc-1" },
			policy: func(p *Policy) { delete(p.Tiers, "breakglass") }, refuse: RefuseBreakGlassNotConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pol := examplePolicy(t)
			if tt.policy != nil {
				tt.policy(pol)
			}
			in := dev
			in.Groups = slices.Clone(dev.Groups)
			tt.edit(&in)
			got := Evaluate(pol, in)
			if tt.refuse != "" {
				if got.Refusal == nil {
					t.Fatalf("allowed (%+v), want refusal %s", got, tt.refuse)
				}
				if got.Refusal.Code != tt.refuse {
					t.Fatalf("refusal %s (%s), want %s", got.Refusal.Code, got.Refusal.Message, tt.refuse)
				}
				for _, m := range tt.mentions {
					if !strings.Contains(got.Refusal.Message, m) {
						t.Errorf("refusal %q does not mention %q", got.Refusal.Message, m)
					}
				}
				return
			}
			if got.Refusal != nil {
				t.Fatalf("refused: %s", got.Refusal.Message)
			}
			if got.Tier != tt.tier || got.Mode != tt.mode || len(got.Slots) != tt.slots || got.TTL != tt.ttl ||
				got.Masking != tt.masking || got.AlertSecurity != tt.alert || got.ReviewWithin != tt.reviewDue {
				t.Fatalf("got tier=%s mode=%s slots=%d ttl=%s masking=%s alert=%v review=%s",
					got.Tier, got.Mode, len(got.Slots), got.TTL, got.Masking, got.AlertSecurity, got.ReviewWithin)
			}
			if got.Strategy != "restore" || got.PendingExpiry != time.Hour {
				t.Fatalf("strategy=%s pending=%s", got.Strategy, got.PendingExpiry)
			}
			if got.AutoApproved() != (tt.mode == ModeAuto || tt.mode == ModeBreakGlass) {
				t.Fatal("AutoApproved disagrees with mode")
			}
		})
	}
}

func businessHoursOnly(p *Policy) {
	d := p.Tiers["dev"]
	d.AutoOnlyInBusinessHours = true
	d.Slots = []Slot{{Name: "lead", Approvers: []Principal{"group:leads"}}}
	p.Tiers["dev"] = d
}

func TestEvaluateDoesNotAliasPolicySlots(t *testing.T) {
	p := examplePolicy(t)
	out := Evaluate(p, Input{Requester: "U1", Groups: []string{"oncall"}, Source: "prod", Tier: "debug", Now: weekday})
	out.Slots[0].Name = "changed"
	if p.Tiers["debug"].Slots[0].Name == "changed" {
		t.Fatal("Evaluate returned the policy's own slot slice")
	}
}

func TestEligible(t *testing.T) {
	r := &Request{Requester: "U1", Slots: []Slot{
		{Name: "peer", Approvers: []Principal{"group:oncall"}},
		{Name: "sec", Approvers: []Principal{"group:security", "user:U9"}},
	}}
	tests := []struct {
		user   string
		groups []string
		want   bool
	}{
		{"U2", []string{"oncall"}, true},
		{"U3", []string{"security"}, true},
		{"U9", nil, true},
		{"U4", []string{"developers"}, false},
		{"U1", []string{"oncall", "security"}, false}, // the requester never approves
	}
	for _, tt := range tests {
		if got := Eligible(r, tt.user, tt.groups); got != tt.want {
			t.Errorf("Eligible(%s, %v) = %v, want %v", tt.user, tt.groups, got, tt.want)
		}
	}
}

func TestExtensionLimit(t *testing.T) {
	ready := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC) // fixed date: no server sees it
	r := &Request{ReadyAt: ready, ExpiresAt: ready.Add(8 * time.Hour), MaxTTL: 24 * time.Hour}
	if got, ok := ExtensionLimit(r); !ok || !got.Equal(ready.Add(24*time.Hour)) {
		t.Fatalf("limit %s %v, want 24h after ready", got, ok)
	}
	r.MaxTTL = 0
	if _, ok := ExtensionLimit(r); ok {
		t.Fatal("a tier without max_ttl has a limit")
	}
}

func TestBusinessHours(t *testing.T) {
	b := &BusinessHours{TimeZone: "Europe/London", Days: []string{"mon", "tue", "wed", "thu", "fri"}, Start: "09:00", End: "17:30"}
	tests := []struct {
		at   time.Time
		want bool
	}{
		{time.Date(2026, 7, 15, 8, 0, 0, 0, time.UTC), true},    // 09:00 BST, Wednesday
		{time.Date(2026, 7, 15, 7, 59, 0, 0, time.UTC), false},  // 08:59 BST
		{time.Date(2026, 7, 15, 16, 29, 0, 0, time.UTC), true},  // 17:29 BST
		{time.Date(2026, 7, 15, 16, 30, 0, 0, time.UTC), false}, // 17:30 BST: end is exclusive
		{time.Date(2026, 7, 18, 12, 0, 0, 0, time.UTC), false},  // Saturday
		{time.Date(2026, 1, 14, 9, 0, 0, 0, time.UTC), true},    // 09:00 GMT in winter
	}
	for _, tt := range tests {
		if got := b.Contains(tt.at); got != tt.want {
			t.Errorf("Contains(%s) = %v, want %v", tt.at, got, tt.want)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	for give, want := range map[time.Duration]string{
		30 * time.Minute: "30m", 4 * time.Hour: "4h", 90 * time.Minute: "1h30m", 48 * time.Hour: "48h", 0: "0m", 999 * time.Hour: "999h", 25*time.Hour + 5*time.Minute: "25h5m",
	} {
		if got := FormatDuration(give); got != want {
			t.Errorf("FormatDuration(%s) = %q, want %q", give, got, want)
		}
	}
}
