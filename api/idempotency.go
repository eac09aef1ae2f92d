package api

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/clonebot/clonebot/apikey"
	"github.com/clonebot/clonebot/approvals"
	"github.com/clonebot/clonebot/handlers"
)

const (
	// maxIdempotencyKeyLen bounds an Idempotency-Key (a UUID, a pipeline's run id).
	maxIdempotencyKeyLen = 255
	// attemptLease is how long the first attempt holds its key before a retry may take it
	// over (its process died): far longer than a request takes.
	attemptLease = 30 * time.Second
	// retryWait is how long a retry waits for the first attempt's answer before it answers
	// 409 idempotency-in-progress.
	retryWait = 10 * time.Second
	// Backoff of a waiting retry's claims: from claimMin, doubling to claimMax.
	claimMin = 10 * time.Millisecond
	claimMax = 250 * time.Millisecond
)

// createIdempotent makes the clone request of an Idempotency-Key once. The first attempt
// claims the key (with a request id drawn for it) and records its answer; a retry gets that
// answer, waiting for it while the first attempt runs; the same key with another body is
// refused. A refusal records nothing: it made nothing, so a retry is asked afresh.
func (s *Server) createIdempotent(w http.ResponseWriter, r *http.Request, c *call, in handlers.CloneInput, idem string) {
	if len(idem) > maxIdempotencyKeyLen || !printable(idem) {
		writeProblem(w, r, (&inputError{prob: probMalformed, field: "Idempotency-Key",
			msg: fmt.Sprintf("an Idempotency-Key is 1 to %d printable ASCII characters", maxIdempotencyKeyLen)}).problem())
		return
	}
	ctx := r.Context()
	mine := apikey.Attempt{Fingerprint: fingerprint(in), RequestID: approvals.NewID(), Owner: reference()}
	deadline := s.clock.Now().Add(retryWait)
	for delay := claimMin; ; delay = min(2*delay, claimMax) {
		claim, a, err := s.attempts.Claim(ctx, c.key.ID, idem, mine, s.clock.Now(), attemptLease, s.cfg.IdempotencyTTL)
		if err != nil {
			s.fail(w, r, err, probInvalid)
			return
		}
		switch claim {
		case apikey.Answered:
			w.Header().Set("Idempotent-Replayed", "true")
			answer{status: a.Status, location: a.Location, body: a.Body}.write(w)
			return
		case apikey.Mismatch:
			writeProblem(w, r, probIdempotencyReused.with("This Idempotency-Key was used with another request body; use a new key for a new request."))
			return
		case apikey.Claimed:
			s.runAttempt(w, r, c, in, idem, a, a.RequestID != mine.RequestID)
			return
		}
		// running: another attempt holds it; wait for its answer.
		left := deadline.Sub(s.clock.Now())
		if left <= 0 {
			w.Header().Set("Retry-After", "1")
			writeProblem(w, r, probIdempotencyBusy.with("A request with this Idempotency-Key is still being made; retry in a moment."))
			return
		}
		select {
		case <-s.clock.After(min(delay, left)):
		case <-ctx.Done():
			return
		}
	}
}

// runAttempt makes the request of an attempt the caller holds, with the attempt's request id,
// and records the answer for the retries. An attempt taken over from an owner whose lease
// ended may have been made already: then it is answered with what was made (before the policy
// is asked again, which would count that request against the quota).
func (s *Server) runAttempt(w http.ResponseWriter, r *http.Request, c *call, in handlers.CloneInput, idem string, a apikey.Attempt, takenOver bool) {
	ctx := r.Context()
	in.ID = a.RequestID
	var ans answer
	var err error
	found := false
	if takenOver {
		ans, found, err = s.made(ctx, c, a.RequestID)
	}
	if err == nil && !found {
		ans, err = s.request(ctx, c, in)
	}
	if err != nil {
		if derr := s.attempts.Drop(ctx, c.key.ID, idem, a.Owner); derr != nil {
			s.log.Warn("idempotent attempt not dropped; it ends with its lease", zap.String("key_id", c.key.ID), zap.Error(derr))
		}
		var e *handlers.Error
		if !errors.As(err, &e) {
			err = fmt.Errorf("idempotent request %s: %w", a.RequestID, err)
		}
		s.fail(w, r, err, probInvalid)
		return
	}
	if ok, err := s.attempts.Finish(ctx, c.key.ID, idem, a.Owner, ans.status, ans.location, ans.body); err != nil || !ok {
		// The request is made; a retry that took the attempt over finds it by its id.
		s.log.Warn("idempotent answer not recorded", zap.String("key_id", c.key.ID), zap.String("request_id", a.RequestID),
			zap.Bool("lease_lost", !ok), zap.Error(err))
	}
	ans.write(w)
}

// fingerprint identifies what a create asks for, whatever the JSON's spacing or field order.
func fingerprint(in handlers.CloneInput) string {
	in.ID = ""
	b, _ := json.Marshal(in) // strings, bools, times and a duration: cannot fail
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func printable(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// jsonBytes encodes a view.
func jsonBytes(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode answer: %w", err)
	}
	return b, nil
}
