package command

import (
	"errors"
	"fmt"
	"slices"
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
	KindGolden     Kind = "golden"
	KindRefresh    Kind = "refresh"
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
	Source   string        // request, explain, backups, breakglass, refresh
	Date     Date          // request, explain
	Tier     string        // request, explain: "" means the policy's default
	TTL      time.Duration // request, explain: 0 means the tier's default
	Reason   string        // request, breakglass
	Month    time.Time     // backups: the first day of the month asked for; zero means recent
	All      bool          // list all
	ID       string        // status, extend, destroy, cancel
	Duration time.Duration // extend: how much longer
	Window   time.Duration // report: how far back
	Level    string        // refresh: the masking level to rebuild; "" means every level of the source
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
	s, toks, err := which(toks)
	if err != nil {
		return Command{}, err
	}
	return parser{spec: s, now: now.UTC()}.parse(toks)
}

// which finds the command the first word names, and returns the words after the keyword. A
// first word that is no keyword is the source of a request. Its errors carry every usage line.
func which(toks []token) (*spec, []token, error) {
	first := toks[0]
	if first.key != "" || first.quoted {
		return nil, nil, helpErr("a command starts with a source or a command word, not %q", first.raw)
	}
	if s := keyword(first.text); s != nil {
		return s, toks[1:], nil
	}
	if len(toks) > 1 {
		return find(KindRequest), toks, nil
	}
	if validName(strings.ToLower(first.text)) {
		return nil, nil, helpErr("%q is not a command; to request a clone of a source, give a date too", first.text)
	}
	return nil, nil, helpErr("%q is not a command", first.text)
}

func helpErr(format string, args ...any) error {
	return &Error{Msg: fmt.Sprintf(format, args...), Usage: Help()}
}

// parser reads the words of one command by its spec.
type parser struct {
	spec *spec
	now  time.Time
}

// errorf is a parse error carrying the usage of the command being parsed.
func (p parser) errorf(format string, args ...any) error {
	return &Error{Msg: fmt.Sprintf(format, args...), Usage: []string{p.spec.usage}}
}

// parse reads the words after the keyword: the arguments, then the options, then the rule on
// the whole command, stopping at the first error.
func (p parser) parse(toks []token) (Command, error) {
	c := Command{Kind: p.spec.kind}
	args, opts, err := p.split(toks)
	if err == nil {
		err = p.args(&c, args)
	}
	if err == nil {
		err = p.options(&c, opts)
	}
	if err == nil && p.spec.check != nil {
		err = p.spec.check(p, c)
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
			return nil, nil, p.errorf("%q comes after the options; put options (key=value) last", t.text)
		}
		args = append(args, t.text)
	}
	return args, opts, nil
}

// args checks the number of arguments and reads each into c.
func (p parser) args(c *Command, args []string) error {
	if err := p.arity(args); err != nil {
		return err
	}
	for i, a := range p.spec.args {
		switch {
		case i < len(args):
			if err := a.set(p, c, args[i]); err != nil {
				return err
			}
		case a.missing != nil:
			a.missing(c)
		}
	}
	return nil
}

func (p parser) arity(args []string) error {
	required, names := 0, make([]string, 0, len(p.spec.args))
	for _, a := range p.spec.args {
		if !a.optional() {
			required++
		}
		names = append(names, a.name)
	}
	switch {
	case len(args) >= required && len(args) <= len(p.spec.args):
		return nil
	case p.spec.misuse != "":
		return p.errorf("%s", p.spec.misuse)
	case len(args) < required:
		return p.errorf("%s needs %s", p.spec.kind, strings.Join(names, " "))
	default:
		return p.errorf("unexpected %q", args[len(p.spec.args)])
	}
}

// options reads key=value options into c: each one the command takes, at most once.
func (p parser) options(c *Command, opts []token) error {
	allowed := p.spec.options
	seen := map[string]bool{}
	for _, o := range opts {
		key := strings.ToLower(o.key)
		if !slices.Contains(allowed, key) {
			if len(allowed) == 0 {
				return p.errorf("%s takes no options (%s=)", p.spec.kind, key)
			}
			return p.errorf("unknown option %s=; %s takes %s", key, p.spec.kind, strings.Join(withEquals(allowed), " "))
		}
		if seen[key] {
			return p.errorf("%s= is given twice", key)
		}
		seen[key] = true
		if err := optionSpecs[key].set(p, c, o.text); err != nil {
			return err
		}
	}
	return nil
}

func (p parser) name(what, s string) (string, error) {
	s = strings.ToLower(s)
	if !validName(s) {
		return "", p.errorf("%q is not a %s name (lowercase letters, digits, - and _)", s, what)
	}
	return s, nil
}

func (p parser) id(s string) (string, error) {
	s = strings.ToLower(s)
	if !approvals.ValidID(s) {
		return "", p.errorf("%q is not a request id (they look like cl-7f3k2q)", s)
	}
	return s, nil
}

func (p parser) duration(s string) (time.Duration, error) {
	d, err := ParseDuration(s)
	if err != nil {
		return 0, p.errorf("%v", err)
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
			return Date{}, p.errorf("%s is in the future; the newest backup is at most today's", s)
		}
		if d.Before(minDate) {
			return Date{}, p.errorf("%s is before 1970", s)
		}
		return Date{At: d.UTC()}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		if t.After(p.now) {
			return Date{}, p.errorf("%s is in the future", s)
		}
		if t.Before(minDate) {
			return Date{}, p.errorf("%s is before 1970", s)
		}
		return Date{At: t.UTC(), PointInTime: true}, nil
	}
	return Date{}, p.errorf("%q is not a date: use YYYY-MM-DD, latest, yesterday or an RFC 3339 time like 2024-05-01T13:45:00Z", s)
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
	s := find(c.Kind)
	if s == nil {
		return ""
	}
	var w []string
	if s.keyword {
		w = append(w, string(c.Kind))
	}
	for _, a := range s.args {
		if v := a.get(c); v != "" {
			w = append(w, v)
		}
	}
	for _, key := range s.options {
		if v := optionSpecs[key].get(c); v != "" {
			w = append(w, key+"="+v)
		}
	}
	return strings.Join(w, " ")
}

// quote writes s as a double-quoted option value, escaping backslashes and every quote mark
// the tokenizer would take as closing.
func quote(s string) string {
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

func withEquals(keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k + "="
	}
	return out
}
