// Package redisstore implements approvals.Store on Redis (go-redis v9, standalone or Cluster).
//
// It owns the storage of clone requests, the indexes that make the engine's sweeps cheap, the
// audit outbox and the per-request leases:
//
//	<prefix>{clonebot}:req:<id>      hash: one request (see dto.go for the fields)
//	<prefix>{clonebot}:pending       zset: pending requests by approval deadline (unix ms)
//	<prefix>{clonebot}:expiry        zset: ready clones by TTL expiry (unix ms)
//	<prefix>{clonebot}:active        set:  every active request (approvals.Status.Active)
//	<prefix>{clonebot}:user:<user>   set:  the user's active requests (quota = SCARD)
//	<prefix>{clonebot}:team:<team>   set:  the team's active requests
//	<prefix>{clonebot}:outbox        stream: audit events, appended in the same script as the change
//	<prefix>{clonebot}:lease:<id>    string: the owner of the request's lease, with a PX expiry
//	<prefix>{clonebot}:golden:<id>   hash: one golden copy, and gusers:<id>, goldens, gline:<line> (golden.go)
//
// (keys.go names every key, these and the others.)
//
// Redis may lose its data (a restart without persistence, FLUSHALL, a failover to an empty
// replica). The long-lived readers carry on: a consumer group Redis lost (NOGROUP, or a
// blocking read UNBLOCKED because its stream went) is made again, a job's heartbeat reports
// the job gone, and the audit outbox, whose new ids may fall behind the log's cursor, is then
// read from its start. A sentinel key that is never deleted tells serve the data went.
//
// Every method that changes a request is one Lua script run with EVALSHA: one round trip that
// reads the current state, checks it, writes the request, keeps every index in step with the new
// status and appends the audit event(s) to the outbox. A call that changes nothing (a repeated
// click, a retried transition) writes nothing and appends no event. The transition table and
// the set of active statuses are generated into the scripts from package approvals, so the state
// machine has one source of truth.
//
// All keys carry the hash tag {clonebot}, so they live in one hash slot and every multi-key
// script is legal on Redis Cluster. The per-user and per-team index keys are derived inside the
// scripts from the request's requester and team; they share the tag, so they are in the
// same slot as the declared keys (Redis allows undeclared keys in a script when they hash to
// the slot of its declared ones). The price is that the whole engine lives on one shard. That
// is fine for approval traffic: requests and clicks arrive at human speed (a handful per second
// at most), a request is about a kilobyte, and one shard runs thousands of vote scripts a
// second even on a small shared machine (docs/bench/engine.md).
//
// Redis keeps times to the millisecond: timestamps are stored as unix milliseconds and
// durations as milliseconds, so Lua can do arithmetic on them exactly (a double holds them
// without loss, unlike nanoseconds). Values Lua writes as JSON (votes, timeline events) hold
// only strings and small integers, and Lua appends to JSON arrays as text, so cjson's number
// formatting and its encoding of empty tables never reach a stored value.
package redisstore
