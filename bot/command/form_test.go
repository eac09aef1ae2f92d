package command

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseForm(t *testing.T) {
	tests := []struct {
		name string
		give Form
		want Command
	}{
		{"every field", Form{Source: "prod", Date: "2024-05-01", Tier: "staging", TTL: "4h", Reason: "debug INC-1"},
			Command{Kind: KindRequest, Source: "prod", Date: Date{At: day(2024, 5, 1)}, Tier: "staging", TTL: 4 * time.Hour, Reason: "debug INC-1"}},
		{"empty date is the latest", Form{Source: "prod"}, Command{Kind: KindRequest, Source: "prod", Date: Date{Latest: true}}},
		{"blank date is the latest", Form{Source: "prod", Date: "  "}, Command{Kind: KindRequest, Source: "prod", Date: Date{Latest: true}}},
		{"yesterday", Form{Source: "prod", Date: " yesterday "}, Command{Kind: KindRequest, Source: "prod", Date: Date{At: day(2024, 5, 9)}}},
		{"point in time", Form{Source: "prod", Date: "2024-05-01T13:45:00+02:00"}, Command{Kind: KindRequest, Source: "prod",
			Date: Date{At: time.Date(2024, 5, 1, 11, 45, 0, 0, time.UTC), PointInTime: true}}},
		{"case folded", Form{Source: "PROD", Date: "Latest", Tier: "Dev", TTL: "90M"},
			Command{Kind: KindRequest, Source: "prod", Date: Date{Latest: true}, Tier: "dev", TTL: 90 * time.Minute}},
		{"the reason is free text", Form{Source: "prod", Reason: "  needs \"quotes\" tier=debug\nand lines \\ "},
			Command{Kind: KindRequest, Source: "prod", Date: Date{Latest: true}, Reason: "needs \"quotes\" tier=debug\nand lines \\"}},
		{"a keyword is a source", Form{Source: "list", Date: "latest"}, Command{Kind: KindRequest, Source: "list", Date: Date{Latest: true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseForm(tt.give, now)
			if err != nil {
				t.Fatalf("ParseForm(%+v): %v", tt.give, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ParseForm(%+v)\n got %+v\nwant %+v", tt.give, got, tt.want)
			}
		})
	}
}

func TestParseFormErrors(t *testing.T) {
	tests := []struct {
		name    string
		give    Form
		wantMsg string
	}{
		{"no source", Form{Date: "latest"}, "choose a source"},
		{"an option in the date", Form{Source: "prod", Date: "latest tier=staging"}, `the date field takes one word, not "latest tier=staging"`},
		{"an option in the source", Form{Source: "prod ttl=99d"}, "the source field takes one word"},
		{"an option in the tier", Form{Source: "prod", Tier: "dev=x"}, "the tier field takes one word"},
		{"a quote in the ttl", Form{Source: "prod", TTL: `4h"`}, "the ttl field takes one word"},
		{"bad source", Form{Source: "pr!od"}, `"pr!od" is not a source name`},
		{"bad date", Form{Source: "prod", Date: "2024-13-01"}, "is not a date"},
		{"future date", Form{Source: "prod", Date: "2024-05-11"}, "in the future"},
		{"bad tier", Form{Source: "prod", Tier: "st@ging"}, "is not a tier name"},
		{"bad ttl", Form{Source: "prod", TTL: "forever"}, `"forever" is not a duration`},
		{"zero ttl", Form{Source: "prod", TTL: "0h"}, "must be longer than zero"},
		{"long reason", Form{Source: "prod", Reason: strings.Repeat("x", MaxReasonLen+1)}, "keep it under"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseForm(tt.give, now)
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("ParseForm(%+v) = %v, want *Error", tt.give, err)
			}
			if !strings.Contains(pe.Msg, tt.wantMsg) {
				t.Fatalf("message %q does not contain %q", pe.Msg, tt.wantMsg)
			}
			if !reflect.DeepEqual(pe.Usage, []string{find(KindRequest).usage}) {
				t.Fatalf("usage %q, want the request's", pe.Usage)
			}
		})
	}
}

// FuzzParseForm: whatever the fields hold, a form makes a request or a clear error, and a value
// reaches the command only through its own field.
func FuzzParseForm(f *testing.F) {
	f.Add("prod", "latest", "", "", "")
	f.Add("prod", "latest tier=staging", "", "", "")
	f.Add("prod ttl=99d", "yesterday", "dev", "2h", "")
	f.Add("prod", "2024-05-01", "debug", "90m", `x" tier="debug`)
	f.Add("prod", "", "", "", "reason=\"a\" ttl=1h")
	f.Fuzz(func(t *testing.T, source, date, tier, ttl, reason string) {
		c, err := ParseForm(Form{Source: source, Date: date, Tier: tier, TTL: ttl, Reason: reason}, now)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) || len(pe.Usage) != 1 {
				t.Fatalf("error without the request's usage: %v", err)
			}
			return
		}
		switch {
		case c.Kind != KindRequest:
			t.Fatalf("the form made a %s", c.Kind)
		case c.Source != strings.ToLower(strings.TrimSpace(source)):
			t.Fatalf("source %q from the field %q", c.Source, source)
		case c.Tier != strings.ToLower(strings.TrimSpace(tier)):
			t.Fatalf("tier %q from the field %q", c.Tier, tier)
		case (c.TTL != 0) != (strings.TrimSpace(ttl) != ""):
			t.Fatalf("ttl %v from the field %q", c.TTL, ttl)
		case c.Reason != strings.TrimSpace(reason):
			t.Fatalf("reason %q from the field %q", c.Reason, reason)
		}
	})
}
