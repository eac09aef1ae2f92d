// Package audit owns clonebot's governance evidence: the hash-chained audit log's events and
// their canonical form, the consumer that moves the engine's outbox into the log, verification
// of the chain against anchors kept outside the database, the daily anchor schedule, export
// (CSV, JSON), and the auditor's answers and report computed from the log.
//
// It does no I/O of its own: it declares the ports it needs (Outbox, Log, ChainReader,
// HistoryReader, Exporter, AnchorLog, AnchorSink, clock.Clock) and package audit/pgstore implements the
// log's on PostgreSQL.
//
// # The chain
//
// Every row of the log has a sequence number (1, 2, 3, … without gaps), the hash of the row before
// it (prev; 32 zero bytes for row 1) and its own hash:
//
//	hash = SHA-256(prev || canonical(event))
//
// canonical(event) is the concatenation of these fields, each written as its length in bytes
// (4 bytes, big-endian, unsigned) followed by its bytes:
//
//  1. the format tag "clonebot-audit/1"
//  2. the event id
//  3. the event time as decimal Unix microseconds (UTC; a leading '-' before 1970)
//  4. request id, 5. actor, 6. actor name, 7. action, 8. tier, 9. source, 10. channel
//  11. the number of details, in decimal
//  12. then, for each detail in ascending byte order of its key, the key and the value.
//
// Strings are UTF-8; Normalize replaces invalid bytes and NUL with U+FFFD and truncates the time
// to the microsecond (what PostgreSQL keeps) before an event is hashed, so the bytes hashed are the
// bytes stored. The form uses only lengths, decimal integers and byte-wise sorting, so it does not
// depend on Go's JSON or map order and stays the same across Go versions; TestCanonicalVector
// pins it with a known hash.
//
// The sequence number is the row's position and is not hashed: the order is protected by the
// links (each row's prev must be the hash of the row before it), so moving, inserting or deleting
// a row breaks a link or leaves a gap, and Verify names the row. What a chain alone cannot see is
// its newest rows cut off, or rows appended by someone who can compute SHA-256: the head
// (sequence number and hash) is therefore published outside the database (Anchorer), and Verify
// checks the chain against the anchors it is given.
//
// # Actions
//
// The engine's outbox records "requested", "voted", "extended", "message" and each status a
// request enters (Action* constants). The break-glass review loop and the revocation path emit
// the actions declared here too (ActionReviewRequested, ActionReviewReminded, ActionReviewed,
// ActionReviewRefused, ActionCredentialsRevoked), with the details their comments list.
package audit
