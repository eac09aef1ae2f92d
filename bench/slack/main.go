// Command slack measures how fast the HTTP-mode Slack transport acks: concurrent clients send
// signed `/clone prod 2024-05-01` slash commands on loopback, and in the same run the same
// load goes to a bare net/http handler that only answers 200. The last line is
//
//	bench-slack ack_p50_ms=A ack_p99_ms=B bare_p99_ms=C ratio=B/C
//
// Run it with `go run ./bench/slack` (flags: -n requests, -c clients, -workers, -queue).
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
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

	"github.com/prometheus/client_golang/prometheus"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"go.uber.org/zap"

	"github.com/clonebot/clonebot/bot/slackfake"
	"github.com/clonebot/clonebot/bot/transport"
)

const (
	secret = "bench-signing-secret"
	rounds = 5
)

func main() {
	n := flag.Int("n", 20000, "requests per target")
	c := flag.Int("c", 100, "concurrent clients")
	workers := flag.Int("workers", transport.DefaultWorkers, "transport worker pool size")
	queue := flag.Int("queue", transport.DefaultQueueSize, "transport queue size")
	flag.Parse()
	if err := run(*n, *c, *workers, *queue); err != nil {
		fmt.Fprintln(os.Stderr, "bench-slack:", err)
		os.Exit(1)
	}
}

// worker is the Dispatcher under load: it does a little of what the real one does (render a
// card to JSON and hash it) and counts.
type worker struct{ handled, busy atomic.Int64 }

func (w *worker) Command(_ context.Context, cmd slack.SlashCommand) {
	card, _ := json.Marshal(map[string]any{"blocks": []map[string]any{{
		"type": "section", "text": map[string]string{"type": "mrkdwn", "text": "*Clone request* " + cmd.Text + " by <@" + cmd.UserID + ">"},
	}}})
	_ = sha256.Sum256(card)
	w.handled.Add(1)
}
func (w *worker) Interaction(context.Context, slack.InteractionCallback) {}
func (w *worker) Event(context.Context, slackevents.EventsAPIEvent)      {}
func (w *worker) Busy(string)                                            { w.busy.Add(1) }

func run(n, clients, workers, queue int) error {
	// step 1: the transport under test and the bare baseline, each on its own loopback port.
	pool, err := transport.NewPool(workers, queue, prometheus.NewRegistry(), zap.NewNop())
	if err != nil {
		return err
	}
	w := &worker{}
	h, err := transport.NewHTTPHandler(transport.HTTPOptions{SigningSecret: secret, Dispatcher: w, Pool: pool,
		Deduper: transport.NewMemoryDeduper(time.Hour, time.Now), Logger: zap.NewNop()})
	if err != nil {
		return err
	}
	slackURL, stopSlack, err := serve(h)
	if err != nil {
		return err
	}
	defer stopSlack()
	bareURL, stopBare, err := serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
	}))
	if err != nil {
		return err
	}
	defer stopBare()

	fake := slackfake.New()
	defer fake.Close()
	body := slackfake.CommandBody(fake.SlashCommand("U0BENCH", "C0BENCH", "prod 2024-05-01"))
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: clients, MaxIdleConnsPerHost: clients}}

	// step 2: warm both up (connections, allocator), then measure.
	for _, u := range []string{bareURL, slackURL + transport.PathCommands} {
		if _, err := load(client, u, body, n/10, clients); err != nil {
			return err
		}
	}
	// The two targets take turns in rounds, so that a change in the machine's background
	// load hits both alike.
	var bare, acks []time.Duration
	for r := range rounds {
		size := n/rounds + boolInt(r < n%rounds)
		b, err := load(client, bareURL, body, size, clients)
		if err != nil {
			return err
		}
		a, err := load(client, slackURL+transport.PathCommands, body, size, clients)
		if err != nil {
			return err
		}
		bare, acks = append(bare, b...), append(acks, a...)
	}

	// step 3: every accepted command must have been handled once the pool drains.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := pool.Shutdown(ctx); err != nil {
		return err
	}
	total := int64(n + n/10)
	if got := w.handled.Load() + w.busy.Load(); got != total {
		return fmt.Errorf("%d commands sent, %d handled and %d answered busy", total, w.handled.Load(), w.busy.Load())
	}

	p50, p99, bareP99 := pct(acks, 50), pct(acks, 99), pct(bare, 99)
	fmt.Printf("requests=%d clients=%d workers=%d queue=%d handled=%d busy=%d bare_p50_ms=%.3f\n",
		n, clients, workers, queue, w.handled.Load(), w.busy.Load(), ms(pct(bare, 50)))
	fmt.Printf("bench-slack ack_p50_ms=%.3f ack_p99_ms=%.3f bare_p99_ms=%.3f ratio=%.2f\n",
		ms(p50), ms(p99), ms(bareP99), float64(p99)/float64(bareP99))
	return nil
}

func serve(h http.Handler) (string, func(), error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("listen on loopback: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintln(os.Stderr, "bench-slack: serve:", err)
		}
	}()
	return "http://" + l.Addr().String(), func() { _ = srv.Close() }, nil
}

// load sends n signed POSTs of body to url from clients goroutines and returns each
// request's latency (send to response fully read).
func load(client *http.Client, url string, body []byte, n, clients int) ([]time.Duration, error) {
	lat := make([]time.Duration, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, clients)
	for range clients {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				d, err := once(client, url, body)
				if err != nil {
					errc <- err
					return
				}
				lat[i] = d
			}
		})
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return nil, err
	}
	return lat, nil
}

func once(client *http.Client, url string, body []byte) (time.Duration, error) {
	start := time.Now()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	ts, sig := transport.Sign(secret, start, body)
	req.Header.Set("Content-Type", slackfake.ContentTypeForm)
	req.Header.Set(transport.HeaderTimestamp, ts)
	req.Header.Set(transport.HeaderSignature, sig)
	resp, err := client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("post %s: %w", url, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("post %s: status %d", url, resp.StatusCode)
	}
	return time.Since(start), nil
}

func pct(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[max(0, i-1)]
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
