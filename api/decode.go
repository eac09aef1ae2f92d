package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/clonebot/clonebot/approvals"
	"github.com/clonebot/clonebot/bot/command"
	"github.com/clonebot/clonebot/handlers"
)

// createBody is the body of POST /clones.
type createBody struct {
	Source string `json:"source"`
	Date   string `json:"date,omitempty"`   // latest (default), YYYY-MM-DD or an RFC 3339 time
	Tier   string `json:"tier,omitempty"`   // the policy's default when empty
	TTL    string `json:"ttl,omitempty"`    // like 4h, 90m, 2d; the tier's default when empty
	Reason string `json:"reason,omitempty"` // at most command.MaxReasonLen characters
}

// patchBody is the body of PATCH /clones/{id}: exactly one of its fields.
type patchBody struct {
	ExtendBy  string `json:"extend_by,omitempty"`  // more time, like 2h (past the tier's cap: refused with the most allowed)
	ExpiresIn string `json:"expires_in,omitempty"` // the clone expires this long from now: sooner or later (within the cap)
}

// patch is a decoded PATCH: one of the two durations.
type patch struct {
	ExtendBy, ExpiresIn time.Duration
}

// inputError is a request the API refuses before any use case sees it: malformed (not the
// JSON it must be: 400) or invalid (a value out of range: 422), naming the field at fault.
type inputError struct {
	prob  problem
	field string
	msg   string
}

func (e *inputError) Error() string { return e.msg }

func (e *inputError) problem() problem {
	p := e.prob.with(e.msg)
	p.Field = e.field
	return p
}

func malformed(field, format string, args ...any) *inputError {
	return &inputError{prob: probMalformed, field: field, msg: fmt.Sprintf(format, args...)}
}

func invalid(field, format string, args ...any) *inputError {
	return &inputError{prob: probInvalid, field: field, msg: fmt.Sprintf(format, args...)}
}

// readJSON reads a request's body into v: application/json, at most max bytes, one object
// with only v's fields and nothing after it. The errors are *inputError, or *http.MaxBytesError
// for a body over max, or errUnsupportedMediaType.
func readJSON(r *http.Request, max int64, v any) error {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return errUnsupportedMediaType
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, max))
	if err != nil {
		return err
	}
	return decodeJSON(body, v)
}

var errUnsupportedMediaType = errors.New("the body must be application/json")

// decodeJSON decodes one JSON object with only v's fields, and nothing after it.
func decodeJSON(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.Is(err, io.EOF):
			return malformed("", "the body is empty; send a JSON object")
		case errors.As(err, &syn):
			return malformed("", "the body is not JSON: %v (at byte %d)", syn, syn.Offset)
		case errors.As(err, &typ) && typ.Field != "":
			return malformed(typ.Field, "%s must be a %s", typ.Field, typ.Type)
		case errors.As(err, &typ):
			return malformed("", "the body must be a JSON object")
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			return malformed(field, "unknown field %q", field)
		}
		return malformed("", "the body is not JSON: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return malformed("", "the body has more after its JSON object")
	}
	return nil
}

// maxNameLen bounds source and tier names.
const maxNameLen = 64

// cloneInput checks a create body and turns it into the use case's input. Relative dates are
// resolved against now; a date after now is refused.
func (b createBody) cloneInput(now time.Time) (handlers.CloneInput, error) {
	in := handlers.CloneInput{Source: b.Source, Tier: b.Tier, Reason: b.Reason}
	if b.Source == "" {
		return in, invalid("source", "source is required: one of the policy's sources")
	}
	if !validName(b.Source) {
		return in, invalid("source", "%q is not a source name (lowercase letters, digits, - and _)", b.Source)
	}
	if b.Tier != "" && !validName(b.Tier) {
		return in, invalid("tier", "%q is not a tier name (lowercase letters, digits, - and _)", b.Tier)
	}
	w, err := parseDate(b.Date, now)
	if err != nil {
		return in, err
	}
	in.When = w
	if b.TTL != "" {
		if in.TTL, err = command.ParseDuration(b.TTL); err != nil {
			return in, invalid("ttl", "%v", err)
		}
	}
	if !utf8.ValidString(b.Reason) {
		return in, invalid("reason", "the reason is not valid UTF-8")
	}
	if n := utf8.RuneCountInString(b.Reason); n > command.MaxReasonLen {
		return in, invalid("reason", "the reason is %d characters; keep it under %d", n, command.MaxReasonLen)
	}
	return in, nil
}

// minDate is the earliest date accepted; no database backup is older.
var minDate = time.Unix(0, 0).UTC()

// parseDate reads a request's date: "" or latest, a day (YYYY-MM-DD, UTC) or an RFC 3339 point
// in time; not in the future, nor before 1970.
func parseDate(s string, now time.Time) (handlers.When, error) {
	if s == "" || s == "latest" {
		return handlers.When{Latest: true}, nil
	}
	var w handlers.When
	if d, err := time.Parse(time.DateOnly, s); err == nil {
		w.At = d
	} else if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		w.At, w.PointInTime = t.UTC(), true
	} else {
		return w, invalid("date", "%q is not a date: use latest, YYYY-MM-DD or an RFC 3339 time like 2024-05-01T13:45:00Z", s)
	}
	if w.At.After(now) {
		return w, invalid("date", "%s is in the future", s)
	}
	if w.At.Before(minDate) {
		return w, invalid("date", "%s is before 1970", s)
	}
	return w, nil
}

// patch checks a PATCH body: exactly one of its durations.
func (b patchBody) patch() (patch, error) {
	switch {
	case b.ExtendBy == "" && b.ExpiresIn == "":
		return patch{}, invalid("", "give extend_by (more time, like 2h) or expires_in (the time left from now, like 30m)")
	case b.ExtendBy != "" && b.ExpiresIn != "":
		return patch{}, invalid("", "give extend_by or expires_in, not both")
	}
	var p patch
	var err error
	if b.ExtendBy != "" {
		if p.ExtendBy, err = command.ParseDuration(b.ExtendBy); err != nil {
			return patch{}, invalid("extend_by", "%v", err)
		}
		return p, nil
	}
	if p.ExpiresIn, err = command.ParseDuration(b.ExpiresIn); err != nil {
		return patch{}, invalid("expires_in", "%v", err)
	}
	return p, nil
}

func validName(s string) bool { return len(s) <= maxNameLen && approvals.ValidName(s) }
