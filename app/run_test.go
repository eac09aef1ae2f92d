package app_test

import (
	"net"
	"strings"
	"testing"

	"go.uber.org/zap/zaptest"

	"github.com/clonebot/clonebot/app"
	"github.com/clonebot/clonebot/internal/fakes"
	"github.com/clonebot/clonebot/provisioner"
)

// TestTakenPortNamesItsListener: when a port is taken, serve and the agent stop with an error
// that names the listener whose port it is, and no other.
func TestTakenPortNamesItsListener(t *testing.T) {
	w := newWorld(t, 1)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { taken.Close() })
	addr := taken.Addr().String()
	tests := []struct {
		name   string
		run    func() error
		listen string // the listener the error must name
	}{
		{"serve's metrics", func() error {
			return w.replica("bot-1", func(c *app.Config) { c.MetricsAddr = addr }).RunServe(w.ctx)
		}, "metrics"},
		{"serve's Slack HTTP", func() error {
			return w.replica("bot-1", func(c *app.Config) { c.Slack.ListenAddr = addr }).RunServe(w.ctx)
		}, "slack http"},
		{"the agent's metrics", func() error {
			cfg := app.DefaultConfig()
			cfg.Redis.Prefix, cfg.Agent.MetricsAddr = w.prefix, addr
			a, err := app.New(w.ctx, cfg, app.Options{Agent: true, Logger: zaptest.NewLogger(t), Owner: "agent-1", DB: w.db,
				Policy: fakes.Policy(), Rules: fakes.Rules(), MaskKey: provisioner.NewPassword("a masking key of the test")})
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			return a.RunAgent(w.ctx)
		}, "agent metrics"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.run()
			want := "listen for " + tt.listen + " on " + addr + ": "
			if err == nil || !strings.HasPrefix(err.Error(), want) {
				t.Fatalf("error %v, want it to begin %q", err, want)
			}
		})
	}
}
