package fakes

import (
	"sync"
	"time"
)

// Clock is a test's time: it moves only when the test sets or advances it, or when a waiter
// calls After, which moves it by the wait and fires at once, so throttles and TTLs cost no
// real time. It has Now for the packages that take a func() time.Time and Now and After for
// those that take a clock (clock.Clock). Safe for concurrent use.
type Clock struct {
	mu    sync.Mutex
	now   time.Time
	waits []time.Duration
}

// NewClock returns a Clock at start. A test whose clock meets a real server starts it at
// testenv.Now().
func NewClock(start time.Time) *Clock { return &Clock{now: start} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set moves the clock to t (backwards too).
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) { c.AdvanceTo(c.Now().Add(d)) }

// AdvanceTo moves the clock to t if t is later, and returns how far it moved.
func (c *Clock) AdvanceTo(t time.Time) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !t.After(c.now) {
		return 0
	}
	d := t.Sub(c.now)
	c.now = t
	return d
}

// After advances the clock by d and returns a channel that has already fired; the wait is
// recorded (Waits).
func (c *Clock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d > 0 {
		c.now = c.now.Add(d)
	}
	c.waits = append(c.waits, d)
	ch := make(chan time.Time, 1)
	ch <- c.now
	return ch
}

// Waits returns the waits After was asked for, in order.
func (c *Clock) Waits() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.waits...)
}
