// Package pgstore is the audit log on PostgreSQL (pgx): the schema, applied at start from the
// embedded, numbered migrations under an advisory lock (replicas starting at once apply them
// once); the append-only events table, guarded by a trigger and hash-chained as package audit
// defines; the writers' cursors; and the anchors published from the chain.
//
// Writers serialize on a transaction-scoped advisory lock: each append reads the head, drops the
// events whose ids are in already (idempotency for at-least-once delivery), chains the rest onto
// the head with COPY and moves its cursor, in one transaction. Two replicas feeding the same log
// therefore make one chain.
package pgstore
