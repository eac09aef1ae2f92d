// Package api is clonebot's REST API for pipelines and scripts: JSON under /api/v1 on its own
// listen address of `clonebot serve`, described by the OpenAPI 3 document it serves at
// /api/v1/openapi.json (openapi.json here; a test keeps it equal to the routes).
//
// It is an adapter like the Slack bot: every request is authenticated by an API key
// (apikey), rate-limited per key (golang.org/x/time/rate, in each replica's memory), checked
// against the key's scopes, and then handed to the same use cases Slack calls (handlers), as
// the key's principal (a Slack user, or a service identity of the policy) with the key named as
// the way it came (Actor.Via = "api:<key id>", which the timeline and the audit log record).
// The policy, approvals in Slack, quotas, caps and masking apply unchanged. A refusal of a use
// case (*handlers.Error) and every refusal of the API's own are answered as RFC 9457
// problem+json; any other error is logged with a reference, which the answer gives.
//
// POST /clones with an Idempotency-Key is an attempt recorded under the key (apikey.Attempt):
// retries, concurrent ones included, get the first attempt's answer and the same clone. GET
// /clones/{id}?wait=60s holds the answer until the clone is ready or has ended, polling the
// store with a backoff bounded by the wait.
package api
