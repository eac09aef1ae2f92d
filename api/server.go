package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/clonebot/clonebot/apikey"
	"github.com/clonebot/clonebot/approvals"
	"github.com/clonebot/clonebot/handlers"
)

// Keys finds API keys (redisstore.Keys).
type Keys interface {
	// Get returns the key with id; apikey.ErrInvalid if there is none.
	Get(ctx context.Context, id string) (*apikey.Key, error)
}

// Attempts keeps the idempotent attempts of POST /clones (redisstore.Keys).
type Attempts interface {
	// Claim takes keyID's attempt of idempotencyKey for a.Owner until now+lease (new ones are
	// kept for ttl), or says who has it; it returns the attempt as stored.
	Claim(ctx context.Context, keyID, idempotencyKey string, a apikey.Attempt, now time.Time, lease, ttl time.Duration) (apikey.Claim, apikey.Attempt, error)
	// Finish records the answer of an attempt owner holds; false if it no longer does.
	Finish(ctx context.Context, keyID, idempotencyKey, owner string, status int, location string, body []byte) (bool, error)
	// Drop forgets an unfinished attempt owner holds.
	Drop(ctx context.Context, keyID, idempotencyKey, owner string) error
}

// Clock is the API's time: Now for key expiry and leases, After for the waits of long polls
// and idempotent retries (clock.Clock; a test's clock may fire at once).
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

// Config tunes the API; zero values take the defaults.
type Config struct {
	Rate           float64       // requests per second per key (default 10)
	Burst          int           // requests a key may make at once (default 20)
	MaxBodyBytes   int64         // larger bodies are refused with 413 (default 16 KiB)
	MaxWait        time.Duration // the longest ?wait= of GET /clones/{id} (default 60s)
	IdempotencyTTL time.Duration // how long an Idempotency-Key's answer is kept (default 24h)
}

func (c Config) withDefaults() Config {
	if c.Rate <= 0 {
		c.Rate = 10
	}
	if c.Burst <= 0 {
		c.Burst = 20
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 16 << 10
	}
	if c.MaxWait <= 0 {
		c.MaxWait = 60 * time.Second
	}
	if c.IdempotencyTTL <= 0 {
		c.IdempotencyTTL = 24 * time.Hour
	}
	return c
}

// Deps are what a Server needs; all are required.
type Deps struct {
	Service  *handlers.Service
	Keys     Keys
	Attempts Attempts
	Health   func(ctx context.Context) error // nil when every service clonebot needs answers
	Clock    Clock
	Logger   *zap.Logger
}

// Server is the REST API: an http.Handler. Safe for concurrent use.
type Server struct {
	cfg      Config
	svc      *handlers.Service
	policy   *approvals.Policy
	keys     Keys
	attempts Attempts
	health   func(ctx context.Context) error
	clock    Clock
	log      *zap.Logger
	mux      *http.ServeMux

	mu       sync.Mutex
	limiters map[string]*rate.Limiter // per key id
}

// New returns the API's handler.
func New(cfg Config, d Deps) (*Server, error) {
	switch {
	case d.Service == nil:
		return nil, errors.New("api: Service is required")
	case d.Keys == nil:
		return nil, errors.New("api: Keys is required")
	case d.Attempts == nil:
		return nil, errors.New("api: Attempts is required")
	case d.Health == nil:
		return nil, errors.New("api: Health is required")
	case d.Clock == nil:
		return nil, errors.New("api: Clock is required")
	case d.Logger == nil:
		return nil, errors.New("api: Logger is required")
	}
	s := &Server{cfg: cfg.withDefaults(), svc: d.Service, policy: d.Service.Policy(), keys: d.Keys, attempts: d.Attempts,
		health: d.Health, clock: d.Clock, log: d.Logger, mux: http.NewServeMux(), limiters: map[string]*rate.Limiter{}}
	byPath := map[string][]route{}
	var paths []string
	for _, rt := range s.routes() {
		if _, ok := byPath[rt.path]; !ok {
			paths = append(paths, rt.path)
		}
		byPath[rt.path] = append(byPath[rt.path], rt)
	}
	for _, p := range paths {
		s.mux.Handle(p, s.methods(byPath[p]))
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, r, probNotFound.with("No such API route; GET /api/v1/openapi.json lists them."))
	})
	return s, nil
}

// route is one method on one path. A route with a scope needs a key that has it.
type route struct {
	method, path string
	scope        apikey.Scope // "" for the public routes
	handle       func(w http.ResponseWriter, r *http.Request, c *call)
}

// routes are the API's routes; the OpenAPI document lists exactly these (a test checks).
func (s *Server) routes() []route {
	return []route{
		{http.MethodGet, "/api/v1/healthz", "", s.healthz},
		{http.MethodGet, "/api/v1/openapi.json", "", serveOpenAPI},
		{http.MethodGet, "/api/v1/backups", apikey.ScopeRead, s.backups},
		{http.MethodGet, "/api/v1/clones", apikey.ScopeRead, s.list},
		{http.MethodPost, "/api/v1/clones", apikey.ScopeClone, s.create},
		{http.MethodGet, "/api/v1/clones/{id}", apikey.ScopeRead, s.get},
		{http.MethodPatch, "/api/v1/clones/{id}", apikey.ScopeClone, s.patch},
		{http.MethodDelete, "/api/v1/clones/{id}", apikey.ScopeClone, s.delete},
	}
}

// call is one authenticated request: its key, and who it acts as.
type call struct {
	key   *apikey.Key
	actor handlers.Actor
}

// ServeHTTP serves the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.fail(w, r, fmt.Errorf("panic: %v", v), probNotFound)
		}
	}()
	s.mux.ServeHTTP(w, r)
}

