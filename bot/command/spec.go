package command

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/clonebot/clonebot/approvals"
)

// spec describes one command: how it is named and typed, the usage line people see, and how
// its words parse into a Command and are written back. What a command does is the bot's part
// (bot/commands.go, keyed by the same Kind). Adding a command is adding a Kind and an entry to
// specs; Parse, Command.String, Help and the usage under parse errors all read the table.
type spec struct {
	kind    Kind
	keyword bool     // typed as its first word (/clone list); else a request (a source first) or the form (nothing)
	usage   string   // in help and under a parse error: /clone, the keyword, the argument names, then options and notes
	example string   // a command of this kind as typed (tests parse it)
	args    []arg    // positional arguments in order; the optional ones last
	options []string // keys of the key=value options it takes, in the order String writes them
	misuse  string   // if set, the answer to a wrong number of arguments
	// check, if set, is a rule on the whole command, checked last.
	check func(p parser, c Command) error
}

// specs is every command, in the order help lists them.
var specs = []spec{
	{kind: KindRequest, args: []arg{argSource, argDate}, options: []string{"tier", "ttl", "reason"},
		usage:   `/clone <source> <date> [tier=dev|staging|debug] [ttl=4h] [reason="..."]   (date: YYYY-MM-DD, latest, yesterday or an RFC 3339 time)`,
		example: `prod 2024-05-01 tier=staging ttl=4h reason="INC-1 slow query"`},
	{kind: KindModal, usage: `/clone   (opens the request form)`, example: ""},
	{kind: KindExplain, keyword: true, args: []arg{argSource, argDate}, options: []string{"tier", "ttl"},
		usage:   `/clone explain <source> <date> [tier=...] [ttl=...]   (dry run: nothing is created)`,
		example: "explain prod yesterday tier=debug ttl=2h"},
	{kind: KindBackups, keyword: true, args: []arg{argSource, argMonth},
		usage: `/clone backups <source> [YYYY-MM]`, example: "backups prod 2024-04"},
	{kind: KindList, keyword: true, args: []arg{argAll}, usage: `/clone list [all]`, example: "list all"},
	{kind: KindStatus, keyword: true, args: []arg{argID}, usage: `/clone status <id>`, example: "status cl-7f3k2q"},
	{kind: KindExtend, keyword: true, args: []arg{argID, argDuration},
		usage: `/clone extend <id> <duration>   (like 2h, 90m, 1d)`, example: "extend cl-7f3k2q 90m"},
	{kind: KindDestroy, keyword: true, args: []arg{argID}, usage: `/clone destroy <id>`, example: "destroy cl-7f3k2q"},
	{kind: KindCancel, keyword: true, args: []arg{argID}, usage: `/clone cancel <id>`, example: "cancel cl-7f3k2q"},
	{kind: KindBreakGlass, keyword: true, args: []arg{argSource}, options: []string{"reason"}, check: needsReason,
		usage:   `/clone breakglass <source> reason="..."   (incident channels only)`,
		example: `breakglass prod reason="INC-4411 payments down"`},
	{kind: KindReport, keyword: true, args: []arg{argWindow}, usage: `/clone report [30d]`, example: "report 7d"},
	{kind: KindDestroyAll, keyword: true, args: []arg{argConfirm},
		misuse: "the kill switch destroys every active clone; type /clone destroy-all confirm to use it",
		usage:  `/clone destroy-all confirm   (admins only)`, example: "destroy-all confirm"},
	{kind: KindGolden, keyword: true, usage: `/clone golden   (the golden copies: age, state, what they serve)`, example: "golden"},
	{kind: KindRefresh, keyword: true, args: []arg{argSource, argLevel},
		usage: `/clone refresh <source> [full|partial]   (admins: rebuild its golden copies now)`, example: "refresh prod full"},
	{kind: KindHelp, keyword: true, usage: `/clone help`, example: "help"},
}

// arg is one positional argument of a command.
type arg struct {
	name    string                                     // as in the usage line: <source>, or [YYYY-MM] when it may be left out
	set     func(p parser, c *Command, s string) error // reads the typed word into c
	get     func(c Command) string                     // writes it back as typed; "" for an optional one left out
	missing func(c *Command)                           // if set, what leaving an optional argument out means
}

// optional reports whether the argument may be left out: its name is in brackets.
func (a arg) optional() bool { return strings.HasPrefix(a.name, "[") }

