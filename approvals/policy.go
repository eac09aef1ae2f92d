package approvals

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v4"

	"github.com/clonebot/clonebot/internal/yamlerr"
)

// MaskLevel is how much of the data a tier's clones may show.
type MaskLevel string

const (
	MaskFull    MaskLevel = "full"
	MaskPartial MaskLevel = "partial"
	MaskNone    MaskLevel = "none"
)

// Phrase writes the level for a sentence: "partial masking", "full masking", "no masking".
func (m MaskLevel) Phrase() string {
	if m == MaskNone {
		return "no masking"
	}
	return string(m) + " masking"
}

// ApprovalMode is how a tier's requests are approved.
type ApprovalMode string

const (
	ModeAuto       ApprovalMode = "auto"       // approved at once
	ModeSingle     ApprovalMode = "single"     // one approver from the tier's one slot
	ModeDual       ApprovalMode = "dual"       // two distinct approvers, one per slot
	ModeBreakGlass ApprovalMode = "breakglass" // approved at once, only from incident channels; alerts security
)

// ConfirmMode is how an approver's Approve click is taken.
type ConfirmMode string

const (
	ConfirmClick ConfirmMode = "click" // the click approves
	ConfirmModal ConfirmMode = "modal" // the click opens a modal restating what is approved; only its submission approves
)

// Duration is a time.Duration written in YAML as "8h", "30m".
type Duration time.Duration

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := yamlerr.Duration(n)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// Principal names who may act: "group:<slack user group handle>", "user:<Slack user ID>" or
// "service:<name>", a service identity of the policy (a pipeline acting through an API key).
type Principal string

// ServicePrefix starts the id under which a service identity acts: "service:<name>" is both its
// principal and its requester id.
const ServicePrefix = "service:"

// Matches reports whether user, a member of groups, is this principal. A service identity is
// matched by its id, "service:<name>".
func (p Principal) Matches(user string, groups []string) bool {
	kind, name, _ := strings.Cut(string(p), ":")
	switch kind {
	case "user":
		return name == user
	case "group":
		return slices.Contains(groups, name)
	case "service":
		return string(p) == user
	}
	return false
}

func (p Principal) valid() bool {
	kind, name, ok := strings.Cut(string(p), ":")
	return ok && name != "" && (kind == "user" || kind == "group")
}

// validOrService reports whether p names a group, a user or a service identity (allowed for
// requesters and admins: a service never approves, it has no hands to click with).
func (p Principal) validOrService() bool {
	return p.valid() || strings.HasPrefix(string(p), ServicePrefix) && len(p) > len(ServicePrefix)
}

// Service is a named service identity: what a pipeline's API key acts as when no person is
// behind it. It counts as a member of Groups (policy groups, for requesters and admins; they
// need not exist in Slack) and of Team (quotas and reports).
type Service struct {
	Groups []string `yaml:"groups"`
	Team   string   `yaml:"team"`
}

// MatchesAny reports whether user (in groups) is any of ps.
func MatchesAny(ps []Principal, user string, groups []string) bool {
	for _, p := range ps {
		if p.Matches(user, groups) {
			return true
		}
	}
	return false
}

// Slot is one approval that a request needs: any one of Approvers fills it.
type Slot struct {
	Name      string      `yaml:"name" json:"name"`
	Approvers []Principal `yaml:"approvers" json:"approvers"`
}

// Source is a database that can be cloned.
type Source struct {
	Backend  string `yaml:"backend"`  // aws | local
	Strategy string `yaml:"strategy"` // restore | fast-clone | snapshot
	Backups  string `yaml:"backups"`  // where backups are: an s3:// or folder template with {source} and {date}
	Team     string `yaml:"team"`     // owning team, for reports
	// Golden, when set, prepares golden copies of the source on a schedule (schedule.go).
	Golden *GoldenConfig `yaml:"golden"`
}

// Quota limits active clones (pending ones included).
type Quota struct {
	PerUser int `yaml:"per_user"` // 0: no limit
	PerTeam int `yaml:"per_team"` // 0: no limit
}

// BusinessHours is a weekly window in a time zone.
type BusinessHours struct {
	TimeZone string   `yaml:"timezone"`
	Days     []string `yaml:"days"`  // mon tue wed thu fri sat sun
	Start    string   `yaml:"start"` // "09:00"
	End      string   `yaml:"end"`   // "18:00"
}

