package api

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"

	"go.uber.org/zap"

	"github.com/clonebot/clonebot/handlers"
)

// problem is an RFC 9457 problem detail. Type is a URN per kind of problem (the OpenAPI
// document lists them); the extensions say what to do instead.
type problem struct {
	Type      string   `json:"type"`
	Title     string   `json:"title"`
	Status    int      `json:"status"`
	Detail    string   `json:"detail,omitempty"`
	Instance  string   `json:"instance,omitempty"`  // the request's path
	Field     string   `json:"field,omitempty"`     // the input field at fault
	Options   []string `json:"options,omitempty"`   // the valid choices
	Hints     []string `json:"hints,omitempty"`     // details, plain text
	Reference string   `json:"reference,omitempty"` // of an internal error, as logged
}

// The kinds of problem: URN suffix, title and status.
var (
	probUnauthorized      = problem{Type: "unauthorized", Title: "Missing, unknown, revoked or expired API key", Status: http.StatusUnauthorized}
	probForbidden         = problem{Type: "forbidden", Title: "Not allowed", Status: http.StatusForbidden}
	probRateLimited       = problem{Type: "rate-limited", Title: "Too many requests with this key", Status: http.StatusTooManyRequests}
	probMalformed         = problem{Type: "malformed", Title: "Malformed request", Status: http.StatusBadRequest}
	probInvalid           = problem{Type: "invalid", Title: "Invalid request", Status: http.StatusUnprocessableEntity}
	probNotFound          = problem{Type: "not-found", Title: "Not found", Status: http.StatusNotFound}
	probConflict          = problem{Type: "conflict", Title: "Not in a state that allows this", Status: http.StatusConflict}
	probQuota             = problem{Type: "quota", Title: "Active clone quota reached", Status: http.StatusConflict}
	probTooLarge          = problem{Type: "too-large", Title: "Request body too large", Status: http.StatusRequestEntityTooLarge}
	probMediaType         = problem{Type: "unsupported-media-type", Title: "Send application/json", Status: http.StatusUnsupportedMediaType}
	probMethod            = problem{Type: "method-not-allowed", Title: "Method not allowed", Status: http.StatusMethodNotAllowed}
	probIdempotencyReused = problem{Type: "idempotency-key-reused", Title: "Idempotency-Key used for another request", Status: http.StatusUnprocessableEntity}
	probIdempotencyBusy   = problem{Type: "idempotency-in-progress", Title: "A request with this Idempotency-Key is still running", Status: http.StatusConflict}
	probUnavailable       = problem{Type: "unavailable", Title: "A service clonebot needs is unavailable", Status: http.StatusServiceUnavailable}
	probInternal          = problem{Type: "internal", Title: "Internal error", Status: http.StatusInternalServerError}
)

// problemTypes are the kinds above, for the OpenAPI document's test.
var problemTypes = []problem{probUnauthorized, probForbidden, probRateLimited, probMalformed, probInvalid, probNotFound,
	probConflict, probQuota, probTooLarge, probMediaType, probMethod, probIdempotencyReused, probIdempotencyBusy,
	probUnavailable, probInternal}

const problemURN = "urn:clonebot:problem:"

// with returns p with detail.
func (p problem) with(detail string) problem {
	p.Detail = detail
	return p
}

// writeProblem answers with p as application/problem+json.
func writeProblem(w http.ResponseWriter, r *http.Request, p problem) {
	p.Type = problemURN + p.Type
	p.Instance = r.URL.Path
	body, err := json.Marshal(p)
	if err != nil { // a problem of strings cannot fail to encode
		body = []byte(`{"type":"` + problemURN + `internal","status":500}`)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	_, _ = w.Write(append(body, '\n')) // a client gone mid-answer is not our error
}

// refusal maps a use case's refusal to a problem. notFound is how an ENotFound is answered:
// 404 where the missing thing is the resource the path names, 422 where it is a field of the
// input (a source or tier of the body).
func refusal(e *handlers.Error, notFound problem) problem {
	var p problem
	switch e.Code {
	case handlers.EInvalid:
		p = probInvalid
	case handlers.ENotFound:
		p = notFound
	case handlers.EForbidden:
		p = probForbidden
	case handlers.EConflict:
		p = probConflict
	case handlers.EQuota:
		p = probQuota
	default:
		p = probInvalid
	}
	p.Detail, p.Options, p.Hints = e.Message, e.Options, e.Lines
	return p
}

// fail answers err: a refusal as its problem, anything else as an internal error whose
// details go to the log under a reference the answer gives.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error, notFound problem) {
	var e *handlers.Error
	if errors.As(err, &e) {
		writeProblem(w, r, refusal(e, notFound))
		return
	}
	ref := reference()
	s.log.Error("api request failed", zap.String("reference", ref), zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.Error(err))
	p := probInternal.with("Something broke on clonebot's side; give the reference to its operators.")
	p.Reference = ref
	writeProblem(w, r, p)
}

func reference() string {
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read does not fail
	return hex.EncodeToString(b[:])
}
