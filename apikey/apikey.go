package apikey

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Errors of a token that does not authenticate; callers match them with errors.Is.
var (
	ErrMalformed = errors.New("not a clonebot API key")         // the token is not of the form cbk_<id>_<secret>
	ErrInvalid   = errors.New("unknown or wrong API key")       // no key has that id, or the secret is wrong
	ErrRevoked   = errors.New("API key revoked")                // the right secret of a revoked key
	ErrExpired   = errors.New("API key expired")                // the right secret of an expired key
	ErrExists    = errors.New("an API key with this id exists") // the store refuses a second record with an id
)

// Scope is what a key may be used for, on top of what its principal may do under the policy.
type Scope string

const (
	ScopeRead  Scope = "read"  // list backups, list and watch clones
	ScopeClone Scope = "clone" // request (and dry-run), change the expiry of, destroy and cancel clones
	ScopeAdmin Scope = "admin" // what only admins may: every principal's clones (the principal must be an admin too)
)

// Scopes are every scope, in the order they are written.
var Scopes = []Scope{ScopeRead, ScopeClone, ScopeAdmin}

// ParseScopes reads a comma-separated list of scopes ("read,clone").
func ParseScopes(s string) ([]Scope, error) {
	var out []Scope
	for _, f := range strings.Split(s, ",") {
		sc := Scope(strings.TrimSpace(f))
		if !slices.Contains(Scopes, sc) {
			return nil, fmt.Errorf("%q is not a scope: use read, clone or admin, separated by commas", sc)
		}
		if !slices.Contains(out, sc) {
			out = append(out, sc)
		}
	}
	slices.SortFunc(out, func(a, b Scope) int { return slices.Index(Scopes, a) - slices.Index(Scopes, b) })
	return out, nil
}

// JoinScopes writes scopes as ParseScopes reads them.
func JoinScopes(scopes []Scope) string {
	parts := make([]string, len(scopes))
	for i, s := range scopes {
		parts[i] = string(s)
	}
	return strings.Join(parts, ",")
}

// Key is the record of an API key. It never holds the token, only its hash.
type Key struct {
	ID        string
	Name      string // what it is for ("nightly integration tests")
	Principal string // who it acts for: a Slack user ID, or a service identity ("service:<name>")
	Owner     string // who answers for it (a person or a team); the principal when not given
	Scopes    []Scope
	Hash      string // hex SHA-256 of the token
	CreatedAt time.Time
	CreatedBy string    // who made it (the operating-system user that ran clonebot apikey create)
	ExpiresAt time.Time // zero: never
	RevokedAt time.Time // zero: not revoked
}

// Actor is how the key is named as the actor of what it does, in timelines and the audit log.
func (k *Key) Actor() string { return "api:" + k.ID }

// Allows reports whether the key has scope s.
func (k *Key) Allows(s Scope) bool { return slices.Contains(k.Scopes, s) }

// Expired reports whether the key's expiry has passed at now.
func (k *Key) Expired(now time.Time) bool { return !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt) }

// State says whether the key can be used at now: "active", "revoked" or "expired".
func (k *Key) State(now time.Time) string {
	switch {
	case !k.RevokedAt.IsZero():
		return "revoked"
	case k.Expired(now):
		return "expired"
	}
	return "active"
}

// Check verifies that token is this key's and that the key can be used at now: ErrInvalid for
// a wrong secret (compared in constant time), then ErrRevoked or ErrExpired. Only the holder of
// the right token learns that a key is revoked or expired.
func (k *Key) Check(token string, now time.Time) error {
	want, err := hex.DecodeString(k.Hash)
	if err != nil || len(want) != sha256.Size {
		return ErrInvalid
	}
	got := sha256.Sum256([]byte(token))
	if subtle.ConstantTimeCompare(got[:], want) != 1 {
		return ErrInvalid
	}
	switch k.State(now) {
	case "revoked":
		return ErrRevoked
	case "expired":
		return ErrExpired
	}
	return nil
}

