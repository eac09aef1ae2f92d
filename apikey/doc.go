// Package apikey is what an API key is: the record kept of it (name, the principal it acts for,
// its owner, scopes, expiry, revocation and the hash of its token, never the token), the token's
// format, and the checks a request's token must pass. It also holds the record of an
// idempotent attempt, which lives under a key. It does no I/O: the Redis adapter stores keys
// and attempts, the REST API checks tokens, and `clonebot apikey` makes and revokes keys.
//
// A token is "cbk_<id>_<secret>": the id (10 characters) finds the record, the secret (32
// random bytes, base64url) proves possession. The record keeps SHA-256 of the whole token: the
// secret has 256 bits of entropy, so a fast hash is as strong as a slow one would be (slow
// hashes protect guessable passwords), and checking a key costs microseconds on every request.
package apikey
