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
// Besides the Store, the Manager keeps a few small Redis keys of its own, all under the hash
// tag {lifecycle}:
//
//	<prefix>{lifecycle}:req:<id>    hash: Create attempts and next retry, job enqueued, expiry
//	                                told to the backend, TTL warnings and reminder sent
//	<prefix>{lifecycle}:teardown    set: requests marked failed whose clone is still to destroy
//	                                (failed is not an active status, so no Store index has them)
//
// It reports through handlers.Notifier, implements handlers.Lifecycle, and, given a
// prometheus.Registerer, exposes clonebot_revocation_latency_seconds (expiry → clone and
// credentials destroyed). Tick runs one pass for tests; Run is the loop of a replica.
package lifecycle
