package approvals

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Input is what Evaluate needs to know about a request. Everything that takes I/O to learn
// (the requester's groups and team, their active clones) is looked up by the caller.
type Input struct {
	Requester  string
	Groups     []string // Slack user group handles the requester belongs to
	Team       string
	Source     string
	Tier       string        // requested tier; empty means the policy's default
	TTL        time.Duration // requested TTL; 0 means the tier's default
	BreakGlass bool          // asked with /clone breakglass
	// ChannelID and ChannelName are where the command was typed (break-glass needs an incident channel).
	ChannelID, ChannelName string
	Now                    time.Time
	ActiveForUser          int // the requester's active requests (pending ones included)
	ActiveForTeam          int // the requester's team's active requests
}

// RefusalCode says why Evaluate refused, for callers that answer each case differently.
type RefusalCode string

const (
	RefuseUnknownSource       RefusalCode = "unknown_source"
	RefuseUnknownTier         RefusalCode = "unknown_tier"
	RefuseNotAllowed          RefusalCode = "not_allowed"
	RefuseTTLOverCap          RefusalCode = "ttl_over_cap"
	RefuseBadTTL              RefusalCode = "bad_ttl"
	RefuseBreakGlassChannel   RefusalCode = "breakglass_channel"
	RefuseBreakGlassTier      RefusalCode = "breakglass_tier"
	RefuseNoBreakGlass        RefusalCode = "no_breakglass_tier"
	RefuseUserQuota           RefusalCode = "user_quota"
	RefuseTeamQuota           RefusalCode = "team_quota"
	RefuseBreakGlassNotConfig RefusalCode = "breakglass_not_configured"
)

// Refusal is a policy answer a user can act on. It is not an error.
type Refusal struct {
	Code    RefusalCode
	Message string   // what went wrong and what to do instead
	Options []string // the valid choices, where there are some (sources, tiers, channels)
	Cap     time.Duration
}

// Outcome is Evaluate's answer: a refusal, or what the request becomes.
type Outcome struct {
	Refusal *Refusal

	Tier          string
	Masking       MaskLevel
	Mode          ApprovalMode  // after conditions: an auto tier outside business hours becomes single
	Slots         []Slot        // approver slots to fill; none for auto and breakglass
	TTL           time.Duration // the requested TTL or the tier's default
	MaxTTL        time.Duration
	Strategy      string
	PendingExpiry time.Duration
	ReviewWithin  time.Duration // break-glass only
	AlertSecurity bool
}

// AutoApproved reports whether the request is approved at creation.
func (o Outcome) AutoApproved() bool { return o.Mode == ModeAuto || o.Mode == ModeBreakGlass }

func refuse(code RefusalCode, options []string, format string, args ...any) Outcome {
	return Outcome{Refusal: &Refusal{Code: code, Message: fmt.Sprintf(format, args...), Options: options}}
}

// Evaluate applies the policy to a request. It does no I/O and never fails: a request the
// policy does not allow gets an Outcome with a Refusal.
func Evaluate(p *Policy, in Input) Outcome {
	// step 1: the source must exist.
	src, ok := p.Sources[in.Source]
	if !ok {
		return refuse(RefuseUnknownSource, p.SourceNames(), "unknown source %q; configured sources: %s",
			in.Source, strings.Join(p.SourceNames(), ", "))
	}

	// step 2: pick the tier. Break-glass has its own command and channels.
	tierName, err := p.pickTier(in)
	if err != nil {
		return *err
	}
	tier := p.Tiers[tierName]

	// step 3: the requester must be allowed to ask for this tier.
	if !MatchesAny(tier.Requesters, in.Requester, in.Groups) {
		return refuse(RefuseNotAllowed, p.tiersFor(in), "you may not request the %s tier (it is for %s)%s",
			tierName, principals(tier.Requesters), alternatives(p.tiersFor(in)))
	}

	// step 4: TTL: default when not given, refused (with the cap) when over the cap.
	ttl := time.Duration(tier.DefaultTTL)
	if in.TTL < 0 {
		return refuse(RefuseBadTTL, nil, "ttl must be positive")
	}
	if in.TTL > 0 {
		ttl = in.TTL
	}
	if ttl > time.Duration(tier.MaxTTL) {
		o := refuse(RefuseTTLOverCap, nil, "ttl=%s is over the %s tier's cap of %s; use ttl=%s or less",
			FormatDuration(ttl), tierName, FormatDuration(time.Duration(tier.MaxTTL)), FormatDuration(time.Duration(tier.MaxTTL)))
		o.Refusal.Cap = time.Duration(tier.MaxTTL)
		return o
	}

	// step 5: quotas of active clones.
	if q := tier.Quota.PerUser; q > 0 && in.ActiveForUser >= q {
		return refuse(RefuseUserQuota, nil, "you already have %d active clone request(s), the %s tier's limit; destroy one first (/clone list)", in.ActiveForUser, tierName)
	}
	if q := tier.Quota.PerTeam; q > 0 && in.Team != "" && in.ActiveForTeam >= q {
		return refuse(RefuseTeamQuota, nil, "team %s already has %d active clone request(s), the %s tier's limit", in.Team, in.ActiveForTeam, tierName)
	}

	// step 6: the approval mode, after conditions.
	out := Outcome{
		Tier:          tierName,
		Masking:       tier.Masking,
		Mode:          tier.Approval,
		Slots:         slices.Clone(tier.Slots),
		TTL:           ttl,
		MaxTTL:        time.Duration(tier.MaxTTL),
		Strategy:      src.Strategy,
		PendingExpiry: time.Duration(p.PendingExpiry),
	}
	switch tier.Approval {
	case ModeAuto:
		out.Slots = nil
		if tier.AutoOnlyInBusinessHours && !p.BusinessHours.Contains(in.Now) {
			out.Mode = ModeSingle
			out.Slots = slices.Clone(tier.Slots)
		}
	case ModeBreakGlass:
		out.Slots = nil
		out.ReviewWithin = time.Duration(tier.ReviewWithin)
		out.AlertSecurity = true
	}
	return out
}

