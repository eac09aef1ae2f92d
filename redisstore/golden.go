package redisstore

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/clonebot/clonebot/approvals"
)

// Golden copies live under the engine's tag beside the requests (keys.go):
//
//	golden:<id>          hash: one golden copy (the g* fields below)
//	gusers:<id>          set:  the requests that depend on it (made from it, still needing it)
//	goldens              set:  every golden copy not retired
//	gline:<source>/<lvl> hash: the line's last scheduled slot, generation, build under way and
//	                           recent build times
//
// Each change is one script that checks the current state, writes the copy and its line,
// appends the audit event to the outbox and records the notices, like a request's changes.

// Hash fields of a stored golden copy.
const (
	gID         = "id"
	gSource     = "source"
	gMasking    = "masking"
	gGeneration = "generation"
	gStatus     = "status"
	gSlot       = "slot_ms"
	gBy         = "by"
	gBackup     = "backup"
	gBackupDate = "backup_date_ms"
	gClone      = "clone"
	gRows       = "rows"
	gBytes      = "bytes"
	gFailure    = "failure"
	gCreatedAt  = "created_at_ms"
	gReadyAt    = "ready_at_ms"
	gUpdatedAt  = "updated_at_ms"
)

// retiredTTL is how long a retired golden copy's record is kept (for /clone golden's history).
const retiredTTL = 30 * 24 * time.Hour

// recentKept is how many build times a line keeps for the schedule's estimate.
const recentKept = 5

// luaGolden is the header of the golden scripts: KEYS[1] the copy's hash, KEYS[2] the outbox,
// KEYS[3] the goldens set, KEYS[4] the line's hash, KEYS[5] the copy's dependants; ARGV[1] is
// the engine's key base.
const luaGolden = `
local GOLDEN, OUTBOX, GOLDENS, LINE, USERS = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local BASE = ARGV[1]
` + luaShared + `

-- emit appends one audit event about the golden copy; its source and masking are added.
local function emit(typ, id, actor, at, data)
  local c = redis.call('HMGET', GOLDEN, 'source', 'masking', 'generation')
  data.source, data.masking, data.generation = c[1], c[2], c[3]
  redis.call('XADD', OUTBOX, '*', 'type', typ, 'request_id', id, 'actor', actor, 'at', at,
    'data', cjson.encode(data))
end
`

// ARGV: base, id, slot (” for a refresh), by, at, backup JSON, n_fields, the copy's
// field/value pairs, then the notices. Starts the line's next generation unless a build of it
// is under way ('busy', its id) or the slot was built ('not_due', the line's last slot):
// {'ok', generation}.
const luaStartGolden = `
local id, slot, by, at, backup, n_fields = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], tonumber(ARGV[7])
local line = redis.call('HMGET', LINE, 'building', 'slot_ms', 'gen')
if line[1] and line[1] ~= '' then
  local st = redis.call('HGET', BASE .. K_GOLDEN .. line[1], 'status')
  if st == 'provisioning' or st == 'restoring' then return {'busy', line[1]} end
end
if slot ~= '' and line[2] and line[2] ~= '' and tonumber(slot) <= tonumber(line[2]) then
  return {'not_due', line[2]}
end
local gen = tostring(tonumber(line[3] or '0') + 1)
redis.call('HSET', GOLDEN, unpack(args(8, n_fields)))
redis.call('HSET', GOLDEN, 'generation', gen, 'status', 'provisioning', 'created_at_ms', at, 'updated_at_ms', at)
redis.call('HSET', LINE, 'building', id, 'gen', gen)
if slot ~= '' then redis.call('HSET', LINE, 'slot_ms', slot) end
redis.call('SADD', GOLDENS, id)
emit('golden_started', id, by, at, {slot_ms = slot, backup = backup})
announce(id, at, args(8 + n_fields, #ARGV - 7 - n_fields))
return {'ok', gen}
`

