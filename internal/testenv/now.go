package testenv

import "time"

// Now is where an injected test clock starts when the test meets a real server: the real time,
// in UTC, to the second. PostgreSQL checks VALID UNTIL, Redis expires keys, moto stamps objects
// and Slack's signatures carry timestamps by their own clocks, so a test clock built from a fixed
// calendar date passes until that date is a day old and then fails. Build every test time of such
// a test from Now and offsets (Now().Add(8*time.Hour), Day(Now(), -1)); TestNoFixedDates in this
// package fails a test that does otherwise.
func Now() time.Time { return time.Now().UTC().Truncate(time.Second) }

// Day returns the UTC midnight days away from t's day (days may be negative): backup days
// relative to a test's Now.
func Day(t time.Time, days int) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d+days, 0, 0, 0, 0, time.UTC)
}
