package redisstore

import (
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/clonebot/clonebot/approvals"
)

// Every request script is called with the same keys and with the key base as ARGV[1]:
//
//	KEYS[1] the request hash, KEYS[2] the outbox, KEYS[3] pending, KEYS[4] expiry, KEYS[5] active
//
// Keys derived from BASE inside a script (user:, team:, notices:, notify, marks:) share the
// {clonebot} tag of the declared ones (keys.go).
//
// and answers {code, detail} or, for the codes that carry the request, {code, detail, fields}
// with fields the request's HGETALL after the change: one round trip for the change and the
// answer. Scripts read only the fields they need (HMGET), never the whole hash into a table.

// luaShared holds the helpers of every script that changes a request or a golden copy; it
// follows a header that names BASE (ARGV[1], the engine's key base).
const luaShared = `
local function set(v) return v and v ~= '' end

-- args returns ARGV[from .. from+n-1].
local function args(from, n)
  local out = {}
  for i = from, from + n - 1 do out[#out + 1] = ARGV[i] end
  return out
end

-- put appends field k and value v to an HSET argument list, unless v is empty.
local function put(list, k, v)
  if v == '' then return end
  list[#list + 1] = k
  list[#list + 1] = v
end

-- allowed reports whether cur is one of ARGV[from ..], the statuses a guarded change
-- requires; none given allows any.
local function allowed(cur, from)
  if #ARGV < from then return true end
  for i = from, #ARGV do
    if ARGV[i] == cur then return true end
  end
  return false
end

-- announce records notices for the notifier, each an encoded JSON object: appended to the
-- notice list of id (a request or a golden copy), and id put among those with notices to send
-- (scored by when its oldest unsent notice was recorded).
local function announce(id, at, items)
  if #items == 0 then return end
  redis.call('RPUSH', BASE .. K_NOTICES .. id, unpack(items))
  redis.call('ZADD', BASE .. K_NOTIFY, 'NX', at, id)
end
`

// luaCommon holds the helpers every request script shares. ACTIVE (and NEXT, for
// transitions) are generated from package approvals by activeLua and nextLua.
const luaCommon = `
local REQ, OUTBOX, PENDING, EXPIRY, ACTIVESET = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local BASE = ARGV[1]
` + luaShared + `

-- append_json appends one encoded item to a JSON array kept as text.
local function append_json(arr, item)
  if not set(arr) or arr == '[]' then return '[' .. item .. ']' end
  return string.sub(arr, 1, -2) .. ',' .. item .. ']'
end

-- sync moves the request in or out of each index whose membership differs between the
-- statuses from ('' for a new request) and to.
local function sync(id, from, to, requester, team, pending_at, expires_at)
  local was, is = from == 'pending', to == 'pending'
  if is and not was and set(pending_at) then redis.call('ZADD', PENDING, pending_at, id) end
  if was and not is then redis.call('ZREM', PENDING, id) end
  was, is = from == 'ready', to == 'ready'
  if is and not was and set(expires_at) then redis.call('ZADD', EXPIRY, expires_at, id) end
  if was and not is then redis.call('ZREM', EXPIRY, id) end
  -- working: a step to take whatever the time; entering ready also needs one (the backend is
  -- told the expiry), and the lifecycle takes a ready request out once it told it.
  was, is = WORKING[from] == true, WORKING[to] == true or to == 'ready'
  if is and not was then redis.call('SADD', BASE .. K_WORKING, id) end
  if was and not is then redis.call('SREM', BASE .. K_WORKING, id) end
  was, is = ACTIVE[from] == true, ACTIVE[to] == true
  if was ~= is then
    local op = 'SREM'
    if is then op = 'SADD' end
    redis.call(op, ACTIVESET, id)
    redis.call(op, BASE .. K_USER .. requester, id)
    if set(team) then redis.call(op, BASE .. K_TEAM .. team, id) end
  end
end

-- emit appends one audit event to the outbox. data holds only string values.
-- Every event also carries the request's tier, source, channel, mode and masking, so the audit
-- log can file and filter each row by them.
local function emit(typ, id, actor, at, data)
  local c = redis.call('HMGET', REQ, 'tier', 'source', 'channel', 'mode', 'masking')
  for i, k in ipairs({'tier', 'source', 'channel', 'mode', 'masking'}) do
    if data[k] == nil and set(c[i]) then data[k] = c[i] end
  end
  redis.call('XADD', OUTBOX, '*', 'type', typ, 'request_id', id, 'actor', actor, 'at', at,
    'data', cjson.encode(data))
end

-- card is the notice every change of a request records: show its card as it now is.
local function card(at) return cjson.encode({kind = 'card', at_ms = at}) end

-- said returns ARGV[from .. from+n-1], the notices the caller gave, after card(at).
local function said(at, from, n)
  local items = {card(at)}
  for _, v in ipairs(args(from, n)) do items[#items + 1] = v end
  return items
end

-- event encodes one timeline entry; every value is a string, empty ones are left out.
local function event(typ, from, to, by, note, at)
  local e = {type = typ, at = at}
  if from ~= '' then e.from = from end
  if to ~= '' then e.to = to end
  if by ~= '' then e.by = by end
  if note ~= '' then e.note = note end
  return cjson.encode(e)
end
`