// pickTier chooses the tier of a request, or refuses.
func (p *Policy) pickTier(in Input) (string, *Outcome) {
	if in.BreakGlass {
		name := p.breakGlassTier()
		if name == "" {
			o := refuse(RefuseBreakGlassNotConfig, nil, "break-glass is not configured in the policy")
			return "", &o
		}
		if !p.IsIncidentChannel(in.ChannelID, in.ChannelName) {
			o := refuse(RefuseBreakGlassChannel, p.IncidentChannels,
				"break-glass works only in incident channels: %s", strings.Join(p.IncidentChannels, ", "))
			return "", &o
		}
		return name, nil
	}
	name := in.Tier
	if name == "" {
		name = p.DefaultTier
	}
	t, ok := p.Tiers[name]
	if !ok {
		o := refuse(RefuseUnknownTier, p.requestableTiers(), "unknown tier %q; tiers: %s", name, strings.Join(p.requestableTiers(), ", "))
		return "", &o
	}
	if t.Approval == ModeBreakGlass {
		o := refuse(RefuseBreakGlassTier, nil, "the %s tier is only for emergencies: use /clone breakglass <source> reason=\"...\" in an incident channel", name)
		return "", &o
	}
	return name, nil
}

func (p *Policy) breakGlassTier() string {
	for _, name := range p.TierNames() {
		if p.Tiers[name].Approval == ModeBreakGlass {
			return name
		}
	}
	return ""
}

// requestableTiers lists the tiers a /clone request may name.
func (p *Policy) requestableTiers() []string {
	var out []string
	for _, name := range p.TierNames() {
		if p.Tiers[name].Approval != ModeBreakGlass {
			out = append(out, name)
		}
	}
	return out
}

// tiersFor lists the requestable tiers this requester may ask for.
func (p *Policy) tiersFor(in Input) []string {
	var out []string
	for _, name := range p.requestableTiers() {
		if MatchesAny(p.Tiers[name].Requesters, in.Requester, in.Groups) {
			out = append(out, name)
		}
	}
	return out
}

func alternatives(tiers []string) string {
	if len(tiers) == 0 {
		return ""
	}
	return "; you may request: " + strings.Join(tiers, ", ")
}

func principals(ps []Principal) string {
	var s []string
	for _, p := range ps {
		s = append(s, string(p))
	}
	return strings.Join(s, ", ")
}

// Eligible reports whether user (in groups) may vote on r: they fill some slot, and they are
// not the requester.
func Eligible(r *Request, user string, groups []string) bool {
	if user == r.Requester {
		return false
	}
	for _, s := range r.Slots {
		if MatchesAny(s.Approvers, user, groups) {
			return true
		}
	}
	return false
}

// ExtensionLimit is the latest expiry a ready clone may be given: its tier's MaxTTL after it
// was ready. ok is false when the tier sets no cap. An extension past it is refused, never
// silently shortened, as a TTL over the cap is at request time.
func ExtensionLimit(r *Request) (limit time.Time, ok bool) {
	if r.MaxTTL <= 0 {
		return time.Time{}, false
	}
	return r.ReadyAt.Add(r.MaxTTL), true
}