// ARGV: base, id, to, by, at, clone JSON, failure, n_say, the notices, then the statuses the
// copy must be in (none: any). A copy leaves ready only without dependants ('in_use', their
// count). {'ok', from, fields}, {'same', from, fields}, {'not_found'}, {'guard', cur},
// {'illegal', cur}.
const luaMoveGolden = `
local id, to, by, at, clone, failure, n_say = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], tonumber(ARGV[8])
local guard_from = 9 + n_say
local h = redis.call('HMGET', GOLDEN, 'status', 'created_at_ms', 'rows', 'bytes')
local cur = h[1]
if not cur then return {'not_found', ''} end
if cur == to then return {'same', cur, redis.call('HGETALL', GOLDEN)} end
if not allowed(cur, guard_from) then return {'guard', cur} end
if not (NEXT[cur] and NEXT[cur][to]) then return {'illegal', cur} end
if cur == 'ready' then
  local n = redis.call('SCARD', USERS)
  if n > 0 then return {'in_use', tostring(n)} end
end

local changes = {'status', to, 'updated_at_ms', at}
local data = {from = cur, to = to}
put(changes, 'clone', clone)
put(changes, 'failure', failure)
if failure ~= '' then data.failure = failure end
local building = redis.call('HGET', LINE, 'building')
if (to == 'ready' or to == 'failed') and building == id then redis.call('HSET', LINE, 'building', '') end
if to == 'ready' then
  changes[#changes + 1] = 'ready_at_ms'
  changes[#changes + 1] = at
  local took = string.format('%d', tonumber(at) - tonumber(h[2]))
  data.duration_ms, data.rows, data.bytes = took, h[3] or '0', h[4] or '0'
  local recent = redis.call('HGET', LINE, 'recent')
  if recent and recent ~= '' then recent = recent .. ',' .. took else recent = took end
  local kept = {}
  for v in string.gmatch(recent, '[^,]+') do kept[#kept + 1] = v end
  while #kept > RECENT_KEPT do table.remove(kept, 1) end
  redis.call('HSET', LINE, 'recent', table.concat(kept, ','))
end
redis.call('HSET', GOLDEN, unpack(changes))
if to == 'retired' then
  redis.call('SREM', GOLDENS, id)
  redis.call('DEL', USERS)
  redis.call('PEXPIRE', GOLDEN, RETIRED_TTL_MS)
end
emit('golden_' .. to, id, by, at, data)
announce(id, at, args(9, n_say))
return {'ok', cur, redis.call('HGETALL', GOLDEN)}
`

// ARGV: base, rows, bytes. Records a restoring copy's progress (the agent's counts).
const luaGoldenProgress = `
if redis.call('HGET', KEYS[1], 'status') ~= 'restoring' then return 0 end
redis.call('HSET', KEYS[1], 'rows', ARGV[2], 'bytes', ARGV[3])
return 1
`

type goldenScripts struct{ start, move, progress *redis.Script }

func newGoldenScripts() goldenScripts {
	head := luaKeyNames() + fmt.Sprintf("local RECENT_KEPT, RETIRED_TTL_MS = %d, %d\n", recentKept, retiredTTL.Milliseconds()) + luaGolden
	return goldenScripts{
		start:    redis.NewScript(head + luaStartGolden),
		move:     redis.NewScript(nextLua(approvals.AllGoldenStatuses, approvals.GoldenTransitions) + head + luaMoveGolden),
		progress: redis.NewScript(luaGoldenProgress),
	}
}

func (s *Store) goldenKeys(id, line string) []string {
	return []string{s.k.golden(id), s.k.outbox(), s.k.goldens(), s.k.goldenLine(line), s.k.goldenUsers(id)}
}