// ARGV: base, id, requester, team, status, pending_at, per_user, per_team, n_events, n_say,
// created_at, golden (the golden copy it is made from, or ”), n_events × (type, actor, at,
// data), n_say notices, then the request's field/value pairs.
const luaCreate = `
if redis.call('EXISTS', REQ) == 1 then return {'exists', ''} end
local id, requester, team, status, pending_at = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local per_user, per_team = tonumber(ARGV[7]), tonumber(ARGV[8])
if per_user > 0 then
  local n = redis.call('SCARD', BASE .. K_USER .. requester)
  if n >= per_user then return {'quota_user', tostring(n)} end
end
if per_team > 0 and team ~= '' then
  local n = redis.call('SCARD', BASE .. K_TEAM .. team)
  if n >= per_team then return {'quota_team', tostring(n)} end
end
-- a thin copy: its golden copy is ready now, and cannot be retired while the request needs it.
local golden = ARGV[12]
if golden ~= '' then
  local gs = redis.call('HGET', BASE .. K_GOLDEN .. golden, 'status')
  if gs ~= 'ready' then return {'golden_gone', gs or ''} end
  redis.call('SADD', BASE .. K_GUSERS .. golden, id)
end
local n_events, n_say, created_at = tonumber(ARGV[9]), tonumber(ARGV[10]), ARGV[11]
local say_from = 13 + 4 * n_events
redis.call('HSET', REQ, unpack(args(say_from + n_say, #ARGV - say_from - n_say + 1)))
sync(id, '', status, requester, team, pending_at, false)
for i = 0, n_events - 1 do
  local j = 13 + 4 * i
  redis.call('XADD', OUTBOX, '*', 'type', ARGV[j], 'request_id', id, 'actor', ARGV[j + 1],
    'at', ARGV[j + 2], 'data', ARGV[j + 3])
end
announce(id, created_at, said(created_at, say_from, n_say))
return {'ok', ''}
`

