package api

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/clonebot/clonebot/bot/command"
	"github.com/clonebot/clonebot/handlers"
)

// fixed date: the decoder only compares dates with it; no server sees it
var now = time.Date(2026, 3, 20, 12, 0, 0, 0, time.UTC)

func decodeCreate(body string) (handlers.CloneInput, error) {
	var b createBody
	if err := decodeJSON([]byte(body), &b); err != nil {
		return handlers.CloneInput{}, err
	}
	return b.cloneInput(now)
}

func TestDecodeCreate(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		want      handlers.CloneInput
		wantProb  string // "" for none
		wantField string
	}{
		{"minimal", `{"source":"prod"}`, handlers.CloneInput{Source: "prod", When: handlers.When{Latest: true}}, "", ""},
		{"everything", `{"source":"prod","date":"2026-03-19","tier":"staging","ttl":"90m","reason":"nightly \"tests\""}`,
			handlers.CloneInput{Source: "prod", When: handlers.When{At: now.Truncate(24*time.Hour).AddDate(0, 0, -1)}, Tier: "staging", TTL: 90 * time.Minute, Reason: `nightly "tests"`}, "", ""},
		{"point in time", `{"source":"prod","date":"2026-03-20T10:15:00+02:00"}`,
			handlers.CloneInput{Source: "prod", When: handlers.When{At: time.Date(2026, 3, 20, 8, 15, 0, 0, time.UTC), PointInTime: true}}, "", ""},
		{"latest", `{"source":"prod","date":"latest","ttl":"2d"}`, handlers.CloneInput{Source: "prod", When: handlers.When{Latest: true}, TTL: 48 * time.Hour}, "", ""},
		{"empty body", ``, handlers.CloneInput{}, "malformed", ""},
		{"not JSON", `source=prod`, handlers.CloneInput{}, "malformed", ""},
		{"truncated", `{"source":"prod"`, handlers.CloneInput{}, "malformed", ""},
		{"an array", `[{"source":"prod"}]`, handlers.CloneInput{}, "malformed", ""},
		{"unknown field", `{"source":"prod","tierr":"dev"}`, handlers.CloneInput{}, "malformed", "tierr"},
		{"wrong type", `{"source":"prod","ttl":4}`, handlers.CloneInput{}, "malformed", "ttl"},
		{"two objects", `{"source":"prod"}{"source":"prod"}`, handlers.CloneInput{}, "malformed", ""},
		{"no source", `{"tier":"dev"}`, handlers.CloneInput{}, "invalid", "source"},
		{"bad source", `{"source":"Prod DB"}`, handlers.CloneInput{}, "invalid", "source"},
		{"long source", `{"source":"` + strings.Repeat("a", 65) + `"}`, handlers.CloneInput{}, "invalid", "source"},
		{"bad tier", `{"source":"prod","tier":"@channel"}`, handlers.CloneInput{}, "invalid", "tier"},
		{"bad date", `{"source":"prod","date":"yesterday-ish"}`, handlers.CloneInput{}, "invalid", "date"},
		{"future day", `{"source":"prod","date":"2026-03-21"}`, handlers.CloneInput{}, "invalid", "date"},
		{"future time", `{"source":"prod","date":"2026-03-20T12:00:01Z"}`, handlers.CloneInput{}, "invalid", "date"},
		{"before 1970", `{"source":"prod","date":"1969-12-31"}`, handlers.CloneInput{}, "invalid", "date"},
		{"bad ttl", `{"source":"prod","ttl":"4 hours"}`, handlers.CloneInput{}, "invalid", "ttl"},
		{"zero ttl", `{"source":"prod","ttl":"0h"}`, handlers.CloneInput{}, "invalid", "ttl"},
		{"long reason", `{"source":"prod","reason":"` + strings.Repeat("é", command.MaxReasonLen+1) + `"}`, handlers.CloneInput{}, "invalid", "reason"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeCreate(tt.body)
			var ie *inputError
			switch {
			case tt.wantProb == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.wantProb == "" && (got.Source != tt.want.Source || got.Tier != tt.want.Tier || got.TTL != tt.want.TTL ||
				got.Reason != tt.want.Reason || got.When.Latest != tt.want.When.Latest || !got.When.At.Equal(tt.want.When.At) ||
				got.When.PointInTime != tt.want.When.PointInTime):
				t.Fatalf("got %+v\nwant %+v", got, tt.want)
			case tt.wantProb != "" && !errors.As(err, &ie):
				t.Fatalf("err = %v, want an input error", err)
			case tt.wantProb != "" && (ie.prob.Type != tt.wantProb || ie.field != tt.wantField || ie.msg == ""):
				t.Fatalf("problem %s field %q (%v), want %s field %q", ie.prob.Type, ie.field, ie, tt.wantProb, tt.wantField)
			}
		})
	}
}

