package transport

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Slack request-signing headers.
const (
	HeaderTimestamp = "X-Slack-Request-Timestamp"
	HeaderSignature = "X-Slack-Signature"
	HeaderRetryNum  = "X-Slack-Retry-Num"
)

// MaxClockSkew is how far a request's timestamp may be from now, either way, before the
// request is refused as a replay (Slack's recommendation).
const MaxClockSkew = 5 * time.Minute

// Errors of request verification; none of them carries the secret or the expected signature.
var (
	ErrStaleTimestamp = errors.New("request timestamp outside the replay window")
	ErrBadSignature   = errors.New("request signature does not match")
)

// Sign returns the X-Slack-Request-Timestamp and X-Slack-Signature header values Slack would
// send for body at ts: "v0=" + hex(HMAC-SHA256(secret, "v0:<unix ts>:<body>")).
func Sign(secret string, ts time.Time, body []byte) (timestampHeader, signatureHeader string) {
	timestampHeader = strconv.FormatInt(ts.Unix(), 10)
	return timestampHeader, "v0=" + hex.EncodeToString(mac(secret, timestampHeader, body))
}

func mac(secret, ts string, body []byte) []byte {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte("v0:" + ts + ":"))
	h.Write(body)
	return h.Sum(nil)
}

// verify checks a request's timestamp against now and its signature over the raw body, in
// constant time.
func verify(secret string, now time.Time, h http.Header, body []byte) error {
	tsText := h.Get(HeaderTimestamp)
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %q is not a unix time", ErrStaleTimestamp, tsText)
	}
	if d := now.Sub(time.Unix(ts, 0)); d > MaxClockSkew || d < -MaxClockSkew {
		return fmt.Errorf("%w: off by %s", ErrStaleTimestamp, d.Round(time.Second))
	}
	hexSig, ok := strings.CutPrefix(h.Get(HeaderSignature), "v0=")
	got, err := hex.DecodeString(hexSig)
	if !ok || err != nil {
		return fmt.Errorf("%w: malformed header", ErrBadSignature)
	}
	if !hmac.Equal(got, mac(secret, tsText, body)) {
		return ErrBadSignature
	}
	return nil
}
