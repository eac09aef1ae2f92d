// Package jobs is the contract between the lifecycle, which asks for restores, and the restore
// agents, which run them: the job a lifecycle enqueues, the events an agent publishes while it
// works and when it ends, and a job as one agent received it. It holds plain values and their
// checks; how they travel (a Redis Stream) is the redis package's business.
package jobs

import (
	"errors"
	"fmt"
	"time"

	"github.com/clonebot/clonebot/provisioner"
)

// Job is one clone to restore or mask.
type Job struct {
	RequestID   string               `json:"request_id"`
	Backup      BackupRef            `json:"backup"`
	Strategy    provisioner.Strategy `json:"strategy"`
	TargetRef   string               `json:"target_ref"` // credential reference resolved by the agent's SecretStore
	MaskLevel   string               `json:"mask_level"` // masking level of the tier (full, partial, none)
	Parallelism int                  `json:"parallelism,omitempty"`
	// Attempt is the delivery number of this job (1 for the first); set by the queue on receipt.
	Attempt int `json:"-"`
}

// BackupRef says where the backup file is and, when known, its size and SHA-256.
type BackupRef struct {
	Location string `json:"location"` // s3://bucket/key or a local path
	Size     int64  `json:"size,omitempty"`
	SHA256   string `json:"sha256,omitempty"` // lowercase hex
}

// ErrInvalidJob is returned for a job that cannot be run as given.
var ErrInvalidJob = errors.New("invalid job")

// Validate checks the fields every job needs.
func (j Job) Validate() error {
	switch {
	case j.RequestID == "":
		return fmt.Errorf("%w: no request_id", ErrInvalidJob)
	case !j.Strategy.Valid():
		return fmt.Errorf("%w: strategy %q", ErrInvalidJob, j.Strategy)
	case j.TargetRef == "":
		return fmt.Errorf("%w: no target_ref", ErrInvalidJob)
	case j.Strategy == provisioner.StrategyRestore && j.Backup.Location == "":
		return fmt.Errorf("%w: restore without backup location", ErrInvalidJob)
	case j.Parallelism < 0:
		return fmt.Errorf("%w: parallelism %d", ErrInvalidJob, j.Parallelism)
	}
	return nil
}

// Delivery is a job received by one agent, pending until it is finished or dead-lettered.
type Delivery struct {
	ID  string // the queue's id of this entry
	Job Job
	// Bad is set when the entry could not be decoded; the job is dead-lettered at once.
	Bad error
}

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

// Event is one progress report or the final result of a job.
type Event struct {
	RequestID string
	State     State
	Phase     Phase
	Table     string
	Bytes     int64
	Rows      int64
	Rate      float64 // bytes per second over the phase so far
	Reason    string  // for StateFailed: a sentence for the requester
	// Attempt is the job's delivery count when the agent took it (1 for the first; more after
	// a takeover or a retry: each attempt starts over), and MaxAttempts the deliveries the
	// agents make before the job is dead-lettered, so a progress line can say "attempt 2 of 3"
	// and never mix two attempts' counts.
	Attempt, MaxAttempts int
	At                   time.Time
}

// Received is an event as one reader of the events stream got it, to acknowledge once handled.
type Received struct {
	ID    string // the stream's id of this entry
	Event Event
	Bad   error // set when the entry could not be decoded; acknowledge it and move on
}