// methods dispatches one path's routes by method, after the key's checks.
func (s *Server) methods(rs []route) http.Handler {
	allow := make([]string, 0, len(rs))
	for _, rt := range rs {
		allow = append(allow, rt.method)
	}
	allowed := strings.Join(allow, ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := slices.IndexFunc(rs, func(rt route) bool { return rt.method == r.Method })
		if i < 0 {
			w.Header().Set("Allow", allowed)
			writeProblem(w, r, probMethod.with(r.Method+" is not allowed here; use "+allowed+"."))
			return
		}
		rt := rs[i]
		if rt.scope == "" {
			rt.handle(w, r, nil)
			return
		}
		c, ok := s.authenticate(w, r, rt.scope)
		if !ok {
			return
		}
		if dry, _ := strconv.ParseBool(r.URL.Query().Get("dry_run")); r.Method == http.MethodGet || dry {
			rt.handle(w, r, c)
			return
		}
		// A change is logged with the key that asked for it (never its token).
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		rt.handle(sw, r, c)
		s.log.Info("api change", zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.String("key_id", c.key.ID),
			zap.String("principal", c.key.Principal), zap.Int("status", sw.status))
	})
}

// statusWriter remembers the status a handler answered.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	w.status = status
	w.ResponseWriter.WriteHeader(status)
}

// authenticate checks the request's key, its rate and its scope, and answers the refusal
// itself when one fails.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, need apikey.Scope) (*call, bool) {
	unauthorized := func(detail string) (*call, bool) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="clonebot", error="invalid_token"`)
		writeProblem(w, r, probUnauthorized.with(detail))
		return nil, false
	}
	// step 1: a token of ours, its key, and the right secret.
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="clonebot"`)
		writeProblem(w, r, probUnauthorized.with("Send an API key as Authorization: Bearer cbk_…; an admin makes one with clonebot apikey create."))
		return nil, false
	}
	id, err := apikey.ParseToken(strings.TrimSpace(token))
	if err != nil {
		return unauthorized("That is not a clonebot API key (they look like cbk_<id>_<secret>).")
	}
	key, err := s.keys.Get(r.Context(), id)
	if errors.Is(err, apikey.ErrInvalid) {
		return unauthorized("Unknown or wrong API key.")
	}
	if err != nil {
		s.fail(w, r, fmt.Errorf("authenticate key %s: %w", id, err), probNotFound)
		return nil, false
	}
	switch err := key.Check(strings.TrimSpace(token), s.clock.Now()); {
	case errors.Is(err, apikey.ErrRevoked):
		return unauthorized("This API key was revoked; ask an admin for a new one.")
	case errors.Is(err, apikey.ErrExpired):
		return unauthorized("This API key expired; ask an admin for a new one.")
	case err != nil:
		return unauthorized("Unknown or wrong API key.")
	}
	// step 2: its rate.
	if wait, ok := s.allow(key.ID); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		writeProblem(w, r, probRateLimited.with(fmt.Sprintf("This key may make %g requests a second (bursts of %d); retry after the Retry-After seconds.", s.cfg.Rate, s.cfg.Burst)))
		return nil, false
	}
	// step 3: its scope, and a principal the policy still knows.
	if !key.Allows(need) {
		writeProblem(w, r, probForbidden.with(fmt.Sprintf("This key's scopes are %s; this needs %s.", apikey.JoinScopes(key.Scopes), need)))
		return nil, false
	}
	if strings.HasPrefix(key.Principal, approvals.ServicePrefix) {
		if _, ok := s.policy.ServiceIdentity(key.Principal); !ok {
			writeProblem(w, r, probForbidden.with(fmt.Sprintf("This key acts for %s, which the policy no longer has.", key.Principal)))
			return nil, false
		}
	}
	return &call{key: key, actor: handlers.Actor{User: key.Principal, Via: key.Actor()}}, true
}

// allow takes one request from key id's bucket; when it is empty, it says how long until the
// next request would be allowed.
func (s *Server) allow(id string) (time.Duration, bool) {
	s.mu.Lock()
	lim, ok := s.limiters[id]
	if !ok {
		lim = rate.NewLimiter(rate.Limit(s.cfg.Rate), s.cfg.Burst)
		s.limiters[id] = lim
	}
	s.mu.Unlock()
	now := s.clock.Now()
	if lim.AllowN(now, 1) {
		return 0, true
	}
	res := lim.ReserveN(now, 1)
	wait := res.DelayFrom(now)
	res.CancelAt(now)
	return max(wait, time.Second), false
}

// writeJSON answers v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil { // the views hold strings, numbers and times only
		http.Error(w, "encode: "+err.Error(), http.StatusInternalServerError)
		return
	}
	writeBody(w, status, body)
}

func writeBody(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n')) // a client gone mid-answer is not our error
}

// Serve serves the API on l until ctx ends; then long polls answer at once and the server
// shuts down. Its write timeout is longer than the longest wait.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	base, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: s.cfg.MaxWait + 15*time.Second, IdleTimeout: 60 * time.Second,
		BaseContext: func(net.Listener) context.Context { return base }}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	s.log.Info("api listening", zap.String("addr", l.Addr().String()))
	select {
	case err := <-errc:
		return fmt.Errorf("serve api on %s: %w", l.Addr(), err)
	case <-ctx.Done():
	}
	cancel() // long polls answer with what they have
	shutCtx, stop := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer stop()
	if err := srv.Shutdown(shutCtx); err != nil {
		return fmt.Errorf("shut down api on %s: %w", l.Addr(), err)
	}
	return nil
}
