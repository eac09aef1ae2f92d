package redisstore

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/clonebot/clonebot/approvals"
)

// Store keeps the approval engine's state in Redis: requests with their indexes, audit outbox
// and leases, and what the lifecycle and the Slack notifier remember of each request. It is
// safe for concurrent use.
type Store struct {
	c       redis.UniversalClient
	k       keys
	now     func() time.Time
	scripts scripts
	golden  goldenScripts
}

// Option configures a Store.
type Option func(*Store)

// WithClock sets the clock used when a caller gives no time (a zero At) and for the
// timestamp of outbox events that have no time of their own (SetMessage). Default time.Now.
func WithClock(now func() time.Time) Option {
	return func(s *Store) { s.now = now }
}

// New returns a Store that keeps its keys under prefix (keys.go). The prefix must not contain
// braces: the first {...} of a key is its hash tag.
func New(c redis.UniversalClient, prefix string, opts ...Option) *Store {
	s := &Store{c: c, k: newKeys(prefix), now: time.Now, scripts: newScripts(), golden: newGoldenScripts()}
	for _, o := range opts {
		o(s)
	}
	return s
}

// keys are the declared keys of every request script (see scripts.go).
func (s *Store) keys(id string) []string {
	return []string{s.k.request(id), s.k.outbox(), s.k.pending(), s.k.expiry(), s.k.active()}
}

func (s *Store) at(t time.Time) string {
	if t.IsZero() {
		t = s.now()
	}
	return strconv.FormatInt(t.UnixMilli(), 10)
}

// reply is a request script's answer.
type reply struct {
	code   string
	detail string
	fields map[string]string // the request after the script, for codes that carry it
	list   []string          // the same third value as a list (TakeNotices' notices)
}

// run runs a request script and returns its answer.
func (s *Store) run(ctx context.Context, sc *redis.Script, id string, args ...any) (reply, error) {
	res, err := sc.Run(ctx, s.c, s.keys(id), append([]any{s.k.engine()}, args...)...).Slice()
	if err != nil {
		return reply{}, err
	}
	return parseReply(res)
}

func parseReply(res []any) (reply, error) {
	if len(res) < 2 {
		return reply{}, fmt.Errorf("script answered %d values", len(res))
	}
	code, _ := res[0].(string)
	detail, _ := res[1].(string)
	r := reply{code: code, detail: detail}
	if len(res) > 2 {
		items, _ := res[2].([]any)
		r.list = make([]string, len(items))
		for i, it := range items {
			r.list[i], _ = it.(string)
		}
		r.fields = make(map[string]string, len(items)/2)
		for i := 0; i+1 < len(r.list); i += 2 {
			r.fields[r.list[i]] = r.list[i+1]
		}
	}
	return r, nil
}

