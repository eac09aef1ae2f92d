package audit

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// vectorEvent is the canonical form's test vector.
func vectorEvent() Event {
	return Event{
		ID: "1700000000000-0", Action: "requested", RequestID: "cl-7f3k2q", Actor: "U01ALICE", ActorName: "Alice",
		// fixed date: a test vector of the hash; no server sees it
		At:   time.Date(2023, 11, 14, 22, 13, 20, 123456000, time.UTC),
		Tier: "debug", Source: "prod", Channel: "C0INC",
		Details: map[string]string{"tier": "debug", "source": "prod", "reason": "INC-1 ünïcode", "ttl_ms": "14400000"},
	}
}

// TestCanonicalVector pins the canonical form and the hash: if this test changes, every
// existing chain stops verifying, so a new form needs a new format tag, not an edit.
func TestCanonicalVector(t *testing.T) {
	e := vectorEvent()
	var want strings.Builder
	field := func(s string) {
		n := len(s)
		want.Write([]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
		want.WriteString(s)
	}
	for _, s := range []string{"clonebot-audit/1", "1700000000000-0", "1700000000123456", "cl-7f3k2q", "U01ALICE", "Alice",
		"requested", "debug", "prod", "C0INC", "4", "reason", "INC-1 ünïcode", "source", "prod", "tier", "debug", "ttl_ms", "14400000"} {
		field(s)
	}
	if got := string(Canonical(e)); got != want.String() {
		t.Fatalf("canonical form\n got %q\nwant %q", got, want.String())
	}
	const wantHash = "559b379645cea7941c542c8fe8339797f7541150ce59c516e5e036c972ca6c18" // also computed with Python's hashlib
	if got := ChainHash(Hash{}, e).String(); got != wantHash {
		t.Fatalf("hash of the vector = %s, want %s", got, wantHash)
	}
}

// TestHashCoversEveryField: changing any field, any detail, or the previous hash changes the
// hash; moving bytes between adjacent fields does too (the lengths).
func TestHashCoversEveryField(t *testing.T) {
	base := ChainHash(Hash{}, vectorEvent())
	tests := []struct {
		name   string
		change func(*Event)
	}{
		{"id", func(e *Event) { e.ID += "x" }},
		{"at, one microsecond", func(e *Event) { e.At = e.At.Add(time.Microsecond) }},
		{"request", func(e *Event) { e.RequestID = "cl-other0" }},
		{"actor", func(e *Event) { e.Actor = "U01MALLORY" }},
		{"actor name", func(e *Event) { e.ActorName = "" }},
		{"action", func(e *Event) { e.Action = "voted" }},
		{"tier", func(e *Event) { e.Tier = "dev" }},
		{"source", func(e *Event) { e.Source = "staging" }},
		{"channel", func(e *Event) { e.Channel = "" }},
		{"detail value", func(e *Event) { e.Details["reason"] = "INC-2" }},
		{"detail added", func(e *Event) { e.Details["x"] = "" }},
		{"detail removed", func(e *Event) { delete(e.Details, "ttl_ms") }},
		{"bytes moved between fields", func(e *Event) { e.Tier, e.Source = "debugp", "rod" }},
		{"bytes moved between key and value", func(e *Event) { delete(e.Details, "tier"); e.Details["tierd"] = "ebug" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := vectorEvent()
			tt.change(&e)
			if ChainHash(Hash{}, e) == base {
				t.Fatal("hash unchanged")
			}
		})
	}
	if ChainHash(Hash{1}, vectorEvent()) == base {
		t.Fatal("hash does not cover the previous hash")
	}
}

func TestNormalize(t *testing.T) {
	e := Normalize(Event{ID: "1-0", Actor: "U\x00X", Details: map[string]string{"reason": "bad \xff byte"},
		At: time.Unix(10, 123456789).In(time.FixedZone("X", 3600))})
	if e.Actor != "U\uFFFDX" || e.Details["reason"] != "bad \uFFFD byte" {
		t.Fatalf("strings not cleaned: %q %q", e.Actor, e.Details["reason"])
	}
	if e.At.Location() != time.UTC || e.At.Nanosecond() != 123456000 {
		t.Fatalf("time %v: want UTC, to the microsecond", e.At)
	}
}

func TestParseAnchor(t *testing.T) {
	h := ChainHash(Hash{}, vectorEvent())
	tests := []struct {
		give    string
		want    Head
		wantErr bool
	}{
		{give: "12:" + h.String(), want: Head{12, h}},
		{give: " 12:" + strings.ToUpper(h.String()) + "\n", want: Head{12, h}},
		{give: h.String(), wantErr: true},
		{give: "0:" + h.String(), wantErr: true},
		{give: "-3:" + h.String(), wantErr: true},
		{give: "x:" + h.String(), wantErr: true},
		{give: "12:" + h.String()[:60], wantErr: true},
		{give: "12:zz" + h.String()[2:], wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			got, err := ParseAnchor(tt.give)
			if tt.wantErr {
				if !errors.Is(err, ErrBadAnchor) {
					t.Fatalf("err = %v, want ErrBadAnchor", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %v, %v; want %v", got, err, tt.want)
			}
			if back, _ := ParseAnchor(got.String()); back != got {
				t.Fatalf("round trip: %v", back)
			}
		})
	}
}
