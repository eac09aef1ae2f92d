package apikey

import "time"

// Attempt is the record of one idempotent request: a POST that carried an Idempotency-Key,
// kept under the API key that sent it, so that a retried pipeline step is answered with what
// the first attempt made instead of making it again.
//
// While the first attempt runs, Owner holds it until LeaseUntil; an attempt whose owner died
// is taken over after that, and the new owner makes the same request (RequestID was drawn with
// the record, and the store refuses a second request with one id). Once the attempt is Done,
// every retry is answered with its Status, Location and Body.
type Attempt struct {
	Fingerprint string    // of what was asked, so the same key with another body is refused
	RequestID   string    // the clone request id the attempt makes
	Owner       string    // who runs it now
	LeaseUntil  time.Time // the owner's hold ends
	Done        bool
	Status      int    // HTTP status of the answer, when Done
	Location    string // its Location header
	Body        []byte // its body
}

// Claim is what trying to take an attempt found.
type Claim string

const (
	Claimed  Claim = "claimed"  // the caller holds the attempt now (new, or taken over from an owner whose lease ended)
	Answered Claim = "answered" // done: answer with its record
	Running  Claim = "running"  // another owner holds it
	Mismatch Claim = "mismatch" // the key was used for another request
)
