package transport_test

import (
	"context"
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/clonebot/clonebot/bot/transport"
)

func TestPoolSubmitNeverBlocksAndShutdownDrains(t *testing.T) {
	p, reg := newPool(t, 1, 2)
	release := make(chan struct{})
	started := make(chan struct{})
	var ran []int
	if !p.Submit("command", func(context.Context) { close(started); <-release; ran = append(ran, 0) }) {
		t.Fatal("first submit refused")
	}
	<-started
	for i := 1; i <= 2; i++ {
		if !p.Submit("command", func(context.Context) { ran = append(ran, i) }) {
			t.Fatalf("submit %d refused with room in the queue", i)
		}
	}
	if p.Submit("command", func(context.Context) { t.Error("ran a refused job") }) {
		t.Fatal("submit to a full queue accepted")
	}
	if got := metric(t, reg, "clonebot_slack_busy_rejections_total", map[string]string{"kind": "command"}); got != 1 {
		t.Fatalf("busy rejections = %v", got)
	}
	if got := metric(t, reg, "clonebot_slack_workers_busy", nil); got != 1 {
		t.Fatalf("workers busy = %v", got)
	}
	close(release)
	drain(t, p)
	if len(ran) != 3 || ran[0] != 0 || ran[1] != 1 || ran[2] != 2 {
		t.Fatalf("ran %v, want [0 1 2]", ran)
	}
	if p.Submit("command", func(context.Context) {}) {
		t.Fatal("submit after shutdown accepted")
	}
	if err := p.Shutdown(context.Background()); !errors.Is(err, transport.ErrPoolClosed) {
		t.Fatalf("second shutdown: %v", err)
	}
}

func TestPoolShutdownDeadlineCancelsJobs(t *testing.T) {
	p, _ := newPool(t, 1, 1)
	started := make(chan struct{})
	cancelled := make(chan struct{})
	p.Submit("event", func(ctx context.Context) { close(started); <-ctx.Done(); close(cancelled) })
	<-started
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the drain deadline has already passed
	if err := p.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("shutdown past its deadline: %v", err)
	}
	<-cancelled // the running job saw its context end
}

func TestPoolRecoversPanics(t *testing.T) {
	p, reg := newPool(t, 1, 1)
	p.Submit("interaction", func(context.Context) { panic("boom") })
	drain(t, p)
	if got := metric(t, reg, "clonebot_slack_handler_panics_total", map[string]string{"kind": "interaction"}); got != 1 {
		t.Fatalf("panics = %v", got)
	}
}

func TestNewPoolRefusesBadSizesAndDoubleRegistration(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := transport.NewPool(0, 1, reg, zap.NewNop()); err == nil {
		t.Fatal("zero workers accepted")
	}
	p, err := transport.NewPool(1, 1, reg, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown(context.Background())
	if _, err := transport.NewPool(1, 1, reg, zap.NewNop()); err == nil {
		t.Fatal("second pool on the same registry accepted")
	}
}