// Tier is a class of clone: what data it shows and how it is approved.
type Tier struct {
	Masking    MaskLevel    `yaml:"masking"`
	Approval   ApprovalMode `yaml:"approval"`
	Slots      []Slot       `yaml:"slots"`
	DefaultTTL Duration     `yaml:"default_ttl"`
	MaxTTL     Duration     `yaml:"max_ttl"`
	Requesters []Principal  `yaml:"requesters"`
	// AutoOnlyInBusinessHours, for auto tiers: outside business hours the request needs one
	// approver from Slots instead.
	AutoOnlyInBusinessHours bool     `yaml:"auto_only_in_business_hours"`
	Quota                   Quota    `yaml:"quota"`
	ReviewWithin            Duration `yaml:"review_within"` // break-glass: post-incident review deadline
	// Confirm is how approvers approve; unset, it is modal for unmasked tiers (masking: none)
	// and click otherwise (ConfirmsInModal).
	Confirm ConfirmMode `yaml:"confirm"`
}

// ConfirmsInModal reports whether the tier's approvers confirm in a modal.
func (t Tier) ConfirmsInModal() bool {
	if t.Confirm == "" {
		return t.Masking == MaskNone
	}
	return t.Confirm == ConfirmModal
}

// ConfirmsInModal reports whether an approval of r needs the approver's confirmation in a
// modal: as r's tier says now, or, for a tier no longer in the policy, when r is unmasked.
func (p *Policy) ConfirmsInModal(r *Request) bool {
	if t, ok := p.Tiers[r.Tier]; ok {
		return t.ConfirmsInModal()
	}
	return r.Masking == MaskNone
}

// Policy is the policy file.
type Policy struct {
	DefaultTier      string      `yaml:"default_tier"`
	PendingExpiry    Duration    `yaml:"pending_expiry"`
	PendingReminder  Duration    `yaml:"pending_reminder"` // remind approvers this long before a pending request expires
	TTLWarnings      []Duration  `yaml:"ttl_warnings"`     // warn this long before a clone expires
	IncidentChannels []string    `yaml:"incident_channels"`
	SecurityChannel  string      `yaml:"security_channel"`
	RequestChannel   string      `yaml:"request_channel"`
	Admins           []Principal `yaml:"admins"`
	// Security reviews ended break-glass clones and sees every figure of the report
	// (DefaultSecurity when empty).
	Security      []Principal       `yaml:"security"`
	BusinessHours *BusinessHours    `yaml:"business_hours"`
	Sources       map[string]Source `yaml:"sources"`
	Tiers         map[string]Tier   `yaml:"tiers"`
	// Services are the service identities API keys may act as ("service:<name>").
	Services map[string]Service `yaml:"services"`

	lines map[string]int // field path → YAML line, for Validate
	file  string         // the file's name, when ParsePolicyFile was given one
}

// ValidationError names the bad field of a policy (its dotted path; "" for the whole file)
// and its line in the file (0 if unknown).
type ValidationError struct {
	File  string // the file's name, when the caller gave one
	Field string
	Line  int
	Msg   string
}

func (e *ValidationError) Error() string {
	return (&yamlerr.Error{Path: e.Field, Line: e.Line, Msg: e.Msg}).InFile("policy", e.File)
}

// ParsePolicy parses and validates a policy. Unknown fields are refused, so a typo is an
// error rather than a silently ignored rule. Every problem, from a YAML syntax error to a rule
// Validate refuses, is a *ValidationError with the field's path and line. Reading the file is
// the caller's (approvals does no I/O).
func ParsePolicy(data []byte) (*Policy, error) { return ParsePolicyFile("", data) }

// ParsePolicyFile is ParsePolicy for the file named name, which its errors name.
func ParsePolicyFile(name string, data []byte) (*Policy, error) {
	var p Policy
	root, err := yamlerr.Load(data, &p)
	if err != nil {
		var e *yamlerr.Error
		if errors.As(err, &e) {
			return nil, &ValidationError{File: name, Field: e.Path, Line: e.Line, Msg: e.Msg}
		}
		return nil, fmt.Errorf("policy %s: %w", name, err)
	}
	p.lines, p.file = yamlerr.Lines(root), name
	if err := p.Validate(); err != nil {
		var ve *ValidationError
		if errors.As(err, &ve) {
			ve.File = name
		}
		return nil, err
	}
	return &p, nil
}

