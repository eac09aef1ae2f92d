package redisstore

import "fmt"

// Every key clonebot keeps in Redis is named here, under one prefix shared by every process
// (config `redis.prefix`, e.g. "clonebot:"). The first {...} of a key is its hash tag: keys
// with the same tag live in one hash slot of a Redis Cluster, and a Lua script or MULTI block
// may only touch keys of one slot. So each group of keys that a script or transaction changes
// together shares a tag, and the prefix must not contain braces.
//
//	{clonebot}      the approval engine and everything that changes with a request in one
//	                step: requests, their indexes, the audit outbox, leases, the lifecycle's
//	                marks, and the Slack notices waiting to be sent
//	{restore}       the restore job stream, its dead letters, the agents' events stream and
//	                the per-request enqueue markers
//	{slack-events}  Events API event ids already handled (dedupe of Slack's retries)
//	{api}           the REST API's keys (hashed) and the index of them, and the idempotent
//	                attempts of POST /clones (apikeys.go)
//
// The engine lives on one shard. That is fine for approval traffic: requests and clicks arrive
// at human speed, a request is about a kilobyte, and one shard runs thousands of vote scripts
// a second (docs/bench/engine.md).
const (
	tagEngine  = "{clonebot}"
	tagRestore = "{restore}"
	tagSlack   = "{slack-events}"
)

// The {clonebot} keys a Lua script derives from BASE (the engine() prefix) by these names: the
// scripts get them in their header (scripts.go), and the key functions below use the same
// constants, so a script and Go cannot disagree about a key.
const (
	nameUser        = "user:"    // + user id
	nameTeam        = "team:"    // + team
	nameMarks       = "marks:"   // + request id
	nameNotices     = "notices:" // + request id
	nameNotify      = "notify"
	nameNoticeLease = "nlease:" // + request id
	nameWorking     = "working"
	nameReviews     = "reviews"
	nameGolden      = "golden:" // + golden copy id
	nameGoldenUsers = "gusers:" // + golden copy id
)

// luaKeyNames is the header that gives the scripts those names.
func luaKeyNames() string {
	return fmt.Sprintf("local K_USER, K_TEAM, K_MARKS, K_NOTICES, K_NOTIFY, K_NLEASE, K_WORKING, K_REVIEWS, K_GOLDEN, K_GUSERS = %s, %s, %s, %s, %s, %s, %s, %s, %s, %s\n",
		luaString(nameUser), luaString(nameTeam), luaString(nameMarks), luaString(nameNotices), luaString(nameNotify), luaString(nameNoticeLease),
		luaString(nameWorking), luaString(nameReviews), luaString(nameGolden), luaString(nameGoldenUsers))
}

// keys names the keys under one prefix.
type keys struct{ prefix string }

func newKeys(prefix string) keys { return keys{prefix: prefix} }

// engine is the base of every {clonebot} key; the Lua scripts receive it as BASE and derive
// the per-user and per-team index keys from it (user and team below).
func (k keys) engine() string { return k.prefix + tagEngine + ":" }

func (k keys) request(id string) string  { return k.engine() + "req:" + id }      // hash: one request (dto.go)
func (k keys) pending() string           { return k.engine() + "pending" }        // zset: pending requests by approval deadline (ms)
func (k keys) expiry() string            { return k.engine() + "expiry" }         // zset: ready clones by expiry (ms)
func (k keys) active() string            { return k.engine() + "active" }         // set: every active request
func (k keys) user(u string) string      { return k.engine() + nameUser + u }     // set: the user's active requests
func (k keys) outbox() string            { return k.engine() + "outbox" }         // stream: audit events
func (k keys) lease(id string) string    { return k.engine() + "lease:" + id }    // string: owner of the request's lease, PX
func (k keys) marks(id string) string    { return k.engine() + nameMarks + id }   // hash: what the lifecycle did for a request
func (k keys) working() string           { return k.engine() + nameWorking }      // set: requests the lifecycle has a step for (Status.Working, or ready with an expiry the backend was not told)
func (k keys) reviews() string           { return k.engine() + nameReviews }      // zset: ended break-glass clones waiting for review, by due time (ms)
func (k keys) teardown() string          { return k.engine() + "teardown" }       // set: failed requests whose clone is to destroy
func (k keys) notify() string            { return k.engine() + nameNotify }       // zset: requests with notices to send, by the oldest's time (ms)
func (k keys) progress(id string) string { return k.engine() + "progress:" + id } // string: ts of the request's progress line in Slack
func (k keys) sweepLease() string        { return k.engine() + "sweep" }          // string: owner of the orphan sweep, PX the sweep interval (one sweep per interval among the replicas)
func (k keys) sentinel() string          { return k.engine() + "sentinel" }       // string: set once and never deleted; its absence means Redis lost its data

// Golden copies (golden.go). They share the engine's tag: a request made from a golden copy
// checks, in its create script, that the copy is ready and joins its dependants.
func (k keys) golden(id string) string      { return k.engine() + nameGolden + id }      // hash: one golden copy
func (k keys) goldenUsers(id string) string { return k.engine() + nameGoldenUsers + id } // set: requests that depend on it
func (k keys) goldens() string              { return k.engine() + "goldens" }            // set: golden copies not retired
func (k keys) goldenLine(line string) string {
	return k.engine() + "gline:" + line // hash: a line's last slot, generation, build under way, recent build times
}

// Derived in Lua only: team:<name> (the team's active requests), notices:<id> (list: a
// request's notices to send, oldest first, JSON) and nlease:<id> (the sender working on them).

func (k keys) restore() string           { return k.prefix + tagRestore + ":" }
func (k keys) jobs() string              { return k.restore() + "jobs" }      // stream: restore jobs (consumer group of the agents)
func (k keys) events() string            { return k.restore() + "events" }    // stream: agents' progress and results
func (k keys) deadJobs() string          { return k.restore() + "dead" }      // stream: jobs given up on
func (k keys) enqueued(id string) string { return k.restore() + "req:" + id } // string: the request's job was enqueued

func (k keys) slackEvent(id string) string { return k.prefix + tagSlack + ":" + id } // string: an Events API event id seen, PX

// The REST API's state: its keys and the idempotent attempts made with them. A key is created
// with its index entry in one step, so they share a tag; the API's rate limits are kept in each
// replica's memory, not here.
const tagAPI = "{api}"

func (k keys) api() string                    { return k.prefix + tagAPI + ":" }
func (k keys) apiKey(id string) string        { return k.api() + "key:" + id }                  // hash: one API key, never its token (apikeys.go)
func (k keys) apiKeys() string                { return k.api() + "keys" }                       // set: every API key's id, revoked ones too
func (k keys) attempt(keyID, h string) string { return k.api() + "attempt:" + keyID + ":" + h } // hash: an idempotent attempt, by key and SHA-256 of its Idempotency-Key, PX
