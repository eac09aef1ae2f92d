// Package approvals is clonebot's domain core: the clone request, its states and the legal
// transitions between them, the policy (sources, tiers, approver slots, TTLs, quotas) and the
// pure Evaluate that applies it, the inputs and sentinel errors of the request store, and the
// Notices that say what people must be told about a request.
//
// It imports nothing from this repository but internal/yamlerr, the strict YAML reader its
// policy file is parsed with, and does no I/O. The packages that use the request
// store declare the methods they need; redisstore implements them on Redis.
package approvals
