package command

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/clonebot/clonebot/approvals"
)

// Kind is which command was typed.
type Kind string

const (
	KindModal      Kind = "modal" // /clone with no argument: open the request form
	KindRequest    Kind = "request"
	KindExplain    Kind = "explain"
	KindBackups    Kind = "backups"
	KindList       Kind = "list"
	KindStatus     Kind = "status"
	KindExtend     Kind = "extend"
	KindDestroy    Kind = "destroy"
	KindCancel     Kind = "cancel"
	KindBreakGlass Kind = "breakglass"
	KindReport     Kind = "report"
	KindDestroyAll Kind = "destroy-all"
	KindHelp       Kind = "help"
)

// Date is the <date> argument of a request: the newest backup, a day, or a point in time.
type Date struct {
	Latest      bool
	At          time.Time // UTC: midnight of the day, or the exact point in time
	PointInTime bool
}

// String writes the date as it is typed: latest, 2024-05-01 or an RFC 3339 time.
func (d Date) String() string {
	switch {
	case d.Latest:
		return "latest"
	case d.PointInTime:
		return d.At.UTC().Format(time.RFC3339Nano)
	default:
		return d.At.UTC().Format(time.DateOnly)
	}
}

// Command is one parsed /clone command. Only the fields of its Kind are set.
type Command struct {
	Kind     Kind
	Source   string        // request, explain, backups, breakglass
	Date     Date          // request, explain
	Tier     string        // request, explain: "" means the policy's default
	TTL      time.Duration // request, explain: 0 means the tier's default
	Reason   string        // request, breakglass
	Month    time.Time     // backups: the first day of the month asked for; zero means recent
	All      bool          // list all
	ID       string        // status, extend, destroy, cancel
	Duration time.Duration // extend: how much longer
	Window   time.Duration // report: how far back
}

// DefaultReportWindow is the report window when none is typed.
const DefaultReportWindow = 30 * 24 * time.Hour

// MaxReasonLen is the longest reason accepted, in characters.
const MaxReasonLen = 500

// maxDuration bounds typed durations well below time.Duration's overflow.
const maxDuration = 3650 * 24 * time.Hour

// Error is a command that cannot be parsed: what is wrong and the usage to type instead.
type Error struct {
	Msg   string
	Usage []string // usage lines of the command meant, or of every command
}

func (e *Error) Error() string { return e.Msg }

func usageErr(k Kind, format string, args ...any) error {
	u := Help()
	if k != "" {
		u = []string{usage[k]}
	}
	return &Error{Msg: fmt.Sprintf(format, args...), Usage: u}
}

var usage = map[Kind]string{
	KindRequest:    `/clone <source> <date> [tier=dev|staging|debug] [ttl=4h] [reason="..."]   (date: YYYY-MM-DD, latest, yesterday or an RFC 3339 time)`,
	KindModal:      `/clone   (opens the request form)`,
	KindExplain:    `/clone explain <source> <date> [tier=...] [ttl=...]   (dry run: nothing is created)`,
	KindBackups:    `/clone backups <source> [YYYY-MM]`,
	KindList:       `/clone list [all]`,
	KindStatus:     `/clone status <id>`,
	KindExtend:     `/clone extend <id> <duration>   (like 2h, 90m, 1d)`,
	KindDestroy:    `/clone destroy <id>`,
	KindCancel:     `/clone cancel <id>`,
	KindBreakGlass: `/clone breakglass <source> reason="..."   (incident channels only)`,
	KindReport:     `/clone report [30d]`,
	KindDestroyAll: `/clone destroy-all confirm   (admins only)`,
	KindHelp:       `/clone help`,
}

var helpOrder = []Kind{KindRequest, KindModal, KindExplain, KindBackups, KindList, KindStatus, KindExtend,
	KindDestroy, KindCancel, KindBreakGlass, KindReport, KindDestroyAll, KindHelp}

// Help returns the usage line of every command.
func Help() []string {
	out := make([]string, 0, len(helpOrder))
	for _, k := range helpOrder {
		out = append(out, usage[k])
	}
	return out
}

