package apikey

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// fixed date: no server sees these times
var t0 = time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC)

func TestNewTokenChecksOnlyAgainstItsKey(t *testing.T) {
	k, tok, err := New(Spec{Name: "nightly", Principal: "service:ci", Scopes: []Scope{ScopeRead, ScopeClone}}, t0)
	if err != nil {
		t.Fatal(err)
	}
	other, otherTok, err := New(Spec{Name: "other", Principal: "U1", Scopes: []Scope{ScopeRead}}, t0)
	if err != nil {
		t.Fatal(err)
	}
	id, err := ParseToken(tok.Reveal())
	if err != nil || id != k.ID || k.Owner != "service:ci" || k.Actor() != "api:"+k.ID {
		t.Fatalf("ParseToken = %q, %v; key %+v", id, err, k)
	}
	if strings.Contains(k.Hash, tok.Reveal()) || len(k.Hash) != 64 {
		t.Fatalf("hash %q", k.Hash)
	}
	tests := []struct {
		name  string
		key   *Key
		token string
		at    time.Time
		want  error
	}{
		{"right", k, tok.Reveal(), t0, nil},
		{"another key's token", k, otherTok.Reveal(), t0, ErrInvalid},
		{"its own token on the other key", other, tok.Reveal(), t0, ErrInvalid},
		{"one character changed", k, changeLast(tok.Reveal()), t0, ErrInvalid},
		{"empty", k, "", t0, ErrInvalid},
	}
	for _, tt := range tests {
		if err := tt.key.Check(tt.token, tt.at); !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Errorf("%s: Check = %v, want %v", tt.name, err, tt.want)
		}
	}
}

// changeLast returns token with its last character changed.
func changeLast(token string) string {
	last := "A"
	if strings.HasSuffix(token, last) {
		last = "B"
	}
	return token[:len(token)-1] + last
}

func TestRevokedAndExpiredAreToldOnlyToTheHolder(t *testing.T) {
	k, tok, err := New(Spec{Name: "n", Principal: "U1", Scopes: []Scope{ScopeRead}, ExpiresAt: t0.Add(time.Hour)}, t0)
	if err != nil {
		t.Fatal(err)
	}
	_, stranger, _ := New(Spec{Name: "s", Principal: "U2", Scopes: []Scope{ScopeRead}}, t0)
	if err := k.Check(tok.Reveal(), t0.Add(time.Hour)); !errors.Is(err, ErrExpired) || k.State(t0.Add(time.Hour)) != "expired" {
		t.Fatalf("at expiry: %v", err)
	}
	if err := k.Check(tok.Reveal(), t0.Add(time.Hour-time.Millisecond)); err != nil {
		t.Fatalf("just before expiry: %v", err)
	}
	k.RevokedAt = t0.Add(time.Minute)
	if err := k.Check(tok.Reveal(), t0.Add(2*time.Minute)); !errors.Is(err, ErrRevoked) || k.State(t0) != "revoked" {
		t.Fatalf("revoked: %v", err)
	}
	if err := k.Check(stranger.Reveal(), t0.Add(2*time.Minute)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a stranger's token on a revoked key: %v, want ErrInvalid", err)
	}
}

func TestTokenPrintsWithoutItsSecret(t *testing.T) {
	k, tok, err := New(Spec{Name: "n", Principal: "U1", Scopes: []Scope{ScopeRead}}, t0)
	if err != nil {
		t.Fatal(err)
	}
	_, secret, _ := strings.Cut(strings.TrimPrefix(tok.Reveal(), "cbk_"), "_")
	text, _ := tok.MarshalText()
	for _, s := range []string{fmt.Sprint(tok), fmt.Sprintf("%v %+v %#v %s", tok, tok, tok, tok), string(text)} {
		if strings.Contains(s, secret) || !strings.Contains(s, k.ID) {
			t.Errorf("printed %q", s)
		}
	}
}

func TestParseToken(t *testing.T) {
	good := "cbk_abcdefghjk_" + strings.Repeat("A", 43)
	tests := []struct {
		give    string
		wantErr bool
	}{
		{good, false},
		{"Bearer " + good, true},
		{"cbk_abcdefghj_" + strings.Repeat("A", 43), true},  // short id
		{"cbk_abcdefghjl_" + strings.Repeat("A", 43), true}, // l is not in the alphabet
		{"cbk_abcdefghjk_" + strings.Repeat("A", 42), true}, // short secret
		{"cbk_abcdefghjk" + strings.Repeat("A", 44), true},  // no separator
		{"xoxb-" + strings.Repeat("1", 50), true},
		{"", true},
	}
	for _, tt := range tests {
		if _, err := ParseToken(tt.give); (err != nil) != tt.wantErr || (err != nil && !errors.Is(err, ErrMalformed)) {
			t.Errorf("ParseToken(%q) = %v", tt.give, err)
		}
	}
}

func TestScopes(t *testing.T) {
	tests := []struct {
		give    string
		want    string
		wantErr bool
	}{
		{"read", "read", false},
		{"clone, read", "read,clone", false},
		{"admin,read,clone,read", "read,clone,admin", false},
		{"write", "", true},
		{"", "", true},
		{"read,", "", true},
	}
	for _, tt := range tests {
		got, err := ParseScopes(tt.give)
		if (err != nil) != tt.wantErr || JoinScopes(got) != tt.want {
			t.Errorf("ParseScopes(%q) = %v, %v", tt.give, got, err)
		}
	}
	k := &Key{Scopes: []Scope{ScopeRead}}
	if !k.Allows(ScopeRead) || k.Allows(ScopeClone) || k.Allows(ScopeAdmin) {
		t.Error("Allows")
	}
}

func TestNewRefusesIncompleteSpecs(t *testing.T) {
	ok := Spec{Name: "n", Principal: "U1", Scopes: []Scope{ScopeRead}}
	tests := []struct {
		name string
		edit func(*Spec)
	}{
		{"no name", func(s *Spec) { s.Name = " " }},
		{"no principal", func(s *Spec) { s.Principal = "" }},
		{"no scopes", func(s *Spec) { s.Scopes = nil }},
		{"expiry in the past", func(s *Spec) { s.ExpiresAt = t0.Add(-time.Second) }},
	}
	for _, tt := range tests {
		s := ok
		tt.edit(&s)
		if _, _, err := New(s, t0); err == nil {
			t.Errorf("%s: accepted", tt.name)
		}
	}
}
