package approvals

import (
	"fmt"
	"slices"
)

// Status is the state of a request.
type Status string

const (
	StatusPending      Status = "pending"
	StatusApproved     Status = "approved"
	StatusDenied       Status = "denied"
	StatusExpired      Status = "expired"
	StatusCancelled    Status = "cancelled"
	StatusProvisioning Status = "provisioning"
	StatusRestoring    Status = "restoring"
	StatusReady        Status = "ready"
	StatusDestroying   Status = "destroying"
	StatusDestroyed    Status = "destroyed"
	StatusFailed       Status = "failed"
)

// transitions is the state machine: from → the states it may move to. Working states
// (approved … destroying) may fail; a failed request may still be torn down; destroy-now may
// interrupt any working state.
var transitions = map[Status][]Status{
	StatusPending:      {StatusApproved, StatusDenied, StatusExpired, StatusCancelled},
	StatusApproved:     {StatusProvisioning, StatusDestroying, StatusFailed},
	StatusProvisioning: {StatusRestoring, StatusDestroying, StatusFailed},
	StatusRestoring:    {StatusReady, StatusDestroying, StatusFailed},
	StatusReady:        {StatusDestroying, StatusFailed},
	StatusDestroying:   {StatusDestroyed, StatusFailed},
	StatusFailed:       {StatusDestroying},
}

// AllStatuses lists every status in lifecycle order.
var AllStatuses = []Status{
	StatusPending, StatusApproved, StatusDenied, StatusExpired, StatusCancelled,
	StatusProvisioning, StatusRestoring, StatusReady, StatusDestroying, StatusDestroyed, StatusFailed,
}

// CanTransition reports whether a request may move from one status to another.
func CanTransition(from, to Status) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// Transitions returns the legal next statuses of s (a copy).
func Transitions(s Status) []Status { return append([]Status(nil), transitions[s]...) }

// Terminal reports whether nothing can follow s.
func (s Status) Terminal() bool { return len(transitions[s]) == 0 }

// Active reports whether a request in s counts against quotas: it is waiting for approval or
// holds (or is about to hold) a clone.
func (s Status) Active() bool {
	switch s {
	case StatusPending, StatusApproved, StatusProvisioning, StatusRestoring, StatusReady, StatusDestroying:
		return true
	}
	return false
}

// Working reports whether the lifecycle has a step to take for a request in s, whatever the
// time: it is being made or torn down.
func (s Status) Working() bool {
	switch s {
	case StatusApproved, StatusProvisioning, StatusRestoring, StatusDestroying:
		return true
	}
	return false
}

// Valid reports whether s is a known status.
func (s Status) Valid() bool { return slices.Contains(AllStatuses, s) }

// IllegalTransitionError says a transition is not in the table.
type IllegalTransitionError struct {
	From, To Status
}

func (e *IllegalTransitionError) Error() string {
	return fmt.Sprintf("illegal transition %s → %s", e.From, e.To)
}

// Is makes errors.Is(err, ErrIllegalTransition) match.
func (e *IllegalTransitionError) Is(target error) bool { return target == ErrIllegalTransition }