// Create stores a new request in status pending (the default) or approved (auto tiers), and
// appends "requested" (and, when approved, "approved") to its timeline and the outbox. A
// request with Golden is refused with ErrGoldenGone unless that golden copy is ready, and
// becomes one of its dependants (ReleaseGolden).
// Pending requests need PendingExpiresAt. Times are kept to the millisecond.
func (s *Store) Create(ctx context.Context, r *approvals.Request, lim approvals.Limits, say ...approvals.Notice) error {
	if r.ID == "" || r.Requester == "" {
		return errors.New("create request: id and requester are required")
	}
	stored := *r
	if stored.Status == "" {
		stored.Status = approvals.StatusPending
	}
	if stored.Status != approvals.StatusPending && stored.Status != approvals.StatusApproved {
		return fmt.Errorf("create request %s: status %s; a new request is pending or approved", r.ID, stored.Status)
	}
	if stored.Status == approvals.StatusPending && stored.PendingExpiresAt.IsZero() {
		return fmt.Errorf("create request %s: a pending request needs PendingExpiresAt", r.ID)
	}
	if stored.CreatedAt.IsZero() {
		stored.CreatedAt = s.now()
	}
	if stored.UpdatedAt.IsZero() {
		stored.UpdatedAt = stored.CreatedAt
	}

	// step 1: the timeline and outbox events of a new request. One made through the API is
	// made by its key (Via), for the requester, who is then named in the event's data.
	by := cmp.Or(r.Via, r.Requester)
	stored.History = slices.Clone(r.History)
	stored.History = append(stored.History, approvals.Event{
		Type: "requested", To: approvals.StatusPending, By: by, At: stored.CreatedAt,
	})
	events := []outboxArgs{{typ: "requested", actor: by, at: stored.CreatedAt, data: map[string]string{
		"tier": stored.Tier, "source": stored.Source, "mode": string(stored.Mode), "ttl_ms": durationMS(stored.TTL),
		"reason": stored.Reason, "team": stored.Team, "channel": stored.Channel, "masking": string(stored.Masking),
		"golden": stored.Golden,
	}}}
	if r.Via != "" {
		events[0].data["requester"] = r.Requester
	}
	if stored.Status == approvals.StatusApproved {
		note := "approved automatically (" + string(stored.Mode) + " tier)"
		stored.History = append(stored.History, approvals.Event{
			Type: string(approvals.StatusApproved), From: approvals.StatusPending, To: approvals.StatusApproved,
			By: "clonebot", Note: note, At: stored.CreatedAt,
		})
		events = append(events, outboxArgs{typ: string(approvals.StatusApproved), actor: "clonebot", at: stored.CreatedAt,
			data: map[string]string{"from": string(approvals.StatusPending), "to": string(approvals.StatusApproved), "note": note,
				"tier": stored.Tier, "source": stored.Source, "channel": stored.Channel, "mode": string(stored.Mode), "masking": string(stored.Masking)}})
	}
	fields, err := toHash(&stored)
	if err != nil {
		return fmt.Errorf("create request %s: %w", r.ID, err)
	}

	// step 2: one script checks the id and the quotas, stores, indexes and emits.
	notices, err := encodeNotices(say, stored.CreatedAt)
	if err != nil {
		return fmt.Errorf("create request %s: %w", r.ID, err)
	}
	args := []any{r.ID, r.Requester, r.Team, string(stored.Status), ms(stored.PendingExpiresAt),
		lim.PerUser, lim.PerTeam, len(events), len(notices), ms(stored.CreatedAt), stored.Golden}
	for _, e := range events {
		a, err := e.args()
		if err != nil {
			return fmt.Errorf("create request %s: %w", r.ID, err)
		}
		args = append(args, a...)
	}
	args = append(append(args, notices...), fields...)
	rep, err := s.run(ctx, s.scripts.create, r.ID, args...)
	if err != nil {
		return fmt.Errorf("create request %s: %w", r.ID, err)
	}
	switch rep.code {
	case "ok":
		return nil
	case "exists":
		return fmt.Errorf("create request %s: %w", r.ID, approvals.ErrExists)
	case "quota_user":
		return fmt.Errorf("create request %s: %s has %s active requests (limit %d): %w",
			r.ID, r.Requester, rep.detail, lim.PerUser, approvals.ErrQuotaExceeded)
	case "quota_team":
		return fmt.Errorf("create request %s: team %s has %s active requests (limit %d): %w",
			r.ID, r.Team, rep.detail, lim.PerTeam, approvals.ErrQuotaExceeded)
	case "golden_gone":
		return fmt.Errorf("create request %s: golden copy %s is %q: %w", r.ID, r.Golden, rep.detail, approvals.ErrGoldenGone)
	}
	return fmt.Errorf("create request %s: unexpected answer %q", r.ID, rep.code)
}

// outboxArgs is an outbox event Go encodes itself (Create's).
type outboxArgs struct {
	typ, actor string
	at         time.Time
	data       map[string]string
}

func (e outboxArgs) args() ([]any, error) {
	data := make(map[string]string, len(e.data))
	for k, v := range e.data {
		if v != "" {
			data[k] = v
		}
	}
	b, err := json.Marshal(data)
	if err != nil {
		return nil, fmt.Errorf("encode %s event: %w", e.typ, err)
	}
	return []any{e.typ, e.actor, ms(e.at), string(b)}, nil
}

// Get returns a request. ErrNotFound.
func (s *Store) Get(ctx context.Context, id string) (*approvals.Request, error) {
	return readHash(ctx, s.c, s.k.request(id), "request "+id, approvals.ErrNotFound, fromHash)
}

