// Package aws is the AWS backend of the provisioner: it makes clones as Aurora PostgreSQL
// clusters (an empty encrypted cluster for restore, a copy-on-write clone for fast-clone, a
// snapshot restore for snapshot), keeps each clone's credentials in a Secrets Manager secret,
// tags every resource it makes so that the orphan reaper (Sweep) can find them, and lists
// what can be cloned (Catalogue: backup files in S3, cluster snapshots, the point-in-time
// window of the source cluster).
//
// Every identifier is derived from the request id, so a Create retried after a crash at any
// step finds what exists and finishes it. deploy/iam-policy.json holds exactly the actions
// this package calls; a test keeps the two in agreement.
package aws