func (p *Policy) bad(field, format string, args ...any) error {
	line := p.lines[field]
	// A missing field has no line; point at the nearest parent that has one.
	for f := field; line == 0 && strings.Contains(f, "."); {
		f = f[:strings.LastIndex(f, ".")]
		line = p.lines[f]
	}
	return &ValidationError{Field: field, Line: line, Msg: fmt.Sprintf(format, args...)}
}

// Validate checks the policy and returns the first problem, naming the field and its line.
func (p *Policy) Validate() error {
	var first error // the first problem, in file order
	add := func(err error) {
		if first == nil {
			first = err
		}
	}
	if len(p.Sources) == 0 {
		add(p.bad("sources", "at least one source is required"))
	}
	for _, name := range sortedKeys(p.Sources) {
		s, f := p.Sources[name], "sources."+name
		if !validName(name) {
			add(p.bad(f, "source names are lowercase letters, digits, - and _"))
		}
		if s.Backend != "aws" && s.Backend != "local" {
			add(p.bad(f+".backend", "must be aws or local, not %q", s.Backend))
		}
		if s.Strategy != "restore" && s.Strategy != "fast-clone" && s.Strategy != "snapshot" {
			add(p.bad(f+".strategy", "must be restore, fast-clone or snapshot, not %q", s.Strategy))
		}
		if s.Backend == "local" && s.Strategy == "snapshot" {
			add(p.bad(f+".strategy", "snapshot needs the aws backend"))
		}
		if s.Strategy == "restore" && s.Backups == "" {
			add(p.bad(f+".backups", "restore needs a backups location"))
		}
		if s.Golden != nil {
			add(p.validateGolden(f+".golden", s.Golden))
		}
	}
	if len(p.Tiers) == 0 {
		add(p.bad("tiers", "at least one tier is required"))
	}
	if _, ok := p.Tiers[p.DefaultTier]; !ok {
		add(p.bad("default_tier", "%q is not a tier", p.DefaultTier))
	}
	if p.PendingExpiry <= 0 {
		add(p.bad("pending_expiry", "must be a positive duration"))
	}
	if p.PendingReminder < 0 || p.PendingReminder >= p.PendingExpiry {
		add(p.bad("pending_reminder", "must be shorter than pending_expiry"))
	}
	for i, w := range p.TTLWarnings {
		if w <= 0 {
			add(p.bad(fmt.Sprintf("ttl_warnings.%d", i), "must be a positive duration"))
		}
	}
	for i, a := range p.Admins {
		add(p.checkPrincipal(fmt.Sprintf("admins.%d", i), a))
	}
	for _, name := range sortedKeys(p.Services) {
		add(p.validateService(name, p.Services[name]))
	}
	for i, a := range p.Security {
		if !a.valid() {
			add(p.bad(fmt.Sprintf("security.%d", i), "%q is not group:<handle> or user:<ID>", a))
		}
	}
	if bh := p.BusinessHours; bh != nil {
		if _, err := bh.location(); err != nil {
			add(p.bad("business_hours.timezone", "%v", err))
		}
		if _, _, err := bh.window(); err != nil {
			add(p.bad("business_hours", "%v", err))
		}
		for i, d := range bh.Days {
			if _, ok := weekdays[d]; !ok {
				add(p.bad(fmt.Sprintf("business_hours.days.%d", i), "%q is not one of mon tue wed thu fri sat sun", d))
			}
		}
	}
	hasBreakGlass := false
	for _, name := range sortedKeys(p.Tiers) {
		add(p.validateTier(name, p.Tiers[name]))
		hasBreakGlass = hasBreakGlass || p.Tiers[name].Approval == ModeBreakGlass
	}
	if hasBreakGlass && len(p.IncidentChannels) == 0 {
		add(p.bad("incident_channels", "a breakglass tier needs at least one incident channel"))
	}
	if hasBreakGlass && p.SecurityChannel == "" {
		add(p.bad("security_channel", "a breakglass tier needs a security channel to alert"))
	}
	return first
}

