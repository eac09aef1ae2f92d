// Package approvals is clonebot's domain core: the clone request, its states and the legal
// transitions between them, the policy (sources, tiers, approver slots, TTLs, quotas) and the
// pure Evaluate that applies it, and the Store interface that persists requests atomically.
//
// It imports nothing from this repository and does no I/O; approvals/redisstore implements
// Store on Redis.
package approvals