// Usage returns the usage line of one command.
func Usage(k Kind) string { return usage[k] }

// keywords are the first words that name a command rather than a source.
var keywords = map[string]Kind{
	"explain": KindExplain, "backups": KindBackups, "list": KindList, "status": KindStatus,
	"extend": KindExtend, "destroy": KindDestroy, "cancel": KindCancel, "breakglass": KindBreakGlass,
	"report": KindReport, "destroy-all": KindDestroyAll, "help": KindHelp,
}

// Parse parses the text typed after /clone. Relative dates are resolved against now, and dates
// after now are refused. Every failure is an *Error carrying usage.
func Parse(text string, now time.Time) (Command, error) {
	toks, err := tokenize(text)
	if err != nil {
		return Command{}, &Error{Msg: err.Error(), Usage: Help()}
	}
	if len(toks) == 0 {
		return Command{Kind: KindModal}, nil
	}
	first := toks[0]
	kind, isKeyword := keywords[strings.ToLower(first.text)]
	if first.key != "" || first.quoted {
		return Command{}, usageErr("", "a command starts with a source or a command word, not %q", first.raw)
	}
	if !isKeyword {
		kind = KindRequest
		if len(toks) == 1 {
			if validName(strings.ToLower(first.text)) {
				return Command{}, usageErr("", "%q is not a command; to request a clone of a source, give a date too", first.text)
			}
			return Command{}, usageErr("", "%q is not a command", first.text)
		}
	} else {
		toks = toks[1:]
	}
	p := parser{kind: kind, now: now.UTC()}
	return p.parse(toks)
}

type parser struct {
	kind Kind
	now  time.Time
}

func (p parser) parse(toks []token) (Command, error) {
	c := Command{Kind: p.kind}
	args, opts, err := p.split(toks)
	if err != nil {
		return Command{}, err
	}
	switch p.kind {
	case KindRequest, KindExplain:
		if err := p.arity(args, 2, 2, "<source> <date>"); err != nil {
			return Command{}, err
		}
		if c.Source, err = p.name("source", args[0]); err != nil {
			return Command{}, err
		}
		if c.Date, err = p.date(args[1]); err != nil {
			return Command{}, err
		}
		allowed := []string{"tier", "ttl", "reason"}
		if p.kind == KindExplain {
			allowed = allowed[:2]
		}
		if err := p.options(&c, opts, allowed...); err != nil {
			return Command{}, err
		}
	case KindBackups:
		if err := p.arity(args, 1, 2, "<source> [YYYY-MM]"); err != nil {
			return Command{}, err
		}
		if c.Source, err = p.name("source", args[0]); err != nil {
			return Command{}, err
		}
		if len(args) == 2 {
			m, err := time.Parse("2006-01", args[1])
			if err != nil {
				return Command{}, usageErr(p.kind, "%q is not a month like 2024-05", args[1])
			}
			c.Month = m.UTC()
		}
		err = p.options(&c, opts)
	case KindList:
		if err := p.arity(args, 0, 1, "[all]"); err != nil {
			return Command{}, err
		}
		if len(args) == 1 {
			if strings.ToLower(args[0]) != "all" {
				return Command{}, usageErr(p.kind, "%q: the only option of list is all", args[0])
			}
			c.All = true
		}
		err = p.options(&c, opts)
	case KindStatus, KindDestroy, KindCancel:
		if err := p.arity(args, 1, 1, "<id>"); err != nil {
			return Command{}, err
		}
		if c.ID, err = p.id(args[0]); err != nil {
			return Command{}, err
		}
		err = p.options(&c, opts)
	case KindExtend:
		if err := p.arity(args, 2, 2, "<id> <duration>"); err != nil {
			return Command{}, err
		}
		if c.ID, err = p.id(args[0]); err != nil {
			return Command{}, err
		}
		if c.Duration, err = p.duration(args[1]); err != nil {
			return Command{}, err
		}
		err = p.options(&c, opts)
	case KindBreakGlass:
		if err := p.arity(args, 1, 1, "<source>"); err != nil {
			return Command{}, err
		}
		if c.Source, err = p.name("source", args[0]); err != nil {
			return Command{}, err
		}
		if err := p.options(&c, opts, "reason"); err != nil {
			return Command{}, err
		}
		if c.Reason == "" {
			return Command{}, usageErr(p.kind, `break-glass needs a reason (the incident): reason="INC-123 ..."`)
		}
	case KindReport:
		if err := p.arity(args, 0, 1, "[window]"); err != nil {
			return Command{}, err
		}
		c.Window = DefaultReportWindow
		if len(args) == 1 {
			if c.Window, err = p.duration(args[0]); err != nil {
				return Command{}, err
			}
		}
		err = p.options(&c, opts)
	case KindDestroyAll:
		if len(args) != 1 || strings.ToLower(args[0]) != "confirm" {
			return Command{}, usageErr(p.kind, "the kill switch destroys every active clone; type /clone destroy-all confirm to use it")
		}
		err = p.options(&c, opts)
	case KindHelp:
		if err := p.arity(args, 0, 0, ""); err != nil {
			return Command{}, err
		}
		err = p.options(&c, opts)
	}
	if err != nil {
		return Command{}, err
	}
	return c, nil
}