// ARGV: base, id, voter, decision, reason, at, the voter's groups...
const luaVote = `
local id, voter, decision, reason, at = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local r = redis.call('HMGET', REQ, 'status', 'requester', 'team', 'slots', 'votes',
  'pending_expires_at_ms', 'history')
local status, requester, team, slots_json, votes_json, pending_at, history =
  r[1], r[2], r[3], r[4], r[5], r[6], r[7]
if not status then return {'not_found', ''} end

-- step 1: one vote per person; a repeated click answers with the vote already given.
local votes = {}
if set(votes_json) then votes = cjson.decode(votes_json) end
for _, v in ipairs(votes) do
  if v.user == voter then return {'already_voted', v.decision, redis.call('HGETALL', REQ)} end
end

-- step 2: only a pending request inside its approval window takes votes.
if status ~= 'pending' or (set(pending_at) and tonumber(at) >= tonumber(pending_at)) then
  return {'not_pending', status, redis.call('HGETALL', REQ)}
end

-- step 3: never the requester.
if voter == requester then return {'self', '', redis.call('HGETALL', REQ)} end

-- step 4: eligibility against the slots' principals (approvals.Principal.Matches).
local groups = {}
for i = 7, #ARGV do groups[ARGV[i]] = true end
local slots = {}
if set(slots_json) then slots = cjson.decode(slots_json) end
local function matches(slot)
  if type(slot.approvers) ~= 'table' then return false end
  for _, p in ipairs(slot.approvers) do
    local kind, name = string.match(p, '^([^:]*):(.*)$')
    if (kind == 'user' and name == voter) or (kind == 'group' and groups[name]) then return true end
  end
  return false
end

-- step 5: a deny from anyone eligible ends the request. An approval counts when the
-- approvals so far and it can be given distinct slots (approvals.Admit, the same steps as
-- approvals.AssignSlots); the assignment is recomputed, so an earlier approver may move to
-- another slot they could fill; once every slot is filled the request is approved.
local mine = {}
for i, s in ipairs(slots) do
  if matches(s) then mine[#mine + 1] = i - 1 end
end
if #mine == 0 then return {'not_eligible', '', redis.call('HGETALL', REQ)} end
local n_slots = #slots
-- place is Kuhn's augmenting path from approval i: an open slot first, else a slot whose
-- holder can move on.
local holder, assign, elig, seen = {}, {}, {}, {}
local function place(i)
  for _, s in ipairs(elig[i]) do
    if s >= 0 and s < n_slots and holder[s] == nil then
      holder[s] = i; assign[i] = s
      return true
    end
  end
  for _, s in ipairs(elig[i]) do
    if s >= 0 and s < n_slots and not seen[s] then
      seen[s] = true
      if place(holder[s]) then
        holder[s] = i; assign[i] = s
        return true
      end
    end
  end
  return false
end
-- label names slot i (0-based) for the audit events.
local function label(i)
  local name = slots[i + 1].name
  if type(name) == 'string' and name ~= '' then return name end
  return 'slot ' .. tostring(i + 1)
end
local slot, to, approvers, moved, filled = nil, '', {}, {}, 0
if decision == 'deny' then
  slot, to = -1, 'denied'
else
  for _, v in ipairs(votes) do
    if v.decision == 'approve' then
      approvers[#approvers + 1] = v
      -- approvals recorded before eligibility was may fill the slot they were given
      elig[#approvers] = type(v.eligible) == 'table' and v.eligible or {v.slot}
    end
  end
  elig[#approvers + 1] = mine
  for i = 1, #approvers + 1 do
    assign[i] = -1
    seen = {}
    if place(i) then filled = filled + 1 end
  end
  slot = assign[#approvers + 1]
  if slot < 0 then return {'not_eligible', '', redis.call('HGETALL', REQ)} end
  for i, v in ipairs(approvers) do
    if v.slot ~= assign[i] then
      moved[#moved + 1] = v.user .. ' now counts as ' .. label(assign[i])
      v.slot = assign[i]
    end
  end
  if filled == n_slots then to = 'approved' end
end

-- step 6: record the vote, the decision, the indexes and the audit events.
local vote = {user = voter, decision = decision, slot = slot, at = at}
local data = {decision = decision, slot = tostring(slot)}
local note = decision
if slot >= 0 then
  vote.eligible = mine
  if type(slots[slot + 1].name) == 'string' and slots[slot + 1].name ~= '' then
    data.slot_name = slots[slot + 1].name
    note = note .. ' (' .. slots[slot + 1].name .. ')'
  end
end
if #moved > 0 then
  data.reassigned = table.concat(moved, '; ')
  note = note .. '; earlier approvals re-matched'
end
if reason ~= '' then
  vote.reason = reason
  data.reason = reason
  note = note .. ': ' .. reason
end
history = append_json(history, event('voted', '', '', voter, note, at))
emit('voted', id, voter, at, data)
votes[#votes + 1] = vote
local changes = {'votes', cjson.encode(votes), 'updated_at_ms', at}
local outcome = 'counted'
if to ~= '' then
  history = append_json(history, event(to, 'pending', to, voter, '', at))
  changes[#changes + 1] = 'status'
  changes[#changes + 1] = to
  sync(id, 'pending', to, requester, team, pending_at, false)
  local ev = {from = 'pending', to = to}
  if to == 'approved' then
    local who = {}
    for i = 1, #approvers + 1 do
      local u = voter
      if i <= #approvers then u = approvers[i].user end
      who[assign[i] + 1] = label(assign[i]) .. ': ' .. u
    end
    ev.approvers = table.concat(who, '; ')
  end
  emit(to, id, voter, at, ev)
  outcome = to
end
changes[#changes + 1] = 'history'
changes[#changes + 1] = history
redis.call('HSET', REQ, unpack(changes))
announce(id, at, {card(at), cjson.encode({kind = 'vote', by = voter, outcome = outcome, at_ms = at})})
return {outcome, '', redis.call('HGETALL', REQ)}
`

