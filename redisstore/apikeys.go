package redisstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/clonebot/clonebot/apikey"
)

// Keys stores the REST API's keys: one hash per key (never its token, only the token's
// SHA-256) and a set of their ids. Revoked keys stay, so `clonebot apikey list` shows them.
// Safe for concurrent use.
type Keys struct {
	c       redis.UniversalClient
	k       keys
	create  *redis.Script
	revoke  *redis.Script
	attempt attemptScripts
}

// Keys returns the API key store.
func (db *DB) Keys() *Keys { return NewKeys(db.c, db.prefix) }

// NewKeys returns the API key store under prefix (keys.go).
func NewKeys(c redis.UniversalClient, prefix string) *Keys {
	return &Keys{c: c, k: newKeys(prefix), create: redis.NewScript(luaKeyCreate), revoke: redis.NewScript(luaKeyRevoke),
		attempt: newAttemptScripts()}
}

// Hash fields of a stored API key.
const (
	kfID        = "id"
	kfName      = "name"
	kfPrincipal = "principal"
	kfOwner     = "owner"
	kfScopes    = "scopes"
	kfHash      = "hash"
	kfCreatedAt = "created_at_ms"
	kfCreatedBy = "created_by"
	kfExpiresAt = "expires_at_ms"
	kfRevokedAt = "revoked_at_ms"
)

// KEYS[1] the key's hash, KEYS[2] the index; ARGV: id, then field/value pairs.
const luaKeyCreate = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local fields = {}
for i = 2, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('SADD', KEYS[2], ARGV[1])
return 1
`

// KEYS[1] the key's hash; ARGV: at (ms). 1 revoked now, 2 revoked before, 0 no such key.
const luaKeyRevoke = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('HSETNX', KEYS[1], 'revoked_at_ms', ARGV[1]) == 0 then return 2 end
return 1
`

// Create stores a new key. apikey.ErrExists if its id is taken.
func (s *Keys) Create(ctx context.Context, k *apikey.Key) error {
	args := []any{k.ID}
	for _, f := range [][2]string{
		{kfID, k.ID}, {kfName, k.Name}, {kfPrincipal, k.Principal}, {kfOwner, k.Owner}, {kfScopes, apikey.JoinScopes(k.Scopes)},
		{kfHash, k.Hash}, {kfCreatedAt, ms(k.CreatedAt)}, {kfCreatedBy, k.CreatedBy}, {kfExpiresAt, ms(k.ExpiresAt)}, {kfRevokedAt, ms(k.RevokedAt)},
	} {
		if f[1] != "" {
			args = append(args, f[0], f[1])
		}
	}
	n, err := s.create.Run(ctx, s.c, []string{s.k.apiKey(k.ID), s.k.apiKeys()}, args...).Int()
	if err != nil {
		return fmt.Errorf("create API key %s: %w", k.ID, err)
	}
	if n == 0 {
		return fmt.Errorf("create API key %s: %w", k.ID, apikey.ErrExists)
	}
	return nil
}

// Get returns the key with id; apikey.ErrInvalid if there is none.
func (s *Keys) Get(ctx context.Context, id string) (*apikey.Key, error) {
	return readHash(ctx, s.c, s.k.apiKey(id), "API key "+id, apikey.ErrInvalid, keyFromHash)
}

