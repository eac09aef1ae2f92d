package agent

import (
	"fmt"
	"strconv"
	"time"
)

// Phase is a step of a job, in the order they run.
type Phase string

const (
	PhaseDownload Phase = "download"
	PhasePreData  Phase = "pre-data"
	PhaseData     Phase = "data"
	PhasePostData Phase = "post-data"
	PhaseMask     Phase = "mask" // in-place masking of a fast-clone or snapshot target
	PhaseVerify   Phase = "verify"
)

// State says whether a job is still running or how it ended.
type State string

const (
	StateRunning State = "running"
	StateReady   State = "ready"  // restored, masked and verified: the clone may be released
	StateFailed  State = "failed" // the clone must not be released; Reason says why
)

// Event is one progress report or the final result of a job, as published on the events stream.
type Event struct {
	RequestID string
	State     State
	Phase     Phase
	Table     string
	Bytes     int64
	Rows      int64
	Rate      float64 // bytes per second over the phase so far
	Reason    string  // for StateFailed: a sentence for the requester
	Attempt   int
	At        time.Time
}

func (e Event) fields() map[string]any {
	m := map[string]any{
		"request_id": e.RequestID, "state": string(e.State), "phase": string(e.Phase),
		"attempt": strconv.Itoa(e.Attempt), "at": e.At.UTC().Format(time.RFC3339Nano),
	}
	if e.Table != "" {
		m["table"] = e.Table
	}
	if e.Bytes != 0 || e.Rows != 0 {
		m["bytes"] = strconv.FormatInt(e.Bytes, 10)
		m["rows"] = strconv.FormatInt(e.Rows, 10)
		m["rate"] = strconv.FormatFloat(e.Rate, 'f', 0, 64)
	}
	if e.Reason != "" {
		m["reason"] = e.Reason
	}
	return m
}

// ParseEvent decodes the values of one events stream entry (as go-redis returns them).
func ParseEvent(values map[string]any) (Event, error) {
	str := func(k string) string { s, _ := values[k].(string); return s }
	e := Event{
		RequestID: str("request_id"), State: State(str("state")), Phase: Phase(str("phase")),
		Table: str("table"), Reason: str("reason"),
	}
	if e.RequestID == "" || e.State == "" {
		return Event{}, fmt.Errorf("progress event without request_id or state: %v", values)
	}
	var err error
	num := func(k string) int64 {
		if s := str(k); s != "" && err == nil {
			var n int64
			n, err = strconv.ParseInt(s, 10, 64)
			return n
		}
		return 0
	}
	e.Bytes, e.Rows, e.Attempt = num("bytes"), num("rows"), int(num("attempt"))
	if s := str("rate"); s != "" && err == nil {
		e.Rate, err = strconv.ParseFloat(s, 64)
	}
	if s := str("at"); s != "" && err == nil {
		e.At, err = time.Parse(time.RFC3339Nano, s)
	}
	if err != nil {
		return Event{}, fmt.Errorf("progress event of %s: %w", e.RequestID, err)
	}
	return e, nil
}