// ARGV: base, id, to, by, note, at, clone JSON (may be empty), failure (may be empty),
// same_is_noop (1 or 0), review due (ms, may be empty), n_say, n_say notices, then the statuses
// the request must be in (none: any).
const luaTransition = `
local id, to, by, note, at, clone, failure = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local review_due, n_say = ARGV[10], tonumber(ARGV[11])
local guard_from = 12 + n_say
local h = redis.call('HMGET', REQ, 'status', 'requester', 'team', 'pending_expires_at_ms',
  'expires_at_ms', 'ttl_ms', 'history')
local cur = h[1]
if not cur then return {'not_found', ''} end
if cur == to and ARGV[9] == '1' then return {'same', cur, redis.call('HGETALL', REQ)} end
if not allowed(cur, guard_from) then return {'guard', cur} end
if not (NEXT[cur] and NEXT[cur][to]) then return {'illegal', cur} end

local changes = {'status', to, 'updated_at_ms', at}
local data = {from = cur, to = to}
local expires_at = h[5]
if to == 'ready' then
  expires_at = string.format('%d', tonumber(at) + tonumber(h[6] or '0'))
  changes[#changes + 1] = 'ready_at_ms'
  changes[#changes + 1] = at
  changes[#changes + 1] = 'expires_at_ms'
  changes[#changes + 1] = expires_at
  data.expires_at_ms = expires_at
end
put(changes, 'clone', clone)
put(changes, 'failure', failure)
if failure ~= '' then data.failure = failure end
if note ~= '' then data.note = note end
put(changes, 'review_due_at_ms', review_due)
changes[#changes + 1] = 'history'
changes[#changes + 1] = append_json(h[7], event(to, cur, to, by, note, at))
redis.call('HSET', REQ, unpack(changes))
sync(id, cur, to, h[2], h[3], h[4], expires_at)
emit(to, id, by, at, data)
if review_due ~= '' then
  redis.call('ZADD', BASE .. K_REVIEWS, review_due, id)
  emit('review_requested', id, by, at, {due_at_ms = review_due})
end
announce(id, at, said(at, 12, n_say))
return {'ok', cur, redis.call('HGETALL', REQ)}
`

