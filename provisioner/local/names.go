package local

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/clonebot/clonebot/provisioner"
)

// maxIdentifier is PostgreSQL's NAMEDATALEN-1: longer names are silently truncated.
const maxIdentifier = 63

// cloneName is the database and role name of a request: clone_<id> when the id is already a
// plain lowercase identifier short enough, otherwise clone_<sanitised prefix>_<8 hex of
// SHA-256(id)>, so two ids never share a name and a retry always finds the same one.
func cloneName(requestID string) string {
	const prefix = "clone_"
	var b strings.Builder
	for _, r := range strings.ToLower(requestID) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	plain := b.String()
	if plain == requestID && len(prefix)+len(plain) <= maxIdentifier {
		return prefix + plain
	}
	sum := sha256.Sum256([]byte(requestID))
	suffix := "_" + hex.EncodeToString(sum[:4])
	if room := maxIdentifier - len(prefix) - len(suffix); len(plain) > room {
		plain = plain[:room]
	}
	return prefix + plain + suffix
}

// scramIterations is PostgreSQL's default scram_iterations.
const scramIterations = 4096

// scramVerifier returns the SCRAM-SHA-256 verifier PostgreSQL stores for password
// (RFC 5802/7677, the format of pg_authid.rolpassword). Sending it instead of the password
// keeps the password out of statements, server logs and error messages. Generated passwords
// are ASCII, for which SASLprep is the identity.
func scramVerifier(password provisioner.Password) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("scram salt: %w", err)
	}
	salted, err := pbkdf2.Key(sha256.New, password.Reveal(), salt, scramIterations, sha256.Size)
	if err != nil {
		return "", fmt.Errorf("scram key: %w", err)
	}
	mac := func(key []byte, msg string) []byte {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(msg))
		return h.Sum(nil)
	}
	clientKey := mac(salted, "Client Key")
	storedKey := sha256.Sum256(clientKey)
	serverKey := mac(salted, "Server Key")
	enc := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("SCRAM-SHA-256$%d:%s$%s:%s", scramIterations, enc(salt), enc(storedKey[:]), enc(serverKey)), nil
}
