// Package agent is the restore worker: it takes restore jobs from a Redis Stream consumer
// group, fetches the backup (S3 or a local folder), restores it into the target database with
// masking applied while loading (or masks a fast-clone/snapshot target in place), checks that
// no sampled original value of a masked column survived, and publishes progress events and the
// final result on a stream the bot reads.
//
// Delivery is at least once: a job is acknowledged only after its final result is published,
// a job whose agent died is reclaimed by another agent (XAUTOCLAIM) once it has been idle for
// the visibility timeout, and a job that failed MaxAttempts times goes to the dead-letter
// stream with its reason. Every attempt starts from a clean target.
package agent
