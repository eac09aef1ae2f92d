// Command engine measures the approval engine's vote throughput against a bare Redis round
// trip: 16 concurrent clients cast votes on pre-created dual-approval requests (each vote is
// real work: the first vote on a request is counted, the second approves it), then the same
// clients send as many PINGs. The last line is
//
//	bench-engine vote_ops_per_s=N ping_ops_per_s=M ratio=R
//
// Run: go run ./bench/engine (Redis from CLONEBOT_REDIS_URL, default redis://127.0.0.1:6379/0;
// every key it writes is under its own prefix and deleted at the end).
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/clonebot/clonebot/approvals"
	"github.com/clonebot/clonebot/redisstore"
)

func main() {
	clients := flag.Int("clients", 16, "concurrent clients")
	votes := flag.Int("votes", 50000, "votes to cast (two per request), and PINGs to send")
	flag.Parse()
	if err := run(*clients, *votes); err != nil {
		fmt.Fprintln(os.Stderr, "bench-engine:", err)
		os.Exit(1)
	}
}

func run(clients, votes int) error {
	url := os.Getenv("CLONEBOT_REDIS_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379/0"
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		return fmt.Errorf("redis url: %w", err)
	}
	opts.PoolSize = clients
	c := redis.NewClient(opts)
	defer c.Close()
	ctx := context.Background()
	if err := c.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis at %s: %w", opts.Addr, err)
	}
	prefix := "bench-engine-" + randomHex() + ":"
	defer func() {
		if err := clean(ctx, c, prefix); err != nil {
			fmt.Fprintln(os.Stderr, "bench-engine: clean up:", err)
		}
	}()
	now := time.Now().UTC()
	store := redisstore.New(c, prefix, redisstore.WithClock(func() time.Time { return now }))

	// step 1: one dual-approval request per two votes, with its own pair of approvers.
	requests := votes / 2
	if err := parallel(clients, requests, func(i int) error {
		return store.Create(ctx, request(i, now), approvals.Limits{})
	}); err != nil {
		return fmt.Errorf("create requests: %w", err)
	}

	// step 2: warm up the connections and the script cache.
	if err := c.Ping(ctx).Err(); err != nil {
		return err
	}

	// step 3: alternate rounds of votes and of as many PINGs, so that both see the same
	// machine (other processes come and go). Vote 2i is request i's on-call peer, 2i+1 its
	// security approver.
	var (
		approved   atomic.Int64
		vote, ping phase
		total      = 2 * requests
		perRound   = (total + rounds - 1) / rounds
		castVote   = func(k int) error {
			in := approvals.VoteInput{RequestID: id(k / 2), Decision: approvals.DecisionApprove, At: now}
			if k%2 == 0 {
				in.Voter, in.Groups = fmt.Sprintf("UON%d", k/2), []string{"oncall"}
			} else {
				in.Voter, in.Groups = fmt.Sprintf("USEC%d", k/2), []string{"security"}
			}
			res, err := store.Vote(ctx, in)
			if err != nil {
				return err
			}
			if !res.Result.Changed() {
				return fmt.Errorf("vote %d by %s: %s, want it counted", k, in.Voter, res.Result)
			}
			if res.Result == approvals.VoteApproved {
				approved.Add(1)
			}
			return nil
		}
	)
	for from := 0; from < total; from += perRound {
		to := min(from+perRound, total)
		if err := vote.run(ctx, c, clients, from, to, castVote); err != nil {
			return fmt.Errorf("votes: %w", err)
		}
		if err := ping.run(ctx, c, clients, from, to, func(int) error { return c.Ping(ctx).Err() }); err != nil {
			return fmt.Errorf("ping: %w", err)
		}
	}
	if int(approved.Load()) != requests {
		return fmt.Errorf("%d requests approved, want %d", approved.Load(), requests)
	}

	voteRate := float64(vote.ops) / vote.wall.Seconds()
	pingRate := float64(ping.ops) / ping.wall.Seconds()
	fmt.Printf("redis %s, %d clients, %d rounds: %d votes on %d dual requests in %v, %d PINGs in %v\n",
		opts.Addr, clients, rounds, vote.ops, requests, vote.wall.Round(time.Millisecond), ping.ops, ping.wall.Round(time.Millisecond))
	fmt.Printf("cpu per op: vote client %v redis %v, ping client %v redis %v\n",
		vote.client/time.Duration(vote.ops), vote.server/time.Duration(vote.ops),
		ping.client/time.Duration(ping.ops), ping.server/time.Duration(ping.ops))
	fmt.Printf("bench-engine vote_ops_per_s=%.0f ping_ops_per_s=%.0f ratio=%.2f\n", voteRate, pingRate, voteRate/pingRate)
	return nil
}

// rounds is how many times the bench alternates between votes and PINGs.
const rounds = 10

// phase adds up the operations, wall time and CPU time (this process, the Redis server) of
// one kind of operation over the rounds.
type phase struct {
	ops                  int
	wall, client, server time.Duration
}

// run does op(from..to-1) on workers goroutines and adds the cost to p.
func (p *phase) run(ctx context.Context, c *redis.Client, workers, from, to int, op func(int) error) error {
	client0, server0 := processCPU(), redisCPU(ctx, c)
	start := time.Now()
	if err := parallel(workers, to-from, func(i int) error { return op(from + i) }); err != nil {
		return err
	}
	p.wall += time.Since(start)
	p.client += processCPU() - client0
	p.server += redisCPU(ctx, c) - server0
	p.ops += to - from
	return nil
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// redisCPU reads used_cpu_sys + used_cpu_user from INFO (0 if the server does not say).
func redisCPU(ctx context.Context, c *redis.Client) time.Duration {
	info, err := c.Info(ctx, "cpu").Result()
	if err != nil {
		return 0
	}
	var total float64
	for _, line := range strings.Split(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && (k == "used_cpu_sys" || k == "used_cpu_user") {
			f, _ := strconv.ParseFloat(v, 64)
			total += f
		}
	}
	return time.Duration(total * float64(time.Second))
}

func id(i int) string { return fmt.Sprintf("cl-b%07d", i) }

func request(i int, now time.Time) *approvals.Request {
	return &approvals.Request{
		ID: id(i), Requester: fmt.Sprintf("UREQ%d", i), Team: "bench", Source: "prod", Date: now.Truncate(24 * time.Hour),
		Tier: "debug", Masking: approvals.MaskNone, Mode: approvals.ModeDual,
		Slots: []approvals.Slot{
			{Name: "oncall", Approvers: []approvals.Principal{"group:oncall"}},
			{Name: "security", Approvers: []approvals.Principal{"group:security"}},
		},
		TTL: 4 * time.Hour, MaxTTL: 8 * time.Hour, Reason: "bench", Status: approvals.StatusPending,
		CreatedAt: now, PendingExpiresAt: now.Add(time.Hour),
	}
}

// parallel runs op(0..n-1) on workers goroutines and returns the first error.
func parallel(workers, n int, op func(i int) error) error {
	var (
		next  atomic.Int64
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := op(i); err != nil {
					mu.Lock()
					first = errors.Join(first, err)
					mu.Unlock()
					next.Store(int64(n)) // stop the others
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// clean deletes every key under prefix.
func clean(ctx context.Context, c *redis.Client, prefix string) error {
	iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var batch []string
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == 1000 {
			if err := c.Unlink(ctx, batch...).Err(); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	if err := iter.Err(); err != nil {
		return err
	}
	if len(batch) > 0 {
		return c.Unlink(ctx, batch...).Err()
	}
	return nil
}

func randomHex() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