// Vote records an approval or denial and decides the outcome in one script: state, approval
// window (a vote at or after PendingExpiresAt is VoteNotPending even before the sweeper
// expires the request), self-approval, one vote per person, eligibility against the slots,
// distinct people per slot. ErrNotFound.
func (s *Store) Vote(ctx context.Context, v approvals.VoteInput) (approvals.VoteResult, error) {
	if v.Voter == "" {
		return approvals.VoteResult{}, fmt.Errorf("vote on %s: voter is required", v.RequestID)
	}
	if v.Decision != approvals.DecisionApprove && v.Decision != approvals.DecisionDeny {
		return approvals.VoteResult{}, fmt.Errorf("vote on %s: unknown decision %q", v.RequestID, v.Decision)
	}
	args := make([]any, 0, 5+len(v.Groups))
	args = append(args, v.RequestID, v.Voter, string(v.Decision), v.Reason, s.at(v.At))
	for _, g := range v.Groups {
		args = append(args, g)
	}
	rep, err := s.run(ctx, s.scripts.vote, v.RequestID, args...)
	if err != nil {
		return approvals.VoteResult{}, fmt.Errorf("vote on %s by %s: %w", v.RequestID, v.Voter, err)
	}
	if rep.code == "not_found" {
		return approvals.VoteResult{}, fmt.Errorf("vote on %s: %w", v.RequestID, approvals.ErrNotFound)
	}
	outcome := approvals.VoteOutcome(rep.code)
	switch outcome {
	case approvals.VoteCounted, approvals.VoteApproved, approvals.VoteDenied, approvals.VoteAlreadyVoted,
		approvals.VoteNotPending, approvals.VoteSelf, approvals.VoteNotEligible:
	default:
		return approvals.VoteResult{}, fmt.Errorf("vote on %s: unexpected answer %q", v.RequestID, rep.code)
	}
	req, err := fromHash(rep.fields)
	if err != nil {
		return approvals.VoteResult{}, fmt.Errorf("vote on %s: %w", v.RequestID, err)
	}
	return approvals.VoteResult{Result: outcome, Request: req}, nil
}

// Transition moves a request along the state machine (see approvals.Store). Entering ready
// sets ReadyAt and ExpiresAt = At + TTL. If From is given and the request is in none of those
// statuses (and not already in To), the error is an *approvals.IllegalTransitionError from
// the current status, wrapped with the guard. ErrNotFound.
func (s *Store) Transition(ctx context.Context, t approvals.TransitionInput) (*approvals.Request, error) {
	if !t.To.Valid() {
		return nil, fmt.Errorf("transition %s: unknown status %q", t.RequestID, t.To)
	}
	return s.transition(ctx, t, true)
}

func (s *Store) transition(ctx context.Context, t approvals.TransitionInput, sameIsNoop bool) (*approvals.Request, error) {
	clone := ""
	if t.Clone != nil {
		b, err := json.Marshal(t.Clone)
		if err != nil {
			return nil, fmt.Errorf("transition %s: encode clone: %w", t.RequestID, err)
		}
		clone = string(b)
	}
	noop := "0"
	if sameIsNoop {
		noop = "1"
	}
	at := t.At
	if at.IsZero() {
		at = s.now()
	}
	notices, err := encodeNotices(t.Say, at)
	if err != nil {
		return nil, fmt.Errorf("transition %s: %w", t.RequestID, err)
	}
	args := append([]any{t.RequestID, string(t.To), t.By, t.Note, ms(at), clone, t.Failure, noop, ms(t.ReviewDueAt), len(notices)}, notices...)
	for _, f := range t.From {
		args = append(args, string(f))
	}
	rep, err := s.run(ctx, s.scripts.transition, t.RequestID, args...)
	if err != nil {
		return nil, fmt.Errorf("transition %s to %s: %w", t.RequestID, t.To, err)
	}
	switch rep.code {
	case "ok", "same":
		req, err := fromHash(rep.fields)
		if err != nil {
			return nil, fmt.Errorf("transition %s to %s: %w", t.RequestID, t.To, err)
		}
		return req, nil
	case "not_found":
		return nil, fmt.Errorf("transition %s: %w", t.RequestID, approvals.ErrNotFound)
	case "guard":
		return nil, fmt.Errorf("transition %s: status is %s, not one of %v: %w", t.RequestID, rep.detail, t.From,
			&approvals.IllegalTransitionError{From: approvals.Status(rep.detail), To: t.To})
	case "illegal":
		return nil, fmt.Errorf("transition %s: %w", t.RequestID,
			&approvals.IllegalTransitionError{From: approvals.Status(rep.detail), To: t.To})
	}
	return nil, fmt.Errorf("transition %s to %s: unexpected answer %q", t.RequestID, t.To, rep.code)
}

