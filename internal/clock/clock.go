// Package clock is the time source of everything that waits: the bot's pacing and caches, the
// audit log's loops. Production uses System; tests use internal/fakes.Clock, which moves only
// when told to. Code that only reads the time takes a func() time.Time (Clock.Now) instead.
package clock

import "time"

// Clock tells the time and waits on it.
type Clock interface {
	Now() time.Time
	// After is time.After on this clock.
	After(d time.Duration) <-chan time.Time
}

// System is the real clock.
type System struct{}

// Now returns time.Now().
func (System) Now() time.Time { return time.Now() }

// After returns time.After(d).
func (System) After(d time.Duration) <-chan time.Time { return time.After(d) }
