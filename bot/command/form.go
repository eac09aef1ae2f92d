package command

import (
	"strings"
	"time"
	"unicode"
)

// Form is the request form as submitted: the text of each field, "" when left empty.
type Form struct {
	Source, Date, Tier, TTL, Reason string
}

// ParseForm reads the request form into a request, field by field, with the checks a typed
// request's arguments and options get (the source's and tier's names, the date, the ttl, the
// reason's length). Each value reaches only its own field, so none can carry an option; the
// one-word fields (all but the reason) holding a space, = or quote are refused by name. An
// empty date is the latest backup. Every failure is an *Error carrying the request's usage.
func ParseForm(f Form, now time.Time) (Command, error) {
	p := parser{spec: find(KindRequest), now: now.UTC()}
	f.Source, f.Date, f.Tier, f.TTL = strings.TrimSpace(f.Source), strings.TrimSpace(f.Date), strings.TrimSpace(f.Tier), strings.TrimSpace(f.TTL)
	if f.Date == "" {
		f.Date = "latest"
	}
	fields := []struct {
		name, value string
		set         func(p parser, c *Command, s string) error
		oneWord     bool
	}{
		{"source", f.Source, argSource.set, true},
		{"date", f.Date, argDate.set, true},
		{"tier", f.Tier, optionSpecs["tier"].set, true},
		{"ttl", f.TTL, optionSpecs["ttl"].set, true},
		{"reason", f.Reason, optionSpecs["reason"].set, false},
	}
	for _, fl := range fields {
		if fl.oneWord && strings.ContainsFunc(fl.value, func(r rune) bool { return unicode.IsSpace(r) || r == '=' || r == '"' }) {
			return Command{}, p.errorf("the %s field takes one word, not %q", fl.name, fl.value)
		}
	}
	if f.Source == "" {
		return Command{}, p.errorf("choose a source")
	}
	c := Command{Kind: KindRequest}
	for _, fl := range fields {
		if fl.value == "" {
			continue
		}
		if err := fl.set(p, &c, fl.value); err != nil {
			return Command{}, err
		}
	}
	return c, nil
}