// Extend moves a ready clone's expiry to until, and records say. Extending to the current
// expiry is a no-op. ErrNotActive if it is not ready. ErrNotFound.
func (s *Store) Extend(ctx context.Context, id, by string, until time.Time, at time.Time, say ...approvals.Notice) (*approvals.Request, error) {
	if until.IsZero() {
		return nil, fmt.Errorf("extend %s: no expiry given", id)
	}
	if at.IsZero() {
		at = s.now()
	}
	notices, err := encodeNotices(say, at)
	if err != nil {
		return nil, fmt.Errorf("extend %s: %w", id, err)
	}
	note := "expiry moved to " + until.UTC().Format(time.RFC3339)
	rep, err := s.run(ctx, s.scripts.extend, id, append([]any{id, by, ms(until), ms(at), note}, notices...)...)
	if err != nil {
		return nil, fmt.Errorf("extend %s: %w", id, err)
	}
	switch rep.code {
	case "ok", "same":
		req, err := fromHash(rep.fields)
		if err != nil {
			return nil, fmt.Errorf("extend %s: %w", id, err)
		}
		return req, nil
	case "not_found":
		return nil, fmt.Errorf("extend %s: %w", id, approvals.ErrNotFound)
	case "not_ready":
		return nil, fmt.Errorf("extend %s: status is %s: %w", id, rep.detail, approvals.ErrNotActive)
	}
	return nil, fmt.Errorf("extend %s: unexpected answer %q", id, rep.code)
}

// Cancel withdraws a pending request. The store does not check who cancels (admins may);
// the caller does. ErrNotPending if it is no longer pending, including when it is already
// cancelled. ErrNotFound.
func (s *Store) Cancel(ctx context.Context, id, by string, at time.Time, say ...approvals.Notice) (*approvals.Request, error) {
	req, err := s.transition(ctx, approvals.TransitionInput{
		RequestID: id, To: approvals.StatusCancelled, From: []approvals.Status{approvals.StatusPending}, By: by, At: at, Say: say,
	}, false)
	if errors.Is(err, approvals.ErrIllegalTransition) {
		return nil, fmt.Errorf("cancel %s: %w", id, approvals.ErrNotPending)
	}
	return req, err
}

// SetMessage records where the request's card is in Slack, with a "message" outbox event.
// Setting the same place again is a no-op. ErrNotFound.
func (s *Store) SetMessage(ctx context.Context, id, channel, ts string) error {
	rep, err := s.run(ctx, s.scripts.setMessage, id, id, channel, ts, s.at(time.Time{}))
	if err != nil {
		return fmt.Errorf("set message of %s: %w", id, err)
	}
	switch rep.code {
	case "ok", "same":
		return nil
	case "not_found":
		return fmt.Errorf("set message of %s: %w", id, approvals.ErrNotFound)
	}
	return fmt.Errorf("set message of %s: unexpected answer %q", id, rep.code)
}

// DuePending returns up to limit ids of pending requests whose approval window ends at or
// before t, soonest first (limit ≤ 0: all of them).
func (s *Store) DuePending(ctx context.Context, t time.Time, limit int) ([]string, error) {
	ids, err := s.due(ctx, s.k.pending(), t, limit)
	if err != nil {
		return nil, fmt.Errorf("due pending: %w", err)
	}
	return ids, nil
}

// DueExpiry returns up to limit ids of ready clones whose TTL ends at or before t, soonest
// first (limit ≤ 0: all of them).
func (s *Store) DueExpiry(ctx context.Context, t time.Time, limit int) ([]string, error) {
	ids, err := s.due(ctx, s.k.expiry(), t, limit)
	if err != nil {
		return nil, fmt.Errorf("due expiry: %w", err)
	}
	return ids, nil
}

func (s *Store) due(ctx context.Context, key string, t time.Time, limit int) ([]string, error) {
	count := int64(limit)
	if limit <= 0 {
		count = -1
	}
	return s.c.ZRangeByScore(ctx, key, &redis.ZRangeBy{
		Min: "-inf", Max: strconv.FormatInt(t.UnixMilli(), 10), Count: count,
	}).Result()
}

