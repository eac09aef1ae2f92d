package agent

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/clonebot/clonebot/provisioner"
)

// Job is one clone to restore or mask, as carried on the job stream.
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

func encodeJob(j Job) (string, error) {
	b, err := json.Marshal(j)
	return string(b), err
}

func decodeJob(s string) (Job, error) {
	var j Job
	if err := json.Unmarshal([]byte(s), &j); err != nil {
		return Job{}, fmt.Errorf("%w: %v", ErrInvalidJob, err)
	}
	return j, nil
}

// Failure is an error whose Reason can be shown to the requester: it names what went wrong in
// terms of the backup, the rules or the clone, never an internal detail or a secret.
type Failure struct {
	Reason    string
	Permanent bool // retrying cannot help (corrupt backup, bad rules, gate failed)
	Err       error
}

func (f *Failure) Error() string {
	if f.Err == nil {
		return f.Reason
	}
	return f.Reason + ": " + f.Err.Error()
}

func (f *Failure) Unwrap() error { return f.Err }

// permanent wraps err as a Failure that is not retried.
func permanent(err error, format string, args ...any) error {
	return &Failure{Reason: fmt.Sprintf(format, args...), Permanent: true, Err: err}
}