// StartGolden starts the next generation of a line, in status provisioning, with in.Say. It is
// refused with ErrGoldenBusy while a build of the line is under way, and, for a scheduled
// build (a Slot), with ErrGoldenNotDue when the line already built that slot or a later one:
// so two replicas that find a build due start one.
func (s *Store) StartGolden(ctx context.Context, in approvals.GoldenStart) (*approvals.Golden, error) {
	if !approvals.IsGoldenID(in.ID) || in.Source == "" || in.Masking == "" || in.By == "" {
		return nil, fmt.Errorf("start golden copy %q: an id, a source, a masking level and who asks are required", in.ID)
	}
	at := in.At
	if at.IsZero() {
		at = s.now()
	}
	backup, err := json.Marshal(in.Backup)
	if err != nil {
		return nil, fmt.Errorf("start golden copy %s: %w", in.ID, err)
	}
	fields := []any{gID, in.ID, gSource, in.Source, gMasking, string(in.Masking), gBy, in.By, gBackup, string(backup)}
	if !in.Slot.IsZero() {
		fields = append(fields, gSlot, ms(in.Slot))
	}
	if !in.BackupDate.IsZero() {
		fields = append(fields, gBackupDate, ms(in.BackupDate))
	}
	notices, err := encodeNotices(in.Say, at)
	if err != nil {
		return nil, fmt.Errorf("start golden copy %s: %w", in.ID, err)
	}
	line := approvals.Line(in.Source, in.Masking)
	args := append([]any{s.k.engine(), in.ID, ms(in.Slot), in.By, ms(at), string(backup), len(fields)}, fields...)
	res, err := s.golden.start.Run(ctx, s.c, s.goldenKeys(in.ID, line), append(args, notices...)...).Slice()
	if err != nil {
		return nil, fmt.Errorf("start golden copy of %s: %w", line, err)
	}
	rep, err := parseReply(res)
	if err != nil {
		return nil, fmt.Errorf("start golden copy of %s: %w", line, err)
	}
	switch rep.code {
	case "ok":
		return s.Golden(ctx, in.ID)
	case "busy":
		return nil, fmt.Errorf("start golden copy of %s: %s is building: %w", line, rep.detail, approvals.ErrGoldenBusy)
	case "not_due":
		return nil, fmt.Errorf("start golden copy of %s: slot %s built: %w", line, rep.detail, approvals.ErrGoldenNotDue)
	}
	return nil, fmt.Errorf("start golden copy of %s: unexpected answer %q", line, rep.code)
}