// ActiveCount returns the user's active requests.
func (s *Store) ActiveCount(ctx context.Context, user string) (int, error) {
	n, err := s.c.SCard(ctx, s.k.user(user)).Result()
	if err != nil {
		return 0, fmt.Errorf("active count of %s: %w", user, err)
	}
	return int(n), nil
}

// ListUser returns the user's active requests, newest first.
func (s *Store) ListUser(ctx context.Context, user string) ([]*approvals.Request, error) {
	reqs, err := s.list(ctx, s.k.user(user))
	if err != nil {
		return nil, fmt.Errorf("list requests of %s: %w", user, err)
	}
	return reqs, nil
}

// ListActive returns every active request, newest first.
func (s *Store) ListActive(ctx context.Context) ([]*approvals.Request, error) {
	reqs, err := s.list(ctx, s.k.active())
	if err != nil {
		return nil, fmt.Errorf("list active requests: %w", err)
	}
	return reqs, nil
}

// list reads the requests of an index set, keeps those still active (one may have left
// between the two reads) and sorts them newest first.
func (s *Store) list(ctx context.Context, set string) ([]*approvals.Request, error) {
	reqs, err := readSet(ctx, s.c, set, s.k.request, fromHash)
	if err != nil {
		return nil, err
	}
	out := reqs[:0]
	for _, r := range reqs {
		if r.Status.Active() {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b *approvals.Request) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(b.ID, a.ID)
	})
	return out, nil
}

// requests reads the requests ids in one pipeline, in their order, leaving out those gone.
func (s *Store) requests(ctx context.Context, ids []string) ([]*approvals.Request, error) {
	return readHashes(ctx, s.c, ids, s.k.request, fromHash)
}

// readHash reads the hash at key and decodes it; what names it in errors, and missing is the
// error it wraps when there is no such hash.
func readHash[T any](ctx context.Context, c redis.UniversalClient, key, what string, missing error, decode func(map[string]string) (T, error)) (T, error) {
	var zero T
	h, err := c.HGetAll(ctx, key).Result()
	if err != nil {
		return zero, fmt.Errorf("get %s: %w", what, err)
	}
	if len(h) == 0 {
		return zero, fmt.Errorf("get %s: %w", what, missing)
	}
	return decode(h)
}

// readSet reads the hashes key(id) of the ids in the set at set, leaving out those gone.
func readSet[T any](ctx context.Context, c redis.UniversalClient, set string, key func(string) string, decode func(map[string]string) (T, error)) ([]T, error) {
	ids, err := c.SMembers(ctx, set).Result()
	if err != nil {
		return nil, err
	}
	return readHashes(ctx, c, ids, key, decode)
}

// readHashes reads the hashes key(id) of ids in one pipeline and decodes them, in their order,
// leaving out those gone.
func readHashes[T any](ctx context.Context, c redis.UniversalClient, ids []string, key func(string) string, decode func(map[string]string) (T, error)) ([]T, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	if _, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HGetAll(ctx, key(id))
		}
		return nil
	}); err != nil {
		return nil, err
	}
	out := make([]T, 0, len(ids))
	for _, c := range cmds {
		if len(c.Val()) == 0 {
			continue
		}
		v, err := decode(c.Val())
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// AcquireLease takes the per-request lease for owner for ttl, or renews it if owner already
// holds it. ErrLeaseHeld if someone else holds it.
func (s *Store) AcquireLease(ctx context.Context, id, owner string, ttl time.Duration) error {
	if owner == "" || ttl < time.Millisecond {
		return fmt.Errorf("lease %s: an owner and a ttl of at least 1ms are required", id)
	}
	got, err := s.scripts.acquireLease.Run(ctx, s.c, []string{s.k.lease(id)}, owner, ttl.Milliseconds()).Int()
	if err != nil {
		return fmt.Errorf("lease %s for %s: %w", id, owner, err)
	}
	if got != 1 {
		return fmt.Errorf("lease %s for %s: %w", id, owner, approvals.ErrLeaseHeld)
	}
	return nil
}

// ReleaseLease gives the lease up if owner holds it; otherwise it does nothing.
func (s *Store) ReleaseLease(ctx context.Context, id, owner string) error {
	if err := s.scripts.releaseLease.Run(ctx, s.c, []string{s.k.lease(id)}, owner).Err(); err != nil {
		return fmt.Errorf("release lease %s for %s: %w", id, owner, err)
	}
	return nil
}
