package handlers

import (
	"fmt"
	"time"
)

// ErrorCode says what kind of "no" a use case answered.
type ErrorCode string

const (
	EInvalid   ErrorCode = "invalid"   // the input is malformed or out of range
	ENotFound  ErrorCode = "not_found" // no such request, source, tier or backup
	EForbidden ErrorCode = "forbidden" // the person may not do this
	EConflict  ErrorCode = "conflict"  // the request is not in a state that allows it
	EQuota     ErrorCode = "quota"     // an active-clone quota is reached
)

// Error is a use case's refusal: bad input or a rule said no, and nothing changed. It is an
// answer for the person who acted, not a failure: bot turns it into an ephemeral answer, once,
// at its edge. Any other error is a failure, logged with a reference.
type Error struct {
	Code    ErrorCode
	Message string   // one plain-text sentence that says what to do instead
	Lines   []string // details, plain text
	Options []string // the valid choices, when the answer is "use one of these"
	Offer   *Offer   // what can be done instead, in one click, when there is something
}

// OfferKind says what an Offer does.
type OfferKind string

// OfferExtendToCap extends a ready clone to its tier's cap (Service.ExtendToCap).
const OfferExtendToCap OfferKind = "extend_to_cap"

// Offer is the nearest thing to what was refused that can be granted now; bot renders it as a
// button.
type Offer struct {
	Kind      OfferKind
	RequestID string
	By        time.Duration // extend_to_cap: how much longer the clone would live
	Until     time.Time     // extend_to_cap: its expiry then
}

func (e *Error) Error() string { return e.Message }

// refuse returns a refusal of code with a formatted message.
func refuse(code ErrorCode, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}
