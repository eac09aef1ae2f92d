// Command api measures the REST API's latency under load: 100 concurrent clients on loopback
// read one clone (GET /api/v1/clones/{id}) and dry-run a request (POST
// /api/v1/clones?dry_run=true), each authenticated by an API key, against the API as `serve`
// builds it (app.New: the use cases on real Redis, the key store, the policy; an offline Slack
// and a fake catalogue, which a read and a dry run do not wait for); in the same run, the same
// clients load a bare net/http handler that answers a small JSON body. The targets take turns
// in rounds, so a change in the machine's load hits all three alike. The last line is
//
//	bench-api get_p99_ms=A dry_p99_ms=B bare_p99_ms=C ratio=max(A,B)/C
//
// Run it with `go run ./bench/api` (Redis from CLONEBOT_REDIS_URL, default the local one;
// flags: -n requests per target, -c clients, -rounds).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/clonebot/clonebot/apikey"
	"github.com/clonebot/clonebot/app"
	"github.com/clonebot/clonebot/bot/slackfake"
	"github.com/clonebot/clonebot/internal/fakes"
	"github.com/clonebot/clonebot/provisioner"
	"github.com/clonebot/clonebot/redisstore"
)

func main() {
	n := flag.Int("n", 20000, "measured requests per target")
	c := flag.Int("c", 100, "concurrent clients")
	rounds := flag.Int("rounds", 5, "interleaved rounds")
	flag.Parse()
	if err := run(*n, *c, *rounds); err != nil {
		fmt.Fprintln(os.Stderr, "bench-api:", err)
		os.Exit(1)
	}
}

// target is one kind of request the clients send.
type target struct {
	name string
	do   func(*http.Client) error
}

func run(n, clients, rounds int) error {
	ctx := context.Background()
	// step 1: serve's API on its own Redis prefix, a key for the policy's service identity and
	// one clone to read.
	url := os.Getenv("CLONEBOT_REDIS_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379/0"
	}
	prefix := fmt.Sprintf("bench-api-%d:", time.Now().UnixNano())
	db, err := redisstore.Open(ctx, url, prefix, false)
	if err != nil {
		return err
	}
	defer db.Close()
	defer func() { _ = db.Purge(context.Background()) }() // leave nothing behind in a shared Redis
	slack := slackfake.New()
	defer slack.Close()
	cfg := app.DefaultConfig()
	cfg.Slack.APIURL, cfg.Slack.BotToken = slack.APIURL(), "xoxb-bench"
	cfg.API.Rate, cfg.API.Burst = 1e9, 1e9 // the bench measures latency, not the limiter's refusals
	days := []time.Time{time.Now().UTC().Truncate(24 * time.Hour)}
	a, err := app.New(ctx, cfg, app.Options{Serve: true, DB: db, Policy: fakes.Policy(), Rules: fakes.Rules(), Logger: discardLogger(),
		Backends: provisioner.Backends{"prod": {Provisioner: &fakes.Provisioner{}, Catalogue: fakes.Daily("prod", 1<<30, days...),
			Strategy: provisioner.StrategyRestore}}})
	if err != nil {
		return err
	}
	defer a.Close()
	k, tok, err := apikey.New(apikey.Spec{Name: "bench", Principal: "service:ci", Scopes: []apikey.Scope{apikey.ScopeRead, apikey.ScopeClone}}, time.Now())
	if err != nil {
		return err
	}
	if err := db.Keys().Create(ctx, k); err != nil {
		return err
	}
	apiURL, stopAPI, err := serve(a.API)
	if err != nil {
		return err
	}
	defer stopAPI()
	bareURL, stopBare, err := serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
	}))
	if err != nil {
		return err
	}
	defer stopBare()
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: clients, MaxIdleConnsPerHost: clients}, Timeout: time.Minute}
	auth := "Bearer " + tok.Reveal()
	var made struct{ ID string }
	if err := call(client, http.MethodPost, apiURL+"/api/v1/clones", auth, `{"source":"prod","reason":"bench"}`, http.StatusCreated, &made); err != nil {
		return err
	}

	// step 2: the three targets; warm each up, then measure them in turns.
	targets := []target{
		{"bare", func(c *http.Client) error { return call(c, http.MethodGet, bareURL, "", "", http.StatusOK, nil) }},
		{"get", func(c *http.Client) error {
			return call(c, http.MethodGet, apiURL+"/api/v1/clones/"+made.ID, auth, "", http.StatusOK, nil)
		}},
		{"dry", func(c *http.Client) error {
			return call(c, http.MethodPost, apiURL+"/api/v1/clones?dry_run=true", auth, `{"source":"prod","tier":"staging","ttl":"4h"}`, http.StatusOK, nil)
		}},
	}
	lat := make([][]time.Duration, len(targets))
	for i, t := range targets {
		if _, err := measure(client, t, n/10, clients); err != nil {
			return err
		}
		lat[i] = make([]time.Duration, 0, n)
	}
	for r := range rounds {
		size := n / rounds
		if r < n%rounds {
			size++
		}
		for i, t := range targets {
			d, err := measure(client, t, size, clients)
			if err != nil {
				return err
			}
			lat[i] = append(lat[i], d...)
		}
	}

	// step 3: the figures.
	bare, get, dry := percentile(lat[0], 99), percentile(lat[1], 99), percentile(lat[2], 99)
	fmt.Printf("requests=%d clients=%d rounds=%d bare_p50_ms=%.3f get_p50_ms=%.3f dry_p50_ms=%.3f\n", n, clients, rounds,
		ms(percentile(lat[0], 50)), ms(percentile(lat[1], 50)), ms(percentile(lat[2], 50)))
	fmt.Printf("bench-api get_p99_ms=%.3f dry_p99_ms=%.3f bare_p99_ms=%.3f ratio=%.2f\n",
		ms(get), ms(dry), ms(bare), float64(max(get, dry))/float64(bare))
	return nil
}

// discardLogger logs as serve does (JSON at info), to nowhere, so the bench pays for logging.
func discardLogger() *zap.Logger {
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	return zap.New(zapcore.NewCore(enc, zapcore.AddSync(io.Discard), zapcore.InfoLevel))
}

// serve serves h on a loopback port.
func serve(h http.Handler) (string, func(), error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("listen on loopback: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintln(os.Stderr, "bench-api: serve:", err)
		}
	}()
	return "http://" + l.Addr().String(), func() { _ = srv.Close() }, nil
}

// measure sends n requests of t from clients goroutines (closed loop) and returns each one's
// latency, from send to the answer read.
func measure(client *http.Client, t target, n, clients int) ([]time.Duration, error) {
	out := make([]time.Duration, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for range clients {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(n); i = next.Add(1) - 1 {
				start := time.Now()
				if err := t.do(client); err != nil {
					once.Do(func() { first = fmt.Errorf("%s: %w", t.name, err) })
					return
				}
				out[i] = time.Since(start)
			}
		})
	}
	wg.Wait()
	return out, first
}

// call sends one request and checks its status; into, if not nil, gets the JSON answer.
func call(client *http.Client, method, url, auth, body string, want int, into any) error {
	var rd io.Reader
	if body != "" {
		rd = bytes.NewReader([]byte(body))
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	res, err := client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	if res.StatusCode != want {
		return fmt.Errorf("%s %s: HTTP %d, want %d: %s", method, req.URL.Path, res.StatusCode, want, b)
	}
	if into != nil {
		return json.Unmarshal(b, into)
	}
	return nil
}

// percentile is the nearest-rank p-th percentile.
func percentile(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[max(0, (len(s)*p+99)/100-1)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
