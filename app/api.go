package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/clonebot/clonebot/api"
)

// APISection is the `api:` section: the REST API for pipelines and scripts, served by
// `clonebot serve` on its own address.
type APISection struct {
	ListenAddr     string        `yaml:"listen_addr"`     // "" (the default): no API
	Rate           float64       `yaml:"rate"`            // requests per second per key, in each replica (default 10)
	Burst          int           `yaml:"burst"`           // requests a key may make at once (default 20)
	MaxBodyBytes   int64         `yaml:"max_body_bytes"`  // larger bodies are refused (default 16384)
	IdempotencyTTL time.Duration `yaml:"idempotency_ttl"` // how long an Idempotency-Key's answer is kept (default 24h)
}

func (s APISection) validate() error {
	if s.Rate < 0 || s.Burst < 0 || s.MaxBodyBytes < 0 || s.IdempotencyTTL < 0 {
		return errors.New("api: rate, burst, max_body_bytes and idempotency_ttl must not be negative")
	}
	return nil
}

// buildAPI wires the REST API onto the use cases, the key store and the clock of serve.
func (a *App) buildAPI() error {
	c := a.Config.API
	keys := a.DB.Keys()
	var err error
	a.API, err = api.New(api.Config{Rate: c.Rate, Burst: c.Burst, MaxBodyBytes: c.MaxBodyBytes, IdempotencyTTL: c.IdempotencyTTL},
		api.Deps{Service: a.Service, Keys: keys, Attempts: keys, Health: a.DB.Ping, Clock: a.Clock, Logger: a.Log.Named("api")})
	return err
}

// serveAPI serves the REST API on api.listen_addr until ctx ends.
func (a *App) serveAPI(ctx context.Context) error {
	l, err := net.Listen("tcp", a.Config.API.ListenAddr)
	if err != nil {
		return fmt.Errorf("listen for api on %s: %w", a.Config.API.ListenAddr, err)
	}
	return a.API.Serve(ctx, l)
}
