package redisstore

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clonebot/clonebot/apikey"
)

func newKeysFixture(t *testing.T) *Keys {
	t.Helper()
	c, prefix := fixtureRedis(t)
	return NewKeys(c, prefix)
}

func TestKeysCreateGetListRevoke(t *testing.T) {
	s, ctx := newKeysFixture(t), context.Background()
	k1, tok, err := apikey.New(apikey.Spec{Name: "nightly tests", Principal: "service:ci", Owner: "team-data",
		Scopes: []apikey.Scope{apikey.ScopeRead, apikey.ScopeClone}, CreatedBy: "ops", ExpiresAt: t0.Add(90 * 24 * time.Hour)}, t0)
	if err != nil {
		t.Fatal(err)
	}
	k2, _, _ := apikey.New(apikey.Spec{Name: "dana's laptop", Principal: "UDANA", Scopes: []apikey.Scope{apikey.ScopeRead}}, t0.Add(time.Second))
	for _, k := range []*apikey.Key{k2, k1} {
		if err := s.Create(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Create(ctx, k1); !errors.Is(err, apikey.ErrExists) {
		t.Fatalf("second create: %v", err)
	}
	got, err := s.Get(ctx, k1.ID)
	if err != nil || !reflect.DeepEqual(got, k1) {
		t.Fatalf("get:\n got %+v, %v\nwant %+v", got, err, k1)
	}
	if err := got.Check(tok.Reveal(), t0); err != nil {
		t.Fatalf("the stored key does not check its token: %v", err)
	}
	if _, err := s.Get(ctx, "zzzzzzzzzz"); !errors.Is(err, apikey.ErrInvalid) {
		t.Fatalf("get of no key: %v", err)
	}
	list, err := s.List(ctx)
	if err != nil || len(list) != 2 || list[0].ID != k1.ID || list[1].ID != k2.ID {
		t.Fatalf("list: %v, %v", list, err)
	}
	at := t0.Add(time.Hour)
	r, err := s.Revoke(ctx, k1.ID, at)
	if err != nil || !r.RevokedAt.Equal(at) {
		t.Fatalf("revoke: %+v, %v", r, err)
	}
	if r, err = s.Revoke(ctx, k1.ID, at.Add(time.Hour)); err != nil || !r.RevokedAt.Equal(at) {
		t.Fatalf("second revoke moved the time: %+v, %v", r, err)
	}
	if err := r.Check(tok.Reveal(), at); !errors.Is(err, apikey.ErrRevoked) {
		t.Fatalf("check after revoke: %v", err)
	}
	if _, err := s.Revoke(ctx, "zzzzzzzzzz", at); !errors.Is(err, apikey.ErrInvalid) {
		t.Fatalf("revoke of no key: %v", err)
	}
	// The record holds the token's hash, never the token or its secret.
	_, secret, _ := strings.Cut(strings.TrimPrefix(tok.Reveal(), "cbk_"), "_")
	for field, v := range s.c.HGetAll(ctx, s.k.apiKey(k1.ID)).Val() {
		if strings.Contains(v, secret) {
			t.Fatalf("field %s holds the token's secret", field)
		}
	}
}

func TestAttemptClaimFinishDrop(t *testing.T) {
	s, ctx := newKeysFixture(t), context.Background()
	lease, ttl := 30*time.Second, 24*time.Hour
	first := apikey.Attempt{Fingerprint: "fp1", RequestID: "cl-aaaaaa", Owner: "w1"}
	claim, got, err := s.Claim(ctx, "k1", "build-42", first, t0, lease, ttl)
	if err != nil || claim != apikey.Claimed || got.RequestID != "cl-aaaaaa" || !got.LeaseUntil.Equal(t0.Add(lease)) {
		t.Fatalf("first claim: %s %+v %v", claim, got, err)
	}
	steps := []struct {
		name      string
		a         apikey.Attempt
		at        time.Time
		idemKey   string
		keyID     string
		want      apikey.Claim
		wantOwner string
	}{
		{"another owner while it runs", apikey.Attempt{Fingerprint: "fp1", RequestID: "cl-bbbbbb", Owner: "w2"}, t0.Add(time.Second), "build-42", "k1", apikey.Running, "w1"},
		{"another body", apikey.Attempt{Fingerprint: "fp2", RequestID: "cl-bbbbbb", Owner: "w2"}, t0.Add(time.Second), "build-42", "k1", apikey.Mismatch, "w1"},
		{"the same idempotency key of another API key", apikey.Attempt{Fingerprint: "fp2", RequestID: "cl-cccccc", Owner: "w3"}, t0, "build-42", "k2", apikey.Claimed, "w3"},
		{"after the lease: taken over, same request id", apikey.Attempt{Fingerprint: "fp1", RequestID: "cl-dddddd", Owner: "w2"}, t0.Add(lease), "build-42", "k1", apikey.Claimed, "w2"},
	}
	for _, st := range steps {
		claim, got, err := s.Claim(ctx, st.keyID, st.idemKey, st.a, st.at, lease, ttl)
		if err != nil || claim != st.want || got.Owner != st.wantOwner {
			t.Fatalf("%s: %s %+v %v", st.name, claim, got, err)
		}
		if st.keyID == "k1" && got.RequestID != "cl-aaaaaa" {
			t.Fatalf("%s: request id %s, want the first's", st.name, got.RequestID)
		}
	}
	// The first owner lost it: its answer is not recorded, nor can it drop the attempt.
	if ok, err := s.Finish(ctx, "k1", "build-42", "w1", 202, "/x", []byte("{}")); ok || err != nil {
		t.Fatalf("finish by the old owner: %v, %v", ok, err)
	}
	if err := s.Drop(ctx, "k1", "build-42", "w1"); err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"id":"cl-aaaaaa","status":"pending"}`)
	if ok, err := s.Finish(ctx, "k1", "build-42", "w2", 202, "/api/v1/clones/cl-aaaaaa", body); !ok || err != nil {
		t.Fatalf("finish: %v, %v", ok, err)
	}
	claim, got, err = s.Claim(ctx, "k1", "build-42", apikey.Attempt{Fingerprint: "fp1", RequestID: "cl-eeeeee", Owner: "w9"}, t0.Add(time.Hour), lease, ttl)
	if err != nil || claim != apikey.Answered || got.Status != 202 || got.Location != "/api/v1/clones/cl-aaaaaa" || string(got.Body) != string(body) {
		t.Fatalf("claim after finish: %s %+v %v", claim, got, err)
	}
	if err := s.Drop(ctx, "k1", "build-42", "w2"); err != nil {
		t.Fatal(err)
	}
	if claim, _, _ := s.Claim(ctx, "k1", "build-42", apikey.Attempt{Fingerprint: "fp1", Owner: "w9"}, t0.Add(time.Hour), lease, ttl); claim != apikey.Answered {
		t.Fatalf("a finished attempt was dropped: %s", claim)
	}
	// An unfinished attempt its owner drops is gone: the next claim is new.
	if err := s.Drop(ctx, "k2", "build-42", "w3"); err != nil {
		t.Fatal(err)
	}
	if claim, got, _ := s.Claim(ctx, "k2", "build-42", apikey.Attempt{Fingerprint: "fp9", RequestID: "cl-ffffff", Owner: "w4"}, t0, lease, ttl); claim != apikey.Claimed || got.RequestID != "cl-ffffff" {
		t.Fatalf("claim after drop: %s %+v", claim, got)
	}
	if pttl := s.c.PTTL(ctx, s.attemptKey("k2", "build-42")).Val(); pttl <= 0 || pttl > ttl {
		t.Fatalf("attempt kept for %v, want at most %v", pttl, ttl)
	}
}

// TestAttemptOneClaimOfMany: 20 owners claim one attempt at once; one gets it.
func TestAttemptOneClaimOfMany(t *testing.T) {
	s, ctx := newKeysFixture(t), context.Background()
	var wg sync.WaitGroup
	var mu sync.Mutex
	claims := map[apikey.Claim]int{}
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, _, err := s.Claim(ctx, "k1", "same", apikey.Attempt{Fingerprint: "fp", RequestID: "cl-aaaaaa", Owner: string(rune('a' + i))}, t0, time.Minute, time.Hour)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			claims[c]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if claims[apikey.Claimed] != 1 || claims[apikey.Running] != 19 {
		t.Fatalf("claims %v, want 1 claimed and 19 running", claims)
	}
}
