// Package transport owns how Slack's requests reach clonebot: Socket Mode (the default, no
// public endpoint) and signed HTTP. It verifies every HTTP request (body size, replay
// window, v0 HMAC signature) before parsing it, answers url_verification, deduplicates
// Events API retries by event_id, acknowledges every payload before any work runs, and hands
// the work to a bounded worker pool that answers "busy" instead of queueing without limit.
//
// The Dispatcher (declared here, implemented by package bot) receives the verified, parsed
// payloads on the pool; transport knows nothing of commands or approvals.
package transport
