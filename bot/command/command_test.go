package command

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2024, 5, 10, 15, 4, 5, 0, time.UTC)

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		give string
		want Command
	}{
		{"empty opens the modal", "", Command{Kind: KindModal}},
		{"blank opens the modal", "  \t ", Command{Kind: KindModal}},
		{"request by day", "prod 2024-05-01", Command{Kind: KindRequest, Source: "prod", Date: Date{At: day(2024, 5, 1)}}},
		{"request latest", "prod latest", Command{Kind: KindRequest, Source: "prod", Date: Date{Latest: true}}},
		{"request yesterday", "prod yesterday", Command{Kind: KindRequest, Source: "prod", Date: Date{At: day(2024, 5, 9)}}},
		{"request point in time", "prod 2024-05-01T13:45:00+02:00", Command{Kind: KindRequest, Source: "prod",
			Date: Date{At: time.Date(2024, 5, 1, 11, 45, 0, 0, time.UTC), PointInTime: true}}},
		{"request with options", `prod 2024-05-01 tier=staging ttl=4h reason="debug INC-1 \"slow\" query"`, Command{Kind: KindRequest,
			Source: "prod", Date: Date{At: day(2024, 5, 1)}, Tier: "staging", TTL: 4 * time.Hour, Reason: `debug INC-1 "slow" query`}},
		{"smart quotes", "prod latest reason=“it’s broken”", Command{Kind: KindRequest, Source: "prod", Date: Date{Latest: true}, Reason: "it’s broken"}},
		{"single quotes", "prod latest reason='a b'", Command{Kind: KindRequest, Source: "prod", Date: Date{Latest: true}, Reason: "a b"}},
		{"case folded", "PROD Latest TIER=Dev TTL=90M", Command{Kind: KindRequest, Source: "prod", Date: Date{Latest: true}, Tier: "dev", TTL: 90 * time.Minute}},
		{"explain", "explain prod latest tier=debug ttl=2h", Command{Kind: KindExplain, Source: "prod", Date: Date{Latest: true}, Tier: "debug", TTL: 2 * time.Hour}},
		{"backups", "backups prod", Command{Kind: KindBackups, Source: "prod"}},
		{"backups of a month", "backups prod 2024-04", Command{Kind: KindBackups, Source: "prod", Month: day(2024, 4, 1)}},
		{"list", "list", Command{Kind: KindList}},
		{"list all", "list all", Command{Kind: KindList, All: true}},
		{"status", "status cl-7f3k2q", Command{Kind: KindStatus, ID: "cl-7f3k2q"}},
		{"extend", "extend cl-7f3k2q 1d12h", Command{Kind: KindExtend, ID: "cl-7f3k2q", Duration: 36 * time.Hour}},
		{"destroy", "destroy CL-7F3K2Q", Command{Kind: KindDestroy, ID: "cl-7f3k2q"}},
		{"cancel", "cancel cl-7f3k2q", Command{Kind: KindCancel, ID: "cl-7f3k2q"}},
		{"breakglass", `breakglass prod reason="INC-4411 payments down"`, Command{Kind: KindBreakGlass, Source: "prod", Reason: "INC-4411 payments down"}},
		{"report default", "report", Command{Kind: KindReport, Window: 30 * 24 * time.Hour}},
		{"report 7d", "report 7d", Command{Kind: KindReport, Window: 7 * 24 * time.Hour}},
		{"destroy-all", "destroy-all confirm", Command{Kind: KindDestroyAll}},
		{"help", "help", Command{Kind: KindHelp}},
		{"reason keeps = and escapes", `prod latest reason="a=b \\ c"`, Command{Kind: KindRequest, Source: "prod", Date: Date{Latest: true}, Reason: `a=b \ c`}},
		{"unquoted reason word", "prod latest reason=oops", Command{Kind: KindRequest, Source: "prod", Date: Date{Latest: true}, Reason: "oops"}},
		{"today is allowed", "prod 2024-05-10", Command{Kind: KindRequest, Source: "prod", Date: Date{At: day(2024, 5, 10)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.give, now)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.give, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Parse(%q)\n got %+v\nwant %+v", tt.give, got, tt.want)
			}
			again, err := Parse(got.String(), now)
			if err != nil || !reflect.DeepEqual(again, got) {
				t.Fatalf("reparse of %q: %+v, %v", got.String(), again, err)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name      string
		give      string
		wantMsg   string
		wantUsage string // a fragment of the usage carried
	}{
		{"unknown command", "lst", `"lst" is not a command`, "/clone help"},
		{"unknown symbol", "$$", `"$$" is not a command`, "/clone list"},
		{"missing date", "explain prod", "explain needs <source> <date>", "/clone explain"},
		{"bad date", "prod 2024-13-01", "is not a date", "YYYY-MM-DD"},
		{"future date", "prod 2024-05-11", "in the future", "/clone <source>"},
		{"future time", "prod 2024-05-10T16:00:00Z", "in the future", "/clone <source>"},
		{"unknown option", "prod latest size=big", "unknown option size=; request takes tier= ttl= reason=", "/clone <source>"},
		{"explain has no reason", `explain prod latest reason="x"`, "unknown option reason=", "/clone explain"},
		{"twice", "prod latest ttl=1h ttl=2h", "ttl= is given twice", ""},
		{"bad ttl", "prod latest ttl=forever", `"forever" is not a duration`, ""},
		{"zero ttl", "prod latest ttl=0h", "must be longer than zero", ""},
		{"huge ttl", "prod latest ttl=99999d", "too long", ""},
		{"unclosed quote", `prod latest reason="abc`, "a quote is not closed", "/clone help"},
		{"text after quote", `prod latest reason="abc"def`, "unexpected text after a closing quote", ""},
		{"argument after option", "prod tier=dev latest", "put options (key=value) last", ""},
		{"breakglass needs reason", "breakglass prod", "break-glass needs a reason", "/clone breakglass"},
		{"breakglass blank reason", `breakglass prod reason="  "`, "break-glass needs a reason", ""},
		{"bad id", "status 42", "is not a request id", "/clone status <id>"},
		{"extend needs duration", "extend cl-7f3k2q", "extend needs <id> <duration>", "/clone extend"},
		{"list what", "list mine", "the only option of list is all", ""},
		{"destroy-all needs confirm", "destroy-all", "type /clone destroy-all confirm", ""},
		{"help takes nothing", "help me", `unexpected "me"`, ""},
		{"too many args", "status cl-7f3k2q now", `unexpected "now"`, ""},
		{"bad month", "backups prod may", "is not a month", ""},
		{"bad source", "explain pr!od latest", "is not a source name", ""},
		{"options with no name", "prod latest =x", "needs a name before =", ""},
		{"list takes no options", "list tier=dev", "list takes no options", ""},
		{"long reason", `prod latest reason="` + strings.Repeat("x", MaxReasonLen+1) + `"`, "keep it under", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.give, now)
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("Parse(%q) = %v, want *Error", tt.give, err)
			}
			if !strings.Contains(pe.Msg, tt.wantMsg) {
				t.Fatalf("message %q does not contain %q", pe.Msg, tt.wantMsg)
			}
			if len(pe.Usage) == 0 || !strings.Contains(strings.Join(pe.Usage, "\n"), tt.wantUsage) {
				t.Fatalf("usage %q does not contain %q", pe.Usage, tt.wantUsage)
			}
		})
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		give string
		want time.Duration
	}{
		{"4h", 4 * time.Hour}, {"90m", 90 * time.Minute}, {"2d", 48 * time.Hour}, {"1h30m", 90 * time.Minute}, {"1D", 24 * time.Hour},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.give)
		if err != nil || got != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tt.give, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "h", "4", "4s", "-4h", "4h-", "1.5h"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) succeeded", bad)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"", "prod latest", `prod 2024-05-01 tier=staging ttl=4h reason="a \"b\" c"`, "explain prod yesterday",
		"backups prod 2024-04", "list all", "status cl-7f3k2q", "extend cl-7f3k2q 90m", `breakglass prod reason=“x”`,
		"report 7d", "destroy-all confirm", "help", "prod 2024-05-01T13:45:00.5+02:00", `prod latest reason='it\'s'`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Parse(s, now)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) || len(pe.Usage) == 0 {
				t.Fatalf("Parse(%q) error without usage: %v", s, err)
			}
			return
		}
		again, err := Parse(c.String(), now)
		if err != nil {
			t.Fatalf("Parse(%q) = %+v; reparse of %q: %v", s, c, c.String(), err)
		}
		if !reflect.DeepEqual(again, c) {
			t.Fatalf("Parse(%q) = %+v; reparse of %q = %+v", s, c, c.String(), again)
		}
	})
}