func (p *Policy) validateTier(name string, t Tier) error {
	f := "tiers." + name
	switch {
	case !validName(name):
		return p.bad(f, "tier names are lowercase letters, digits, - and _")
	case t.Masking != MaskFull && t.Masking != MaskPartial && t.Masking != MaskNone:
		return p.bad(f+".masking", "must be full, partial or none, not %q", t.Masking)
	case t.DefaultTTL <= 0:
		return p.bad(f+".default_ttl", "must be a positive duration")
	case t.MaxTTL < t.DefaultTTL:
		return p.bad(f+".max_ttl", "must be at least default_ttl (%s)", exactDuration(time.Duration(t.DefaultTTL)))
	case len(t.Requesters) == 0:
		return p.bad(f+".requesters", "name who may request (group:<handle> or user:<ID>)")
	case t.Quota.PerUser < 0 || t.Quota.PerTeam < 0:
		return p.bad(f+".quota", "limits cannot be negative")
	}
	for i, r := range t.Requesters {
		if err := p.checkPrincipal(fmt.Sprintf("%s.requesters.%d", f, i), r); err != nil {
			return err
		}
	}
	want := map[ApprovalMode]int{ModeAuto: 0, ModeBreakGlass: 0, ModeSingle: 1, ModeDual: 2}
	n, ok := want[t.Approval]
	if !ok {
		return p.bad(f+".approval", "must be auto, single, dual or breakglass, not %q", t.Approval)
	}
	if t.AutoOnlyInBusinessHours {
		if t.Approval != ModeAuto {
			return p.bad(f+".auto_only_in_business_hours", "only applies to auto tiers")
		}
		if p.BusinessHours == nil {
			return p.bad(f+".auto_only_in_business_hours", "needs business_hours")
		}
		n = 1 // the slot that approves outside business hours
	}
	if len(t.Slots) != n {
		return p.bad(f+".slots", "%s approval needs exactly %d approver slot(s), found %d", t.Approval, n, len(t.Slots))
	}
	for i, s := range t.Slots {
		sf := fmt.Sprintf("%s.slots.%d", f, i)
		if len(s.Approvers) == 0 {
			return p.bad(sf+".approvers", "name at least one approver")
		}
		for j, a := range s.Approvers {
			if !a.valid() {
				return p.bad(fmt.Sprintf("%s.approvers.%d", sf, j), "%q is not group:<handle> or user:<ID>", a)
			}
		}
	}
	switch {
	case t.Confirm != "" && t.Confirm != ConfirmClick && t.Confirm != ConfirmModal:
		return p.bad(f+".confirm", "must be click or modal, not %q", t.Confirm)
	case t.Confirm == ConfirmModal && n == 0:
		return p.bad(f+".confirm", "modal needs approvers, but the tier's approval is %s", t.Approval)
	}
	if t.Approval == ModeBreakGlass && t.ReviewWithin <= 0 {
		return p.bad(f+".review_within", "a breakglass tier needs a review deadline")
	}
	return nil
}

func (p *Policy) validateGolden(f string, g *GoldenConfig) error {
	if len(g.Levels) == 0 {
		return p.bad(f+".levels", "name the masking levels to prepare, like [full]")
	}
	for i, l := range g.Levels {
		switch {
		case l == MaskNone:
			return p.bad(fmt.Sprintf("%s.levels.%d", f, i), "golden copies are masked: full or partial, not none")
		case l != MaskFull && l != MaskPartial:
			return p.bad(fmt.Sprintf("%s.levels.%d", f, i), "must be full or partial, not %q", l)
		case slices.Contains(g.Levels[:i], l):
			return p.bad(fmt.Sprintf("%s.levels.%d", f, i), "%s is listed twice", l)
		}
	}
	if g.Keep < 0 {
		return p.bad(f+".keep", "must be 1 or more (default %d)", DefaultGoldenKeep)
	}
	if g.Margin < 0 {
		return p.bad(f+".margin", "must not be negative")
	}
	if _, err := time.LoadLocation(g.TimeZone); err != nil {
		return p.bad(f+".timezone", "%q is not a time zone like Europe/Paris or UTC", g.TimeZone)
	}
	if _, err := g.Schedule(); err != nil {
		field := f + ".ready_by"
		switch {
		case g.Cron != "":
			field = f + ".cron"
		case g.ReadyBy == "":
			field = f
		}
		return p.bad(field, "%v", err)
	}
	return nil
}

// checkPrincipal refuses a requester or admin that is malformed, or names a service identity
// the policy does not define.
func (p *Policy) checkPrincipal(field string, pr Principal) error {
	if !pr.validOrService() {
		return p.bad(field, "%q is not group:<handle>, user:<ID> or service:<name>", pr)
	}
	if name, ok := strings.CutPrefix(string(pr), ServicePrefix); ok {
		if _, defined := p.Services[name]; !defined {
			return p.bad(field, "%q names no service of the policy's services", pr)
		}
	}
	return nil
}