func TestDecodePatch(t *testing.T) {
	tests := []struct {
		body    string
		want    patch
		wantErr string
	}{
		{`{"extend_by":"2h"}`, patch{ExtendBy: 2 * time.Hour}, ""},
		{`{"expires_in":"30m"}`, patch{ExpiresIn: 30 * time.Minute}, ""},
		{`{}`, patch{}, "give extend_by"},
		{`{"extend_by":"2h","expires_in":"1h"}`, patch{}, "not both"},
		{`{"extend_by":"-2h"}`, patch{}, "not a duration"},
		{`{"ttl":"2h"}`, patch{}, `unknown field "ttl"`},
	}
	for _, tt := range tests {
		var b patchBody
		err := decodeJSON([]byte(tt.body), &b)
		var got patch
		if err == nil {
			got, err = b.patch()
		}
		if tt.wantErr == "" && (err != nil || got != tt.want) || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%s: %+v, %v; want %+v, %q", tt.body, got, err, tt.want, tt.wantErr)
		}
	}
}

// FuzzDecodeCreate: whatever the body, decoding never panics, and what it accepts is a
// request the use cases can take: a valid source, a date not in the future, a TTL that is
// zero (the tier's default) or whole positive minutes, a reason within its limit, and the same
// request again when the accepted body is encoded back and decoded.
func FuzzDecodeCreate(f *testing.F) {
	for _, s := range []string{`{"source":"prod"}`, `{"source":"prod","date":"2026-03-19","tier":"staging","ttl":"90m","reason":"x"}`,
		`{"source":"prod","date":"2026-03-20T10:15:00+02:00"}`, `{"source":"a","ttl":"1d12h"}`, `[]`, `{"source":1}`, `{"source":"prod"} x`, ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var b createBody
		if err := decodeJSON(body, &b); err != nil {
			assertInputError(t, err)
			return
		}
		in, err := b.cloneInput(now)
		if err != nil {
			assertInputError(t, err)
			return
		}
		switch {
		case !validName(in.Source):
			t.Fatalf("accepted source %q", in.Source)
		case in.Tier != "" && !validName(in.Tier):
			t.Fatalf("accepted tier %q", in.Tier)
		case in.When.At.After(now):
			t.Fatalf("accepted a future date %v", in.When.At)
		case in.TTL < 0 || in.TTL%time.Minute != 0:
			t.Fatalf("accepted ttl %v", in.TTL)
		case !utf8.ValidString(in.Reason) || utf8.RuneCountInString(in.Reason) > command.MaxReasonLen:
			t.Fatalf("accepted reason of %d runes", utf8.RuneCountInString(in.Reason))
		}
		again, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		var b2 createBody
		if err := decodeJSON(again, &b2); err != nil {
			t.Fatalf("re-encoded body %s refused: %v", again, err)
		}
		in2, err := b2.cloneInput(now)
		if err != nil || fingerprint(in2) != fingerprint(in) {
			t.Fatalf("re-encoded body %s decodes to %+v (%v), not %+v", again, in2, err, in)
		}
	})
}

// FuzzDecodePatch: never panics; an accepted body has exactly one positive duration.
func FuzzDecodePatch(f *testing.F) {
	for _, s := range []string{`{"extend_by":"2h"}`, `{"expires_in":"30m"}`, `{}`, `{"extend_by":"1h","expires_in":"1h"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var b patchBody
		if err := decodeJSON(body, &b); err != nil {
			assertInputError(t, err)
			return
		}
		p, err := b.patch()
		if err != nil {
			assertInputError(t, err)
			return
		}
		if (p.ExtendBy > 0) == (p.ExpiresIn > 0) || p.ExtendBy < 0 || p.ExpiresIn < 0 {
			t.Fatalf("accepted %+v", p)
		}
	})
}

func assertInputError(t *testing.T, err error) {
	t.Helper()
	var ie *inputError
	if !errors.As(err, &ie) || ie.msg == "" || (ie.prob.Status != 400 && ie.prob.Status != 422) {
		t.Fatalf("refusal %v is not an input error with a message", err)
	}
}
