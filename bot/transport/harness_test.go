package transport_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"go.uber.org/zap"

	"github.com/clonebot/clonebot/bot/transport"
	"github.com/clonebot/clonebot/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// recorder is a Dispatcher that records what reached it. When hold is set, every call
// announces itself on entered and then waits for hold to be closed.
type recorder struct {
	hold    chan struct{}
	entered chan string

	mu           sync.Mutex
	commands     []slack.SlashCommand
	interactions []slack.InteractionCallback
	events       []slackevents.EventsAPIEvent
	busy         []string
}

func newRecorder(hold bool) *recorder {
	r := &recorder{entered: make(chan string, 100)}
	if hold {
		r.hold = make(chan struct{})
	}
	return r
}

func (r *recorder) wait(kind string) {
	r.entered <- kind
	if r.hold != nil {
		<-r.hold
	}
}

func (r *recorder) Command(_ context.Context, cmd slack.SlashCommand) {
	r.wait(transport.KindCommand)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.commands = append(r.commands, cmd)
}

func (r *recorder) Interaction(_ context.Context, cb slack.InteractionCallback) {
	r.wait(transport.KindInteraction)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.interactions = append(r.interactions, cb)
}

func (r *recorder) Event(_ context.Context, ev slackevents.EventsAPIEvent) {
	r.wait(transport.KindEvent)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
}

func (r *recorder) Busy(kind string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.busy = append(r.busy, kind)
}

// counts returns how many commands, interactions and events were handled.
func (r *recorder) counts() (int, int, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.commands), len(r.interactions), len(r.events)
}

// waitEntered waits until a dispatcher call of kind started.
func (r *recorder) waitEntered(t *testing.T, ctx context.Context, want string) {
	t.Helper()
	select {
	case got := <-r.entered:
		if got != want {
			t.Fatalf("dispatched %s, want %s", got, want)
		}
	case <-ctx.Done():
		t.Fatalf("no %s dispatched: %v", want, ctx.Err())
	}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newPool(t *testing.T, workers, queue int) (*transport.Pool, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	p, err := transport.NewPool(workers, queue, reg, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Shutdown(context.Background()) })
	return p, reg
}

// drain shuts the pool down and waits for every queued payload to be handled, so that
// counts afterwards are final.
func drain(t *testing.T, p *transport.Pool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

// metric returns the value of a counter or gauge series with the given labels.
func metric(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if labels[lp.GetName()] != lp.GetValue() {
					continue series
				}
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}
