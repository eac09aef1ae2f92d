package demo

import (
	"sync"
	"time"
)

// clock is the demo's time: it moves only when the demo sets it forward or a waiter asks it
// to (After advances it by d and fires at once), so throttling and TTLs cost no real time.
// Safe for concurrent use.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock(start time.Time) *clock { return &clock{now: start} }

// Now is the clock's current time.
func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// After advances the clock by d and returns a channel that has already fired.
func (c *clock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d > 0 {
		c.now = c.now.Add(d)
	}
	ch := make(chan time.Time, 1)
	ch <- c.now
	return ch
}

// AdvanceTo moves the clock to t if t is later, and returns how far it moved.
func (c *clock) AdvanceTo(t time.Time) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !t.After(c.now) {
		return 0
	}
	d := t.Sub(c.now)
	c.now = t
	return d
}
