package provisioner

import "context"

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
