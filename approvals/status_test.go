package approvals

import (
	"errors"
	"fmt"
	"testing"
)

func TestTransitionTable(t *testing.T) {
	legal := map[[2]Status]bool{}
	for _, p := range [][2]Status{
		{StatusPending, StatusApproved}, {StatusPending, StatusDenied}, {StatusPending, StatusExpired}, {StatusPending, StatusCancelled},
		{StatusApproved, StatusProvisioning}, {StatusProvisioning, StatusRestoring}, {StatusRestoring, StatusReady},
		{StatusReady, StatusDestroying}, {StatusDestroying, StatusDestroyed},
		{StatusApproved, StatusFailed}, {StatusProvisioning, StatusFailed}, {StatusRestoring, StatusFailed},
		{StatusReady, StatusFailed}, {StatusDestroying, StatusFailed},
		{StatusApproved, StatusDestroying}, {StatusProvisioning, StatusDestroying}, {StatusRestoring, StatusDestroying},
		{StatusFailed, StatusDestroying},
	} {
		legal[p] = true
	}
	// Every pair of statuses, both ways: exactly the listed ones are legal.
	for _, from := range AllStatuses {
		for _, to := range AllStatuses {
			t.Run(fmt.Sprintf("%s→%s", from, to), func(t *testing.T) {
				if got := CanTransition(from, to); got != legal[[2]Status{from, to}] {
					t.Fatalf("CanTransition = %v, want %v", got, !got)
				}
			})
		}
	}
}

func TestTerminalAndActive(t *testing.T) {
	tests := []struct {
		give             Status
		terminal, active bool
	}{
		{StatusPending, false, true},
		{StatusApproved, false, true},
		{StatusProvisioning, false, true},
		{StatusRestoring, false, true},
		{StatusReady, false, true},
		{StatusDestroying, false, true},
		{StatusFailed, false, false},
		{StatusDenied, true, false},
		{StatusExpired, true, false},
		{StatusCancelled, true, false},
		{StatusDestroyed, true, false},
	}
	for _, tt := range tests {
		if tt.give.Terminal() != tt.terminal || tt.give.Active() != tt.active || !tt.give.Valid() {
			t.Errorf("%s: terminal=%v active=%v valid=%v", tt.give, tt.give.Terminal(), tt.give.Active(), tt.give.Valid())
		}
	}
	if Status("bogus").Valid() {
		t.Error("bogus status is valid")
	}
}

func TestIllegalTransitionErrorMatches(t *testing.T) {
	var err error = &IllegalTransitionError{From: StatusDestroyed, To: StatusReady}
	if !errors.Is(err, ErrIllegalTransition) {
		t.Fatal("errors.Is(ErrIllegalTransition) = false")
	}
}

func TestNewID(t *testing.T) {
	seen := map[string]bool{}
	for range 10000 {
		id := NewID()
		if !ValidID(id) {
			t.Fatalf("NewID() = %q is not a ValidID", id)
		}
		seen[id] = true
	}
	if len(seen) < 9990 {
		t.Fatalf("only %d distinct ids in 10000", len(seen))
	}
	for _, bad := range []string{"", "cl-", "cl-0abcde", "cl-ABCDEF", "xx-7f3k2q", "cl-7f3k2qq"} {
		if ValidID(bad) {
			t.Errorf("ValidID(%q) = true", bad)
		}
	}
}