func (p *Policy) validateService(name string, s Service) error {
	f := "services." + name
	switch {
	case !validName(name):
		return p.bad(f, "service names are lowercase letters, digits, - and _")
	case p.RequestChannel == "":
		// A request card goes to the request channel, else to the requester's DM, and a
		// service has no DM: its approvers would never see the card.
		return p.bad(f, "a service identity needs request_channel, where its request cards go")
	}
	for i, g := range s.Groups {
		if g == "" || strings.ContainsAny(g, ": ") {
			return p.bad(fmt.Sprintf("%s.groups.%d", f, i), "%q is not a group handle", g)
		}
	}
	return nil
}

// ServiceIdentity returns the service identity whose id ("service:<name>") is id; false if id
// names none.
func (p *Policy) ServiceIdentity(id string) (Service, bool) {
	name, ok := strings.CutPrefix(id, ServicePrefix)
	if !ok {
		return Service{}, false
	}
	s, ok := p.Services[name]
	return s, ok
}

// ValidName reports whether s can name a source, tier or service: lowercase letters, digits,
// - and _.
func ValidName(s string) bool { return validName(s) }

func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// CheckMaskLevels checks the policy against the masking levels the masking rules define:
// every tier's level but none must be one of levels. The first tier (by name) whose level is
// not is a *ValidationError at its masking key; rules says what the rules define ("masking.yaml
// defines full, none"), for its message.
func (p *Policy) CheckMaskLevels(levels []string, rules string) error {
	for _, name := range p.TierNames() {
		level := p.Tiers[name].Masking
		if level == MaskNone || slices.Contains(levels, string(level)) {
			continue
		}
		f := "tiers." + name + ".masking"
		return &ValidationError{File: p.file, Field: f, Line: p.lines[f],
			Msg: fmt.Sprintf("masking level %s has no rules: %s", level, rules)}
	}
	return nil
}

// SourceNames lists the configured sources, sorted.
func (p *Policy) SourceNames() []string { return sortedKeys(p.Sources) }

// TierNames lists the configured tiers, sorted.
func (p *Policy) TierNames() []string { return sortedKeys(p.Tiers) }

// IsAdmin reports whether user (in groups) is an admin.
func (p *Policy) IsAdmin(user string, groups []string) bool {
	return MatchesAny(p.Admins, user, groups)
}

// DefaultSecurity is who reviews break-glass clones when the policy names nobody.
var DefaultSecurity = []Principal{"group:security"}

// IsSecurity reports whether someone is of the security team: they review ended break-glass
// clones and see every figure of the report.
func (p *Policy) IsSecurity(user string, groups []string) bool {
	if len(p.Security) == 0 {
		return MatchesAny(DefaultSecurity, user, groups)
	}
	return MatchesAny(p.Security, user, groups)
}

// IsIncidentChannel reports whether channel (an ID or a name) is an incident channel. Entries
// ending in * match by prefix ("inc-*").
func (p *Policy) IsIncidentChannel(channelID, channelName string) bool {
	for _, c := range p.IncidentChannels {
		if prefix, ok := strings.CutSuffix(c, "*"); ok {
			if channelName != "" && strings.HasPrefix(channelName, prefix) {
				return true
			}
			continue
		}
		if c == channelID || (channelName != "" && c == channelName) {
			return true
		}
	}
	return false
}

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

func (b *BusinessHours) location() (*time.Location, error) {
	if b.TimeZone == "" {
		return time.UTC, nil
	}
	return time.LoadLocation(b.TimeZone)
}

func (b *BusinessHours) window() (start, end time.Duration, err error) {
	parse := func(s string) (time.Duration, error) {
		t, err := time.Parse("15:04", s)
		if err != nil {
			return 0, fmt.Errorf("%q is not a time like 09:00", s)
		}
		return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute, nil
	}
	if start, err = parse(b.Start); err != nil {
		return 0, 0, err
	}
	if end, err = parse(b.End); err != nil {
		return 0, 0, err
	}
	if end <= start {
		return 0, 0, errors.New("end must be after start")
	}
	return start, end, nil
}

// Contains reports whether t falls inside business hours.
func (b *BusinessHours) Contains(t time.Time) bool {
	loc, err := b.location()
	if err != nil {
		return false
	}
	start, end, err := b.window()
	if err != nil {
		return false
	}
	lt := t.In(loc)
	if !slices.ContainsFunc(b.Days, func(d string) bool { return weekdays[d] == lt.Weekday() }) {
		return false
	}
	since := lt.Sub(time.Date(lt.Year(), lt.Month(), lt.Day(), 0, 0, 0, 0, loc))
	return since >= start && since < end
}