// List returns every key, revoked and expired ones too, oldest first.
func (s *Keys) List(ctx context.Context) ([]*apikey.Key, error) {
	out, err := readSet(ctx, s.c, s.k.apiKeys(), s.k.apiKey, keyFromHash) // one pipeline; keys gone are left out
	if err != nil {
		return nil, fmt.Errorf("list API keys: %w", err)
	}
	slices.SortFunc(out, func(a, b *apikey.Key) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// Revoke revokes the key with id at at, from its next use on; revoking it again changes
// nothing (the first time stays). It returns the key; apikey.ErrInvalid if there is none.
func (s *Keys) Revoke(ctx context.Context, id string, at time.Time) (*apikey.Key, error) {
	n, err := s.revoke.Run(ctx, s.c, []string{s.k.apiKey(id)}, ms(at)).Int()
	if err != nil {
		return nil, fmt.Errorf("revoke API key %s: %w", id, err)
	}
	if n == 0 {
		return nil, fmt.Errorf("API key %s: %w", id, apikey.ErrInvalid)
	}
	return s.Get(ctx, id)
}

func keyFromHash(h map[string]string) (*apikey.Key, error) {
	k := &apikey.Key{ID: h[kfID], Name: h[kfName], Principal: h[kfPrincipal], Owner: h[kfOwner], Hash: h[kfHash], CreatedBy: h[kfCreatedBy]}
	var err error
	if h[kfScopes] != "" {
		if k.Scopes, err = apikey.ParseScopes(h[kfScopes]); err != nil {
			return nil, fmt.Errorf("API key %s: %w", k.ID, err)
		}
	}
	for _, t := range []struct {
		field string
		dst   *time.Time
	}{{kfCreatedAt, &k.CreatedAt}, {kfExpiresAt, &k.ExpiresAt}, {kfRevokedAt, &k.RevokedAt}} {
		if *t.dst, err = parseMS(h[t.field]); err != nil {
			return nil, fmt.Errorf("API key %s field %s: %w", k.ID, t.field, err)
		}
	}
	return k, nil
}

// Idempotent attempts (apikey.Attempt), one hash each, under the API key that made them and
// the SHA-256 of the Idempotency-Key (so a client's key of any length makes a short Redis key).

// Hash fields of a stored attempt.
const (
	afFingerprint = "fingerprint"
	afRequestID   = "request_id"
	afOwner       = "owner"
	afLeaseUntil  = "lease_until_ms"
	afDone        = "done"
	afStatus      = "status"
	afLocation    = "location"
	afBody        = "body"
)

// KEYS[1] the attempt; ARGV: owner, now (ms), lease (ms), ttl (ms), fingerprint, request id.
// {claim, ”, the attempt's fields}.
const luaAttemptClaim = `
local owner, now, lease, ttl, fp, rid = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], ARGV[5], ARGV[6]
local h = redis.call('HMGET', KEYS[1], 'fingerprint', 'done', 'lease_until_ms')
if not h[1] then
  redis.call('HSET', KEYS[1], 'fingerprint', fp, 'request_id', rid, 'owner', owner,
    'lease_until_ms', string.format('%d', now + lease))
  redis.call('PEXPIRE', KEYS[1], ttl)
  return {'claimed', '', redis.call('HGETALL', KEYS[1])}
end
if h[1] ~= fp then return {'mismatch', '', redis.call('HGETALL', KEYS[1])} end
if h[2] == '1' then return {'answered', '', redis.call('HGETALL', KEYS[1])} end
if tonumber(h[3]) <= now then
  redis.call('HSET', KEYS[1], 'owner', owner, 'lease_until_ms', string.format('%d', now + lease))
  return {'claimed', '', redis.call('HGETALL', KEYS[1])}
end
return {'running', '', redis.call('HGETALL', KEYS[1])}
`

// KEYS[1] the attempt; ARGV: owner, status, location, body. 1 if owner held it and it is done.
const luaAttemptFinish = `
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] or redis.call('HGET', KEYS[1], 'done') == '1' then return 0 end
redis.call('HSET', KEYS[1], 'done', '1', 'status', ARGV[2], 'location', ARGV[3], 'body', ARGV[4])
return 1
`

// KEYS[1] the attempt; ARGV: owner. 1 if owner held it, it was not done and it is gone.
const luaAttemptDrop = `
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] or redis.call('HGET', KEYS[1], 'done') == '1' then return 0 end
return redis.call('DEL', KEYS[1])
`

type attemptScripts struct{ claim, finish, drop *redis.Script }

func newAttemptScripts() attemptScripts {
	return attemptScripts{claim: redis.NewScript(luaAttemptClaim), finish: redis.NewScript(luaAttemptFinish), drop: redis.NewScript(luaAttemptDrop)}
}

func (s *Keys) attemptKey(keyID, idempotencyKey string) string {
	sum := sha256.Sum256([]byte(idempotencyKey))
	return s.k.attempt(keyID, hex.EncodeToString(sum[:]))
}

// Claim tries to take the attempt of keyID's idempotencyKey for a.Owner until now+lease: a new
// one is recorded with a's fingerprint and request id and kept for ttl; one whose owner's lease
// ended is taken over. It returns what it found and the attempt as stored.
func (s *Keys) Claim(ctx context.Context, keyID, idempotencyKey string, a apikey.Attempt, now time.Time, lease, ttl time.Duration) (apikey.Claim, apikey.Attempt, error) {
	res, err := s.attempt.claim.Run(ctx, s.c, []string{s.attemptKey(keyID, idempotencyKey)}, a.Owner, ms(now),
		lease.Milliseconds(), ttl.Milliseconds(), a.Fingerprint, a.RequestID).Slice()
	if err != nil {
		return "", apikey.Attempt{}, fmt.Errorf("claim attempt of API key %s: %w", keyID, err)
	}
	rep, err := parseReply(res)
	if err != nil {
		return "", apikey.Attempt{}, fmt.Errorf("claim attempt of API key %s: %w", keyID, err)
	}
	got, err := attemptFromHash(rep.fields)
	if err != nil {
		return "", apikey.Attempt{}, fmt.Errorf("attempt of API key %s: %w", keyID, err)
	}
	return apikey.Claim(rep.code), got, nil
}

// Finish records the answer of an attempt owner holds; false if it no longer does (its lease
// ended and another took it over and finished first).
func (s *Keys) Finish(ctx context.Context, keyID, idempotencyKey, owner string, status int, location string, body []byte) (bool, error) {
	n, err := s.attempt.finish.Run(ctx, s.c, []string{s.attemptKey(keyID, idempotencyKey)}, owner, status, location, body).Int()
	if err != nil {
		return false, fmt.Errorf("finish attempt of API key %s: %w", keyID, err)
	}
	return n == 1, nil
}

// Drop forgets an attempt owner holds and has not finished (it made nothing, so a retry may
// run it afresh).
func (s *Keys) Drop(ctx context.Context, keyID, idempotencyKey, owner string) error {
	if err := s.attempt.drop.Run(ctx, s.c, []string{s.attemptKey(keyID, idempotencyKey)}, owner).Err(); err != nil {
		return fmt.Errorf("drop attempt of API key %s: %w", keyID, err)
	}
	return nil
}

func attemptFromHash(h map[string]string) (apikey.Attempt, error) {
	a := apikey.Attempt{Fingerprint: h[afFingerprint], RequestID: h[afRequestID], Owner: h[afOwner], Done: h[afDone] == "1",
		Location: h[afLocation], Body: []byte(h[afBody])}
	var err error
	if a.LeaseUntil, err = parseMS(h[afLeaseUntil]); err != nil {
		return apikey.Attempt{}, err
	}
	if h[afStatus] != "" {
		if a.Status, err = strconv.Atoi(h[afStatus]); err != nil {
			return apikey.Attempt{}, fmt.Errorf("status %q: %w", h[afStatus], err)
		}
	}
	return a, nil
}
