// Package aws is the AWS backend of the provisioner: it makes clones as Aurora PostgreSQL
// clusters (an empty encrypted cluster for restore, a copy-on-write clone for fast-clone, a
// snapshot restore for snapshot), keeps each clone's credentials in a Secrets Manager secret,
// tags every resource it makes so that the orphan reaper (Sweep) can find them, and lists
// what can be cloned (Catalogue: backup files in S3, cluster snapshots, the point-in-time
// window of the source cluster).
//
// Every identifier is derived from the request id, so a Create retried after a crash at any
// step finds what exists and finishes it. Secrets are encrypted with the configured KMS key;
// destroyed clusters leave no automated backups, and final snapshots are swept after their
// retention. deploy/iam-policy-bot.json holds exactly the actions serve makes through this
// package, deploy/iam-policy-agent.json those of the agent; a test keeps them in agreement.
package aws
