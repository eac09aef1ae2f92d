package transport

import (
	"context"
	"sync"
	"time"
)

// Deduper remembers Events API event IDs so that a retried delivery (Slack resends an event
// it did not see acked in time, with the same event_id) is handled once.
type Deduper interface {
	// FirstSeen records eventID and reports whether this is its first delivery. An error
	// means the store could not be asked; the caller handles the event (at least once).
	FirstSeen(ctx context.Context, eventID string) (bool, error)
}

// MemoryDeduper is a Deduper for one process (tests, the demo).
type MemoryDeduper struct {
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex
	seen    map[string]time.Time // event ID → when it may be forgotten
	inserts int
}

// NewMemoryDeduper remembers each event ID for ttl, measured with now.
func NewMemoryDeduper(ttl time.Duration, now func() time.Time) *MemoryDeduper {
	return &MemoryDeduper{ttl: ttl, now: now, seen: map[string]time.Time{}}
}

// FirstSeen implements Deduper; it never fails.
func (d *MemoryDeduper) FirstSeen(_ context.Context, eventID string) (bool, error) {
	now := d.now()
	d.mu.Lock()
	defer d.mu.Unlock()
	if until, ok := d.seen[eventID]; ok && now.Before(until) {
		return false, nil
	}
	d.seen[eventID] = now.Add(d.ttl)
	// Sweep forgotten IDs now and then so the map stays bounded by the TTL window.
	if d.inserts++; d.inserts%1024 == 0 {
		for id, until := range d.seen {
			if !now.Before(until) {
				delete(d.seen, id)
			}
		}
	}
	return true, nil
}