// split separates positional arguments from key=value options; options come after arguments.
func (p parser) split(toks []token) (args []string, opts []token, err error) {
	for _, t := range toks {
		if t.key != "" {
			opts = append(opts, t)
			continue
		}
		if len(opts) > 0 {
			return nil, nil, usageErr(p.kind, "%q comes after the options; put options (key=value) last", t.text)
		}
		args = append(args, t.text)
	}
	return args, opts, nil
}

func (p parser) arity(args []string, lo, hi int, want string) error {
	switch {
	case len(args) < lo:
		return usageErr(p.kind, "%s needs %s", p.kind, want)
	case len(args) > hi:
		return usageErr(p.kind, "unexpected %q", args[hi])
	}
	return nil
}

func (p parser) options(c *Command, opts []token, allowed ...string) error {
	seen := map[string]bool{}
	for _, o := range opts {
		key := strings.ToLower(o.key)
		if !contains(allowed, key) {
			if len(allowed) == 0 {
				return usageErr(p.kind, "%s takes no options (%s=)", p.kind, key)
			}
			return usageErr(p.kind, "unknown option %s=; %s takes %s", key, p.kind, strings.Join(withEquals(allowed), " "))
		}
		if seen[key] {
			return usageErr(p.kind, "%s= is given twice", key)
		}
		seen[key] = true
		var err error
		switch key {
		case "tier":
			c.Tier, err = p.name("tier", o.text)
		case "ttl":
			c.TTL, err = p.duration(o.text)
		case "reason":
			c.Reason = strings.TrimSpace(o.text)
			if n := len([]rune(c.Reason)); n > MaxReasonLen {
				err = usageErr(p.kind, "the reason is %d characters; keep it under %d", n, MaxReasonLen)
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (p parser) name(what, s string) (string, error) {
	s = strings.ToLower(s)
	if !validName(s) {
		return "", usageErr(p.kind, "%q is not a %s name (lowercase letters, digits, - and _)", s, what)
	}
	return s, nil
}

func (p parser) id(s string) (string, error) {
	s = strings.ToLower(s)
	if !approvals.ValidID(s) {
		return "", usageErr(p.kind, "%q is not a request id (they look like cl-7f3k2q)", s)
	}
	return s, nil
}

func (p parser) duration(s string) (time.Duration, error) {
	d, err := ParseDuration(s)
	if err != nil {
		return 0, usageErr(p.kind, "%v", err)
	}
	return d, nil
}

// minDate is the earliest date accepted; no database backup is older.
var minDate = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)

func (p parser) date(s string) (Date, error) {
	today := p.now.Truncate(24 * time.Hour)
	switch strings.ToLower(s) {
	case "latest":
		return Date{Latest: true}, nil
	case "yesterday":
		return Date{At: today.AddDate(0, 0, -1)}, nil
	}
	if d, err := time.Parse(time.DateOnly, s); err == nil {
		if d.After(today) {
			return Date{}, usageErr(p.kind, "%s is in the future; the newest backup is at most today's", s)
		}
		if d.Before(minDate) {
			return Date{}, usageErr(p.kind, "%s is before 1970", s)
		}
		return Date{At: d.UTC()}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		if t.After(p.now) {
			return Date{}, usageErr(p.kind, "%s is in the future", s)
		}
		if t.Before(minDate) {
			return Date{}, usageErr(p.kind, "%s is before 1970", s)
		}
		return Date{At: t.UTC(), PointInTime: true}, nil
	}
	return Date{}, usageErr(p.kind, "%q is not a date: use YYYY-MM-DD, latest, yesterday or an RFC 3339 time like 2024-05-01T13:45:00Z", s)
}

// ParseDuration parses durations as people type them: 90m, 4h, 2d, 1h30m, 1d12h. Units are
// d, h and m; the result is positive and whole minutes.
func ParseDuration(s string) (time.Duration, error) {
	orig := s
	s = strings.ToLower(s)
	if s == "" {
		return 0, errors.New("empty duration; use something like 4h, 90m or 2d")
	}
	var total time.Duration
	for s != "" {
		i := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == 0 || i == len(s) || i > 5 {
			return 0, fmt.Errorf("%q is not a duration; use something like 4h, 90m or 2d", orig)
		}
		var n time.Duration
		for _, c := range s[:i] {
			n = n*10 + time.Duration(c-'0')
		}
		switch s[i] {
		case 'd':
			total += n * 24 * time.Hour
		case 'h':
			total += n * time.Hour
		case 'm':
			total += n * time.Minute
		default:
			return 0, fmt.Errorf("%q is not a duration; use something like 4h, 90m or 2d", orig)
		}
		if total > maxDuration {
			return 0, fmt.Errorf("%q is too long", orig)
		}
		s = s[i+1:]
	}
	if total <= 0 {
		return 0, fmt.Errorf("%q must be longer than zero", orig)
	}
	return total, nil
}

// String formats the command as it would be typed; Parse reads it back to the same Command.
func (c Command) String() string {
	w := []string{}
	if c.Kind != KindRequest && c.Kind != KindModal {
		w = append(w, string(c.Kind))
	}
	switch c.Kind {
	case KindRequest, KindExplain:
		w = append(w, c.Source, c.Date.String())
		if c.Tier != "" {
			w = append(w, "tier="+c.Tier)
		}
		if c.TTL > 0 {
			w = append(w, "ttl="+approvals.FormatDuration(c.TTL))
		}
		if c.Reason != "" {
			w = append(w, "reason="+Quote(c.Reason))
		}
	case KindBackups:
		w = append(w, c.Source)
		if !c.Month.IsZero() {
			w = append(w, c.Month.Format("2006-01"))
		}
	case KindList:
		if c.All {
			w = append(w, "all")
		}
	case KindStatus, KindDestroy, KindCancel:
		w = append(w, c.ID)
	case KindExtend:
		w = append(w, c.ID, approvals.FormatDuration(c.Duration))
	case KindBreakGlass:
		w = append(w, c.Source, "reason="+Quote(c.Reason))
	case KindReport:
		if c.Window != DefaultReportWindow {
			w = append(w, approvals.FormatDuration(c.Window))
		}
	case KindDestroyAll:
		w = append(w, "confirm")
	}
	return strings.Join(w, " ")
}

// Quote writes s as a double-quoted option value, escaping backslashes and every quote mark
// the tokenizer would take as closing.
func Quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		if r == '\\' || isDoubleQuote(r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	b.WriteByte('"')
	return b.String()
}

func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

func withEquals(keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k + "="
	}
	return out
}
