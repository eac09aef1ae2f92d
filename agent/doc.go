// Package agent is the restore worker: it takes restore jobs from a Redis Stream consumer
// group, fetches the backup (S3 or a local folder), restores it into the target database with
// masking applied while loading (or masks a fast-clone/snapshot target in place), checks the
// clone before it is released, and publishes progress events and the final result on a stream
// the bot reads.
//
// Before anything moves, the backup's schema is read (a script to its end) and the job's
// masking level applied to it (mask.Plan): a column neither ruled nor declared safe, large
// objects, rows loaded by INSERT statements, a truncated or corrupt file or a format the
// agent does not read fail the job at once, with a reason that says what to do. An attempt
// that fails later drops what it created, so the target is never left half restored. The
// verification gate then reads a sample of every loaded table: no sampled original of a
// masked column may be in the clone, and no unmasked, undeclared text may look like personal
// data to the detectors.
//
// Delivery is at least once: a job is acknowledged only after its final result is published,
// a job whose agent died is reclaimed by another agent (XAUTOCLAIM) once it has been idle for
// the visibility timeout, and a job that failed MaxAttempts times goes to the dead-letter
// stream with its reason. Every attempt starts from a clean target.
//
// RestoreOnce runs the same restore once, outside the queue (clonebot restore); CheckBackup
// reads a backup without a database and reports each column's masking (clonebot masking
// check); BackupTables (which stops when its context ends) and mask.Rules.Summarize count a
// level's unclassified columns, for /clone explain.
package agent