// ARGV: base, id, by, until, at, note, then the notices to record.
const luaExtend = `
local id, by, until_at, at, note = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local h = redis.call('HMGET', REQ, 'status', 'expires_at_ms', 'history')
if not h[1] then return {'not_found', ''} end
if h[1] ~= 'ready' then return {'not_ready', h[1]} end
local old = h[2] or ''
if old == until_at then return {'same', '', redis.call('HGETALL', REQ)} end
redis.call('HSET', REQ, 'expires_at_ms', until_at, 'updated_at_ms', at,
  'history', append_json(h[3], event('extended', '', '', by, note, at)))
redis.call('ZADD', EXPIRY, until_at, id)
redis.call('SADD', BASE .. K_WORKING, id) -- the backend is to be told the new expiry
emit('extended', id, by, at, {from_expires_at_ms = old, expires_at_ms = until_at})
announce(id, at, said(at, 7, #ARGV - 6))
return {'ok', '', redis.call('HGETALL', REQ)}
`

// ARGV: base, id, channel, ts, at.
const luaSetMessage = `
local id, channel, ts, at = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local h = redis.call('HMGET', REQ, 'status', 'channel', 'message_ts')
if not h[1] then return {'not_found', ''} end
if (h[2] or '') == channel and (h[3] or '') == ts then return {'same', ''} end
redis.call('HSET', REQ, 'channel', channel, 'message_ts', ts)
emit('message', id, 'clonebot', at, {channel = channel, message_ts = ts})
return {'ok', ''}
`

// ARGV: base, id, at, once (a marks field, or ”), then the notices. With once, the notices
// are recorded only the first time (the field is set then); {'ok'} or {'done'}.
const luaAnnounce = `
local id, at, once = ARGV[2], ARGV[3], ARGV[4]
if once ~= '' then
  local marks = BASE .. K_MARKS .. id
  if redis.call('HSETNX', marks, once, at) == 0 then return {'done', ''} end
  redis.call('PEXPIRE', marks, MARKS_TTL_MS)
end
announce(id, at, args(5, #ARGV - 4))
return {'ok', ''}
`

// KEYS: as every request script. ARGV: base, id, owner, lease ms, max. Takes the lease on the
// request's notices (renewing it for owner) and returns up to max of them, oldest first:
// {'ok', ”, notices} or {'held', ”}.
const luaTakeNotices = `
local id, owner, ttl, max = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local lease = BASE .. K_NLEASE .. id
local cur = redis.call('GET', lease)
if cur and cur ~= owner then return {'held', ''} end
redis.call('SET', lease, owner, 'PX', ttl)
return {'ok', '', redis.call('LRANGE', BASE .. K_NOTICES .. id, 0, max - 1)}
`

// ARGV: base, id, owner, n, release (1 or 0). Drops the first n notices if owner still holds
// the lease, takes the request off the notify index once it has none left, and gives the lease
// up when release is 1: {'ok', remaining} or {'lost', ”}.
const luaAckNotices = `
local id, owner, n, release = ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local lease, list = BASE .. K_NLEASE .. id, BASE .. K_NOTICES .. id
if redis.call('GET', lease) ~= owner then return {'lost', ''} end
if n > 0 then redis.call('LTRIM', list, n, -1) end
local left = redis.call('LLEN', list)
if left == 0 then redis.call('ZREM', BASE .. K_NOTIFY, id) end
if release == '1' then redis.call('DEL', lease) end
return {'ok', tostring(left)}
`

// ARGV: base, id, type, actor, at, data JSON. An audit event that is no change of state; the
// request's context (tier, source, ...) is added as emit adds it.
const luaRecord = `
local data = cjson.decode(ARGV[6])
emit(ARGV[3], ARGV[2], ARGV[4], ARGV[5], data)
return {'ok', ''}
`

// ARGV: base, id, by, notes, at, review JSON. The post-incident review of an ended break-glass
// clone, by someone who is not its requester: {'ok', ”, fields}, or a refusal ('self',
// recorded in the outbox as review_refused; 'not_reviewable').
const luaReview = `
local id, by, notes, at, review = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local h = redis.call('HMGET', REQ, 'status', 'mode', 'requester', 'review')
if not h[1] then return {'not_found', ''} end
if h[2] ~= 'breakglass' or (h[1] ~= 'destroyed' and h[1] ~= 'failed') or set(h[4]) then
  return {'not_reviewable', h[1]}
end
if by == h[3] then
  emit('review_refused', id, by, at, {reason = 'self'})
  return {'self', ''}
end
redis.call('HSET', REQ, 'review', review, 'updated_at_ms', at)
redis.call('ZREM', BASE .. K_REVIEWS, id)
emit('reviewed', id, by, at, {notes = notes})
announce(id, at, {card(at), cjson.encode({kind = 'reviewed', by = by, text = notes, at_ms = at})})
return {'ok', '', redis.call('HGETALL', REQ)}
`

