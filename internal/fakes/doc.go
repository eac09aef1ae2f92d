// Package fakes holds the test doubles every package's tests share, for what a test does not
// run for real: one clock that moves only when told to, a catalogue and a provisioner of
// function fields, a reader of the notices a test's changes recorded, and the test policy and
// masking rules. Redis, PostgreSQL and the AWS emulator are never faked (internal/testenv gives them);
// Slack's stand-in is bot/slackfake.
package fakes
