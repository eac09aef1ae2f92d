package redisstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/clonebot/clonebot/approvals"
)

func TestLease(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	steps := []struct {
		name    string
		do      func() error
		wantErr error
		holder  string
	}{
		{"a takes it", func() error { return f.s.AcquireLease(ctx, "cl-1", "a", 10*time.Second) }, nil, "a"},
		{"b is refused", func() error { return f.s.AcquireLease(ctx, "cl-1", "b", 10*time.Second) }, approvals.ErrLeaseHeld, "a"},
		{"a renews", func() error { return f.s.AcquireLease(ctx, "cl-1", "a", time.Minute) }, nil, "a"},
		{"b cannot release it", func() error { return f.s.ReleaseLease(ctx, "cl-1", "b") }, nil, "a"},
		{"another request's lease is free", func() error { return f.s.AcquireLease(ctx, "cl-2", "b", time.Minute) }, nil, "a"},
		{"a releases", func() error { return f.s.ReleaseLease(ctx, "cl-1", "a") }, nil, ""},
		{"b takes it", func() error { return f.s.AcquireLease(ctx, "cl-1", "b", time.Minute) }, nil, "b"},
	}
	for _, st := range steps {
		err := st.do()
		if (st.wantErr == nil && err != nil) || (st.wantErr != nil && !errors.Is(err, st.wantErr)) {
			t.Fatalf("%s: err %v, want %v", st.name, err, st.wantErr)
		}
		holder, _ := f.c.Get(ctx, f.s.k.lease("cl-1")).Result()
		if holder != st.holder {
			t.Fatalf("%s: holder %q, want %q", st.name, holder, st.holder)
		}
		if st.name == "a renews" {
			if ttl := f.c.PTTL(ctx, f.s.k.lease("cl-1")).Val(); ttl <= 10*time.Second {
				t.Fatalf("renewal kept the old ttl: %v", ttl)
			}
		}
	}
	if err := f.s.AcquireLease(ctx, "cl-1", "", time.Minute); err == nil {
		t.Fatal("lease without owner accepted")
	}
}

// TestLeaseContention: of many workers asking at once, exactly one gets the lease.
func TestLeaseContention(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const workers = 50
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		won   []string
		start = make(chan struct{})
	)
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			owner := fmt.Sprintf("w%d", i)
			err := f.s.AcquireLease(ctx, "cl-c", owner, time.Minute)
			switch {
			case err == nil:
				mu.Lock()
				won = append(won, owner)
				mu.Unlock()
			case !errors.Is(err, approvals.ErrLeaseHeld):
				t.Errorf("%s: %v", owner, err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if len(won) != 1 {
		t.Fatalf("winners %v, want exactly one", won)
	}
	if holder := f.c.Get(ctx, f.s.k.lease("cl-c")).Val(); holder != won[0] {
		t.Fatalf("holder %q, winner %q", holder, won[0])
	}
}