// KEYS[1] the lease; ARGV: owner, ttl in milliseconds. 1 if owner holds the lease now.
const luaAcquireLease = `
local cur = redis.call('GET', KEYS[1])
if not cur then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if cur == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
`

// KEYS[1] the lease; ARGV: owner. 1 if owner held it and it is gone.
const luaReleaseLease = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`

// activeLua writes approvals' active and working statuses as Lua tables: ACTIVE[s] for a
// status that holds quota, WORKING[s] for one the lifecycle has a step for.
func activeLua() string {
	var b strings.Builder
	for _, t := range []struct {
		name string
		in   func(approvals.Status) bool
	}{{"ACTIVE", approvals.Status.Active}, {"WORKING", approvals.Status.Working}} {
		fmt.Fprintf(&b, "local %s = {", t.name)
		for _, s := range approvals.AllStatuses {
			if t.in(s) {
				fmt.Fprintf(&b, "[%s] = true, ", luaString(string(s)))
			}
		}
		b.WriteString("}\n")
	}
	return b.String()
}

// nextLua writes a state machine (every status, and the legal next ones of each) as the Lua
// table NEXT: NEXT[from][to] is true for a legal move. Requests' (approvals.Transitions) and
// golden copies' (approvals.GoldenTransitions) are compiled into their scripts this way.
func nextLua[S ~string](all []S, next func(S) []S) string {
	var b strings.Builder
	b.WriteString("local NEXT = {\n")
	for _, from := range all {
		to := next(from)
		if len(to) == 0 {
			continue
		}
		fmt.Fprintf(&b, "  [%s] = {", luaString(string(from)))
		for _, t := range to {
			fmt.Fprintf(&b, "[%s] = true, ", luaString(string(t)))
		}
		b.WriteString("},\n")
	}
	b.WriteString("}\n")
	return b.String()
}

// luaString quotes s as a Lua string literal.
func luaString(s string) string {
	var b strings.Builder
	b.WriteByte('\'')
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\'' || c == '\\' || c < 0x20 || c >= 0x7f {
			fmt.Fprintf(&b, "\\%03d", c)
			continue
		}
		b.WriteByte(c)
	}
	b.WriteByte('\'')
	return b.String()
}

// scripts are the Lua scripts of one Store.
type scripts struct {
	create, vote, transition, extend, setMessage *redis.Script
	announce, takeNotices, ackNotices, record    *redis.Script
	review                                       *redis.Script
	acquireLease, releaseLease                   *redis.Script
}

func newScripts() scripts {
	head := activeLua() + luaKeyNames() + fmt.Sprintf("local MARKS_TTL_MS = %d\n", marksTTL.Milliseconds()) + luaCommon
	return scripts{
		create:       redis.NewScript(head + luaCreate),
		vote:         redis.NewScript(head + luaVote),
		transition:   redis.NewScript(nextLua(approvals.AllStatuses, approvals.Transitions) + head + luaTransition),
		extend:       redis.NewScript(head + luaExtend),
		setMessage:   redis.NewScript(head + luaSetMessage),
		announce:     redis.NewScript(head + luaAnnounce),
		takeNotices:  redis.NewScript(head + luaTakeNotices),
		ackNotices:   redis.NewScript(head + luaAckNotices),
		record:       redis.NewScript(head + luaRecord),
		review:       redis.NewScript(head + luaReview),
		acquireLease: redis.NewScript(luaAcquireLease),
		releaseLease: redis.NewScript(luaReleaseLease),
	}
}
