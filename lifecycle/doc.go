// Package lifecycle is the reconcile loop that takes an approved request to a ready clone and
// a ready clone to destroyed:
//
//	approved → provisioning → restoring → ready → (TTL warnings, extension sync) → destroying → destroyed
//	                  ↘ failed (after the retries, or the agent's failure) → destroying → destroyed
//	pending → (reminder) → expired
//
// A Manager reads its work from the Store (the active requests, the expiry and pending
// indexes) and from the restore agents' events stream (a consumer group), so it holds no state
// that a crash can lose: a restarted or second replica finds requests in working states and
// carries on. Every step runs under the request's lease, and every state change is one
// Store.Transition guarded by the state it starts from; Provisioner.Create and Queue.Enqueue
// are idempotent per request, so a step retried after a crash never makes a second clone or
// job.
//
// What the Manager remembers between passes (Create attempts and the next retry, the job
// enqueued, the expiry told to the backend, the TTL warnings and reminder given, the failed
// requests whose clone is still to destroy) is kept by the Store too, beside the requests.
//
// The Manager never waits for Slack: what people must be told (progress, the ready message,
// TTL warnings, reminders, timeline notes) is recorded as approvals.Notice with the state change
// that causes it, or on its own through Store.Announce, and the notifier delivers it later.
// Golden copies (golden.go) are reconciled the same way, by their ids: the schedules start
// their builds, which are made by the backends and restored by the agents like clones, sealed
// when ready, and retired beyond the policy's keep once no clone depends on them; a request
// made from one is a thin copy, ready without a restore job.
//
// Given a prometheus.Registerer, it exposes clonebot_revocation_latency_seconds (expiry → clone
// and credentials destroyed). Tick runs one pass for tests; Run is the loop of a replica.
//
// Two more loops live here. RunSweeps reconciles from the backends' truth: every clone a
// backend can list (Sweeper) that no live request owns is destroyed and reported to the
// security channel, at start, every sweep interval (one replica per interval, a lease) and at
// once when Redis turns out to have lost its data (a sentinel key gone). The ExpiryGuard,
// which the agents run, revokes expired clones' access without the reconcile loop, so open
// sessions end at expiry even while no serve replica runs.
package lifecycle
