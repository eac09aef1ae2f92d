package redisstore

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/clonebot/clonebot/approvals"
	"github.com/clonebot/clonebot/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// t0 is the tests' "now", the real time; every time the store sees comes from the tests.
var t0 = testenv.Now()

const requester = "UREQ"

type fixture struct {
	t *testing.T
	s *Store
	c redis.UniversalClient
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	c, prefix := fixtureRedis(t)
	return &fixture{t: t, s: New(c, prefix, WithClock(func() time.Time { return t0 })), c: c}
}

var (
	slotOncall   = approvals.Slot{Name: "oncall", Approvers: []approvals.Principal{"group:oncall"}}
	slotSecurity = approvals.Slot{Name: "security", Approvers: []approvals.Principal{"group:security", "user:UBOSS"}}
)

// dual is a pending debug-tier request that needs an on-call peer and security.
func dual(id string) *approvals.Request {
	return &approvals.Request{
		ID: id, Requester: requester, Team: "payments", Source: "prod", Date: testenv.Day(t0, -1),
		Tier: "debug", Masking: approvals.MaskNone, Mode: approvals.ModeDual,
		Slots: []approvals.Slot{slotOncall, slotSecurity}, TTL: 4 * time.Hour, MaxTTL: 8 * time.Hour,
		Reason: "INC-1 check", Status: approvals.StatusPending,
		CreatedAt: t0, PendingExpiresAt: t0.Add(time.Hour),
	}
}

// overlapping is a dual request whose slots share a group: on-call or leads, then leads
// or security (the policy of issue 14's report).
func overlapping(id string) *approvals.Request {
	r := dual(id)
	r.Slots = []approvals.Slot{
		{Name: "on-call or lead", Approvers: []approvals.Principal{"group:oncall", "group:leads"}},
		{Name: "lead or security", Approvers: []approvals.Principal{"group:leads", "group:security"}},
	}
	return r
}

// single is a pending staging-tier request that needs one lead.
func single(id string) *approvals.Request {
	r := dual(id)
	r.Tier, r.Mode, r.Masking = "staging", approvals.ModeSingle, approvals.MaskPartial
	r.Slots = []approvals.Slot{{Name: "leads", Approvers: []approvals.Principal{"group:leads", "group:security"}}}
	return r
}

func (f *fixture) create(r *approvals.Request) {
	f.t.Helper()
	if err := f.s.Create(context.Background(), r, approvals.Limits{}); err != nil {
		f.t.Fatalf("create %s: %v", r.ID, err)
	}
}

func (f *fixture) get(id string) *approvals.Request {
	f.t.Helper()
	r, err := f.s.Get(context.Background(), id)
	if err != nil {
		f.t.Fatalf("get %s: %v", id, err)
	}
	return r
}

func (f *fixture) vote(id, voter string, d approvals.Decision, at time.Time, groups ...string) approvals.VoteResult {
	f.t.Helper()
	res, err := f.s.Vote(context.Background(), approvals.VoteInput{RequestID: id, Voter: voter, Groups: groups, Decision: d, At: at})
	if err != nil {
		f.t.Fatalf("vote %s by %s: %v", id, voter, err)
	}
	return res
}

func (f *fixture) move(id string, to approvals.Status, at time.Time) *approvals.Request {
	f.t.Helper()
	r, err := f.s.Transition(context.Background(), approvals.TransitionInput{RequestID: id, To: to, By: "clonebot", At: at})
	if err != nil {
		f.t.Fatalf("transition %s to %s: %v", id, to, err)
	}
	return r
}

// ready walks a new single request to ready at at.
func (f *fixture) ready(id string, ttl time.Duration, at time.Time) *approvals.Request {
	f.t.Helper()
	r := single(id)
	r.TTL = ttl
	f.create(r)
	f.vote(id, "ULEAD", approvals.DecisionApprove, t0, "leads")
	f.move(id, approvals.StatusProvisioning, at)
	f.move(id, approvals.StatusRestoring, at)
	return f.move(id, approvals.StatusReady, at)
}

// outbox returns every outbox event.
func (f *fixture) outbox() []OutboxEvent {
	f.t.Helper()
	evs, err := f.s.ReadOutbox(context.Background(), "", 0)
	if err != nil {
		f.t.Fatalf("read outbox: %v", err)
	}
	return evs
}

// types lists the outbox event types after the cursor.
func (f *fixture) typesAfter(after string) []string {
	f.t.Helper()
	evs, err := f.s.ReadOutbox(context.Background(), after, 0)
	if err != nil {
		f.t.Fatalf("read outbox: %v", err)
	}
	var out []string
	for _, e := range evs {
		out = append(out, e.Type)
	}
	return out
}

// lastID is the outbox cursor now ("" when empty).
func (f *fixture) lastID() string {
	f.t.Helper()
	evs := f.outbox()
	if len(evs) == 0 {
		return ""
	}
	return evs[len(evs)-1].ID
}

// indexes says which indexes hold a request.
type indexes struct {
	Pending, Expiry, Active, User, Team bool
}

func (f *fixture) indexesOf(r *approvals.Request) indexes {
	f.t.Helper()
	ctx := context.Background()
	inZ := func(key string) bool {
		err := f.c.ZScore(ctx, key, r.ID).Err()
		if err != nil && err != redis.Nil {
			f.t.Fatalf("zscore %s: %v", key, err)
		}
		return err == nil
	}
	inS := func(key string) bool {
		ok, err := f.c.SIsMember(ctx, key, r.ID).Result()
		if err != nil {
			f.t.Fatalf("sismember %s: %v", key, err)
		}
		return ok
	}
	return indexes{
		Pending: inZ(f.s.k.pending()),
		Expiry:  inZ(f.s.k.expiry()),
		Active:  inS(f.s.k.active()),
		User:    inS(f.s.k.user(r.Requester)),
		Team:    inS(f.s.k.engine() + "team:" + r.Team),
	}
}

// wantIndexes is the index membership a status calls for.
func wantIndexes(s approvals.Status) indexes {
	a := s.Active()
	return indexes{Pending: s == approvals.StatusPending, Expiry: s == approvals.StatusReady, Active: a, User: a, Team: a}
}
