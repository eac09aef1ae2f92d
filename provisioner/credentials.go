package provisioner

import (
	"context"
	"crypto/rand"
	"fmt"
)

// Password is a secret value. It prints as [redacted] in every format, so it cannot leak into
// a log line, an error or a Slack message by accident; Reveal gives the value to the code that
// must use it (the database driver, the secret store).
type Password struct{ v string }

// NewPassword wraps a secret value.
func NewPassword(v string) Password { return Password{v: v} }

// Reveal returns the secret value.
func (p Password) Reveal() string { return p.v }

// String implements fmt.Stringer.
func (p Password) String() string { return "[redacted]" }

// GoString implements fmt.GoStringer.
func (p Password) GoString() string { return "[redacted]" }

// MarshalText keeps the value out of JSON, YAML and text encodings.
func (p Password) MarshalText() ([]byte, error) { return []byte("[redacted]"), nil }

// Credentials are what a credential reference resolves to.
type Credentials struct {
	Engine   string
	Host     string
	Port     int
	Username string
	Password Password
	DBName   string
}

// SecretStore resolves a credential reference to credentials. The bot never calls it; the
// restore agent does, to connect to its target.
type SecretStore interface {
	Resolve(ctx context.Context, ref string) (Credentials, error)
}

// passwordAlphabet avoids characters that need quoting in URLs, shells and RDS master
// passwords (RDS refuses '/', '@', '"' and space).
const passwordAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~"

// PasswordLength is the length of every generated clone password.
const PasswordLength = 64

// GeneratePassword returns a PasswordLength-character password from crypto/rand.
func GeneratePassword() (Password, error) {
	buf := make([]byte, PasswordLength)
	if _, err := rand.Read(buf); err != nil {
		return Password{}, fmt.Errorf("generate password: %w", err)
	}
	// 66 symbols: reject bytes >= 198 (3*66) so every symbol is equally likely.
	out := make([]byte, 0, PasswordLength)
	for len(out) < PasswordLength {
		for _, b := range buf {
			if int(b) < 3*len(passwordAlphabet) && len(out) < PasswordLength {
				out = append(out, passwordAlphabet[int(b)%len(passwordAlphabet)])
			}
		}
		if _, err := rand.Read(buf); err != nil {
			return Password{}, fmt.Errorf("generate password: %w", err)
		}
	}
	return NewPassword(string(out)), nil
}