// Token is a key's token: shown once, when the key is made, and never kept. It prints as its
// id alone, so logging one by mistake leaks nothing; Reveal gives the whole token.
type Token struct{ v string }

// Reveal returns the whole token, to show it to the person who made the key.
func (t Token) Reveal() string { return t.v }

// String writes the token's id only.
func (t Token) String() string {
	id, _ := ParseToken(t.v)
	return tokenPrefix + id + "_[redacted]"
}

// GoString is String, for %#v.
func (t Token) GoString() string { return t.String() }

// MarshalText is String, for JSON and logs.
func (t Token) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

const (
	tokenPrefix = "cbk_"
	idLen       = 10
	secretBytes = 32
	// idAlphabet is lowercase and unambiguous (no 0/o, 1/l/i), like request ids.
	idAlphabet = "23456789abcdefghjkmnpqrstuvwxyz"
)

// Spec is what a new key is made of; the id, secret and hash are drawn by New.
type Spec struct {
	Name      string
	Principal string
	Owner     string
	Scopes    []Scope
	CreatedBy string
	ExpiresAt time.Time
}

// New makes a key and its token. The caller stores the key and shows the token once.
func New(s Spec, now time.Time) (*Key, Token, error) {
	switch {
	case strings.TrimSpace(s.Name) == "":
		return nil, Token{}, errors.New("a key needs a name (what it is for)")
	case strings.TrimSpace(s.Principal) == "":
		return nil, Token{}, errors.New("a key needs a principal to act for (a Slack user ID or service:<name>)")
	case len(s.Scopes) == 0:
		return nil, Token{}, errors.New("a key needs at least one scope (read, clone, admin)")
	case !s.ExpiresAt.IsZero() && !s.ExpiresAt.After(now):
		return nil, Token{}, errors.New("the expiry must be in the future")
	}
	id := make([]byte, 0, idLen)
	var b [16]byte
	for len(id) < idLen {
		if _, err := rand.Read(b[:]); err != nil {
			return nil, Token{}, fmt.Errorf("draw a key id: %w", err)
		}
		for _, c := range b {
			// 248 = 8*31: reject the bytes that would bias the modulo.
			if c < 248 && len(id) < idLen {
				id = append(id, idAlphabet[int(c)%len(idAlphabet)])
			}
		}
	}
	secret := make([]byte, secretBytes)
	if _, err := rand.Read(secret); err != nil {
		return nil, Token{}, fmt.Errorf("draw a key secret: %w", err)
	}
	tok := tokenPrefix + string(id) + "_" + base64.RawURLEncoding.EncodeToString(secret)
	sum := sha256.Sum256([]byte(tok))
	k := &Key{ID: string(id), Name: strings.TrimSpace(s.Name), Principal: s.Principal, Owner: s.Owner,
		Scopes: slices.Clone(s.Scopes), Hash: hex.EncodeToString(sum[:]), CreatedAt: now, CreatedBy: s.CreatedBy, ExpiresAt: s.ExpiresAt}
	if k.Owner == "" {
		k.Owner = k.Principal
	}
	return k, Token{v: tok}, nil
}

// ParseToken returns the id of a token of the form cbk_<id>_<secret>; ErrMalformed otherwise.
func ParseToken(token string) (string, error) {
	rest, ok := strings.CutPrefix(token, tokenPrefix)
	if !ok {
		return "", ErrMalformed
	}
	id, secret, ok := strings.Cut(rest, "_")
	if !ok || !ValidID(id) || len(secret) != base64.RawURLEncoding.EncodedLen(secretBytes) {
		return "", ErrMalformed
	}
	return id, nil
}

// ValidID reports whether s has the form of a key id.
func ValidID(s string) bool {
	if len(s) != idLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !strings.ContainsRune(idAlphabet, rune(s[i])) {
			return false
		}
	}
	return true
}