var (
	argSource = arg{name: "<source>",
		set: func(p parser, c *Command, s string) (err error) { c.Source, err = p.name("source", s); return err },
		get: func(c Command) string { return c.Source }}
	argDate = arg{name: "<date>",
		set: func(p parser, c *Command, s string) (err error) { c.Date, err = p.date(s); return err },
		get: func(c Command) string { return c.Date.String() }}
	argID = arg{name: "<id>",
		set: func(p parser, c *Command, s string) (err error) { c.ID, err = p.id(s); return err },
		get: func(c Command) string { return c.ID }}
	argDuration = arg{name: "<duration>",
		set: func(p parser, c *Command, s string) (err error) { c.Duration, err = p.duration(s); return err },
		get: func(c Command) string { return approvals.FormatDuration(c.Duration) }}
	argMonth = arg{name: "[YYYY-MM]", set: setMonth, get: func(c Command) string {
		if c.Month.IsZero() {
			return ""
		}
		return c.Month.Format("2006-01")
	}}
	argAll = arg{name: "[all]", set: func(p parser, c *Command, s string) error {
		if !strings.EqualFold(s, "all") {
			return p.errorf("%q: the only option of list is all", s)
		}
		c.All = true
		return nil
	}, get: func(c Command) string {
		if c.All {
			return "all"
		}
		return ""
	}}
	argWindow = arg{name: "[30d]",
		set:     func(p parser, c *Command, s string) (err error) { c.Window, err = p.duration(s); return err },
		missing: func(c *Command) { c.Window = DefaultReportWindow },
		get: func(c Command) string {
			if c.Window == DefaultReportWindow {
				return ""
			}
			return approvals.FormatDuration(c.Window)
		}}
	argLevel = arg{name: "[full|partial]", set: func(p parser, c *Command, s string) error {
		switch l := strings.ToLower(s); l {
		case string(approvals.MaskFull), string(approvals.MaskPartial):
			c.Level = l
			return nil
		}
		return p.errorf("%q: golden copies are of masking level full or partial", s)
	}, get: func(c Command) string { return c.Level }}
	argConfirm = arg{name: "confirm", set: func(p parser, _ *Command, s string) error {
		if !strings.EqualFold(s, "confirm") {
			return p.errorf("%s", p.spec.misuse)
		}
		return nil
	}, get: func(Command) string { return "confirm" }}
)

func setMonth(p parser, c *Command, s string) error {
	m, err := time.Parse("2006-01", s)
	if err != nil {
		return p.errorf("%q is not a month like 2024-05", s)
	}
	c.Month = m.UTC()
	return nil
}

func needsReason(p parser, c Command) error {
	if c.Reason == "" {
		return p.errorf(`break-glass needs a reason (the incident): reason="INC-123 ..."`)
	}
	return nil
}

// option is one key=value option; specs name the ones each command takes.
type option struct {
	set func(p parser, c *Command, v string) error // reads the typed value into c
	get func(c Command) string                     // writes the value back as typed; "" when not given
}

var optionSpecs = map[string]option{
	"tier": {
		set: func(p parser, c *Command, v string) (err error) { c.Tier, err = p.name("tier", v); return err },
		get: func(c Command) string { return c.Tier }},
	"ttl": {
		set: func(p parser, c *Command, v string) (err error) { c.TTL, err = p.duration(v); return err },
		get: func(c Command) string {
			if c.TTL <= 0 {
				return ""
			}
			return approvals.FormatDuration(c.TTL)
		}},
	"reason": {set: setReason, get: func(c Command) string {
		if c.Reason == "" {
			return ""
		}
		return quote(c.Reason)
	}},
}

func setReason(p parser, c *Command, v string) error {
	c.Reason = strings.TrimSpace(v)
	if n := utf8.RuneCountInString(c.Reason); n > MaxReasonLen {
		return p.errorf("the reason is %d characters; keep it under %d", n, MaxReasonLen)
	}
	return nil
}

// find returns the spec of a kind, or nil.
func find(k Kind) *spec {
	for i := range specs {
		if specs[i].kind == k {
			return &specs[i]
		}
	}
	return nil
}

// keyword returns the spec a first word names, or nil.
func keyword(word string) *spec {
	if s := find(Kind(strings.ToLower(word))); s != nil && s.keyword {
		return s
	}
	return nil
}

// Help returns the usage line of every command, in the order of the table.
func Help() []string {
	out := make([]string, 0, len(specs))
	for _, s := range specs {
		out = append(out, s.usage)
	}
	return out
}

// Kinds returns every kind of command, in the order help lists them.
func Kinds() []Kind {
	out := make([]Kind, 0, len(specs))
	for _, s := range specs {
		out = append(out, s.kind)
	}
	return out
}