// MoveGolden moves a golden copy along its state machine, recording the audit event and
// t.Say. Moving to the status it is in is a no-op. Leaving ready is refused with
// ErrGoldenInUse while requests depend on it; an illegal or guarded move is an
// *approvals.IllegalGoldenTransitionError. ErrGoldenNotFound.
func (s *Store) MoveGolden(ctx context.Context, t approvals.GoldenTransitionInput) (*approvals.Golden, error) {
	g, err := s.Golden(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	clone := ""
	if t.Clone != nil {
		b, err := json.Marshal(t.Clone)
		if err != nil {
			return nil, fmt.Errorf("move golden copy %s: %w", t.ID, err)
		}
		clone = string(b)
	}
	at := t.At
	if at.IsZero() {
		at = s.now()
	}
	notices, err := encodeNotices(t.Say, at)
	if err != nil {
		return nil, fmt.Errorf("move golden copy %s: %w", t.ID, err)
	}
	args := []any{s.k.engine(), t.ID, string(t.To), t.By, ms(at), clone, t.Failure, len(notices)}
	args = append(args, notices...)
	for _, f := range t.From {
		args = append(args, string(f))
	}
	res, err := s.golden.move.Run(ctx, s.c, s.goldenKeys(t.ID, g.Line()), args...).Slice()
	if err != nil {
		return nil, fmt.Errorf("move golden copy %s to %s: %w", t.ID, t.To, err)
	}
	rep, err := parseReply(res)
	if err != nil {
		return nil, fmt.Errorf("move golden copy %s to %s: %w", t.ID, t.To, err)
	}
	switch rep.code {
	case "ok", "same":
		return goldenFromHash(rep.fields)
	case "not_found":
		return nil, fmt.Errorf("move golden copy %s: %w", t.ID, approvals.ErrGoldenNotFound)
	case "in_use":
		return nil, fmt.Errorf("move golden copy %s to %s: %s request(s) depend on it: %w", t.ID, t.To, rep.detail, approvals.ErrGoldenInUse)
	case "guard", "illegal":
		return nil, fmt.Errorf("move golden copy %s: %w", t.ID,
			&approvals.IllegalGoldenTransitionError{From: approvals.GoldenStatus(rep.detail), To: t.To})
	}
	return nil, fmt.Errorf("move golden copy %s to %s: unexpected answer %q", t.ID, t.To, rep.code)
}

// GoldenProgress records the rows and bytes a restoring golden copy has loaded so far.
func (s *Store) GoldenProgress(ctx context.Context, id string, rows, bytes int64) error {
	if err := s.golden.progress.Run(ctx, s.c, []string{s.k.golden(id)}, s.k.engine(), rows, bytes).Err(); err != nil {
		return fmt.Errorf("golden copy %s progress: %w", id, err)
	}
	return nil
}

// Golden returns a golden copy. ErrGoldenNotFound.
func (s *Store) Golden(ctx context.Context, id string) (*approvals.Golden, error) {
	return readHash(ctx, s.c, s.k.golden(id), "golden copy "+id, approvals.ErrGoldenNotFound, goldenFromHash)
}

// Goldens returns every golden copy not retired, by line and generation.
func (s *Store) Goldens(ctx context.Context) ([]*approvals.Golden, error) {
	out, err := readSet(ctx, s.c, s.k.goldens(), s.k.golden, goldenFromHash)
	if err != nil {
		return nil, fmt.Errorf("list golden copies: %w", err)
	}
	sortGoldens(out)
	return out, nil
}

// sortGoldens orders golden copies by line, then newest generation first.
func sortGoldens(gs []*approvals.Golden) {
	slices.SortFunc(gs, func(a, b *approvals.Golden) int {
		return cmp.Or(cmp.Compare(a.Line(), b.Line()), cmp.Compare(b.Generation, a.Generation))
	})
}

// GoldenLine returns what the store remembers of a line.
func (s *Store) GoldenLine(ctx context.Context, source string, level approvals.MaskLevel) (approvals.GoldenLineState, error) {
	v, err := s.c.HMGet(ctx, s.k.goldenLine(approvals.Line(source, level)), "slot_ms", "gen", "building", "recent").Result()
	if err != nil {
		return approvals.GoldenLineState{}, fmt.Errorf("golden line %s: %w", approvals.Line(source, level), err)
	}
	str := func(i int) string { s, _ := v[i].(string); return s }
	var st approvals.GoldenLineState
	st.LastSlot, _ = parseMS(str(0))
	st.Generation, _ = strconv.Atoi(str(1))
	st.Building = str(2)
	for _, f := range strings.Split(str(3), ",") {
		if d, err := parseDurationMS(f); err == nil && d > 0 {
			st.Recent = append(st.Recent, d)
		}
	}
	return st, nil
}

// GoldenUsers returns the requests counted as depending on golden copy id.
func (s *Store) GoldenUsers(ctx context.Context, id string) ([]string, error) {
	ids, err := s.c.SMembers(ctx, s.k.goldenUsers(id)).Result()
	if err != nil {
		return nil, fmt.Errorf("dependants of golden copy %s: %w", id, err)
	}
	return ids, nil
}

// ReleaseGolden stops counting requests as depending on golden copy id.
func (s *Store) ReleaseGolden(ctx context.Context, id string, requestIDs ...string) error {
	if len(requestIDs) == 0 {
		return nil
	}
	members := make([]any, len(requestIDs))
	for i, r := range requestIDs {
		members[i] = r
	}
	if err := s.c.SRem(ctx, s.k.goldenUsers(id), members...).Err(); err != nil {
		return fmt.Errorf("release golden copy %s: %w", id, err)
	}
	return nil
}

// goldenFromHash maps a golden copy's hash back to its record.
func goldenFromHash(h map[string]string) (*approvals.Golden, error) {
	g := &approvals.Golden{ID: h[gID], Source: h[gSource], Masking: approvals.MaskLevel(h[gMasking]),
		Status: approvals.GoldenStatus(h[gStatus]), By: h[gBy], Failure: h[gFailure]}
	var errs []error
	num := func(field string) int64 {
		if h[field] == "" {
			return 0
		}
		n, err := strconv.ParseInt(h[field], 10, 64)
		errs = append(errs, err)
		return n
	}
	g.Generation, g.Rows, g.Bytes = int(num(gGeneration)), num(gRows), num(gBytes)
	for field, dst := range map[string]*time.Time{gSlot: &g.Slot, gBackupDate: &g.BackupDate, gCreatedAt: &g.CreatedAt,
		gReadyAt: &g.ReadyAt, gUpdatedAt: &g.UpdatedAt} {
		t, err := parseMS(h[field])
		*dst = t
		errs = append(errs, err)
	}
	if v := h[gBackup]; v != "" {
		errs = append(errs, json.Unmarshal([]byte(v), &g.Backup))
	}
	if v := h[gClone]; v != "" {
		g.Clone = &approvals.CloneInfo{}
		errs = append(errs, json.Unmarshal([]byte(v), g.Clone))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("golden copy %s: %w", g.ID, err)
	}
	return g, nil
}
