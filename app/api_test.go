package app_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/clonebot/clonebot/apikey"
	"github.com/clonebot/clonebot/app"
	"github.com/clonebot/clonebot/approvals"
	"github.com/clonebot/clonebot/bot/render"
	"github.com/clonebot/clonebot/handlers"
	"github.com/clonebot/clonebot/internal/fakes"
	"github.com/clonebot/clonebot/internal/leakcheck"
	"github.com/clonebot/clonebot/internal/testenv"
	"github.com/clonebot/clonebot/redisstore"
)

// The REST API's tests run `serve` (or its API alone) on real HTTP, against real Redis and the
// offline Slack. Everything the API answers and every line the replicas log is recorded, with
// every key token made and the Slack secrets, in apiLeaks: after the tests, checkAPILeaks fails
// the run if a secret reached any of it.
var apiLeaks = leakcheck.New()

// checkAPILeaks is the package's leak check of the API tests (nothing to check when none ran).
func checkAPILeaks() error {
	if s, t := apiLeaks.Counts(); s == 0 && t == 0 {
		return nil
	}
	return apiLeaks.Check()
}

// apiWorld is a world whose replica serves the API: users U000 and U001 (developers), ULEAD
// (leads) and UADMIN (platform: admins), and the policy's service identity service:ci.
type apiWorld struct {
	*world
	a    *app.App
	base string // the API's URL
	http *http.Client
}

// newAPIWorld runs one replica's serve role, API included (edited by edit), and the restore
// agent.
func newAPIWorld(t *testing.T, edit ...func(*app.Config)) *apiWorld {
	t.Helper()
	w := &apiWorld{world: newWorld(t, 2), http: &http.Client{Timeout: 90 * time.Second}}
	w.fake.AddUser(slack.User{ID: "ULEAD", Name: "lee"})
	w.fake.AddUserGroup("S2", "leads", "ULEAD")
	w.fake.AddUser(slack.User{ID: "UADMIN", Name: "ada"})
	w.fake.AddUserGroup("S3", "platform", "UADMIN")
	apiLeaks.Secret("xoxb-test")
	apiLeaks.Secret("test-signing-secret")
	apiLeaks.LogOnFailure(t)
	w.options = func(o *app.Options) { o.Logger = apiLeaks.Logger() }
	addr := testenv.FreeAddr(t)
	// The tests send many requests with one key; TestAPIRateLimit sets the rate it tests.
	w.a = w.replica("api-1", append([]func(*app.Config){func(c *app.Config) { c.API.ListenAddr, c.API.Rate, c.API.Burst = addr, 1000, 1000 }}, edit...)...)
	w.base = "http://" + addr
	start(t, w.ctx, w.a.RunServe)
	start(t, w.ctx, w.agent)
	w.until("the API answers", func() bool {
		res, err := w.http.Get(w.base + "/api/v1/healthz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	})
	return w
}

// key makes an API key acting for principal with scopes, and returns its token.
func (w *apiWorld) key(principal string, scopes ...apikey.Scope) (string, *apikey.Key) {
	w.t.Helper()
	return w.keyAt(time.Now(), time.Time{}, principal, scopes...)
}

// keyAt makes a key as of made, expiring at expires (zero: never).
func (w *apiWorld) keyAt(made, expires time.Time, principal string, scopes ...apikey.Scope) (string, *apikey.Key) {
	w.t.Helper()
	k, tok, err := apikey.New(apikey.Spec{Name: "test " + principal, Principal: principal, Scopes: scopes, ExpiresAt: expires}, made)
	if err != nil {
		w.t.Fatal(err)
	}
	apiLeaks.Secret(tok.Reveal())
	if err := w.db.Keys().Create(w.ctx, k); err != nil {
		w.t.Fatal(err)
	}
	return tok.Reveal(), k
}

// reply is one answer of the API.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request: body "" for none; extra headers as name, value pairs. The answer is
// recorded for the leak check.
func (w *apiWorld) do(method, path, token, body string, headers ...string) reply {
	w.t.Helper()
	return doAt(w.t, w.http, w.base, method, path, token, body, headers...)
}

func doAt(t *testing.T, c *http.Client, base, method, path, token, body string, headers ...string) reply {
	t.Helper()
	r, err := send(c, base, method, path, token, body, headers...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// send is doAt for other goroutines than the test's: it returns its error.
func send(c *http.Client, base, method, path, token, body string, headers ...string) (reply, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		return reply{}, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := c.Do(req)
	if err != nil {
		return reply{}, apiLeaks.Err(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return reply{}, apiLeaks.Err(err)
	}
	var hdr strings.Builder
	_ = res.Header.Write(&hdr) // a strings.Builder does not fail
	apiLeaks.Text(fmt.Sprintf("%s %s → %d\n%s\n%s", method, path, res.StatusCode, hdr.String(), b))
	return reply{status: res.StatusCode, header: res.Header, body: b}, nil
}

// clone is the part of a clone's JSON the tests read.
type clone struct {
	ID        string           `json:"id"`
	Status    approvals.Status `json:"status"`
	Tier      string           `json:"tier"`
	Requester string           `json:"requester"`
	Via       string           `json:"via"`
	TTL       string           `json:"ttl"`
	ExpiresAt time.Time        `json:"expires_at"`
	Clone     *struct {
		Host          string `json:"host"`
		CredentialRef string `json:"credential_ref"`
	} `json:"clone"`
	Timeline []struct {
		Type, By string
	} `json:"timeline"`
	DryRun   bool     `json:"dry_run"`
	Strategy string   `json:"strategy"`
	Explain  []string `json:"explain"`
}

func (r reply) clone(t *testing.T) clone {
	t.Helper()
	var c clone
	if err := json.Unmarshal(r.body, &c); err != nil || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("HTTP %d %s: %s (%v)", r.status, r.header.Get("Content-Type"), r.body, err)
	}
	return c
}

// problem is an RFC 9457 answer.
type problem struct {
	Type     string   `json:"type"`
	Title    string   `json:"title"`
	Status   int      `json:"status"`
	Detail   string   `json:"detail"`
	Instance string   `json:"instance"`
	Field    string   `json:"field"`
	Options  []string `json:"options"`
}

// mustProblem checks that r is a problem+json of status and type (the URN's last part), and
// that its detail contains detail.
func (r reply) mustProblem(t *testing.T, status int, typ, detail string) problem {
	t.Helper()
	var p problem
	if err := json.Unmarshal(r.body, &p); err != nil || r.header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("HTTP %d %s: %s (%v), want a problem", r.status, r.header.Get("Content-Type"), r.body, err)
	}
	if r.status != status || p.Status != status || p.Type != "urn:clonebot:problem:"+typ || p.Title == "" || !strings.Contains(p.Detail, detail) {
		t.Fatalf("HTTP %d %+v, want %d %s with %q", r.status, p, status, typ, detail)
	}
	return p
}

// active is the number of active requests of principal.
func (w *apiWorld) active(principal string) int {
	w.t.Helper()
	n, err := w.db.Store().ActiveCount(w.ctx, principal)
	if err != nil {
		w.t.Fatal(err)
	}
	return n
}

// outbox returns the audit events of request id.
func (w *apiWorld) outbox(id string) []redisstore.OutboxEvent {
	w.t.Helper()
	all, err := w.db.Store().ReadOutbox(w.ctx, "", 0)
	if err != nil {
		w.t.Fatal(err)
	}
	var out []redisstore.OutboxEvent
	for _, e := range all {
		if e.RequestID == id {
			out = append(out, e)
		}
	}
	return out
}

// TestAPIEveryRoute walks a pipeline's day through every route: health, the document, the
// backups, a dry run (nothing made), a request approved at once, waiting for it to be ready,
// the list, its expiry moved later and sooner, and its destruction.
func TestAPIEveryRoute(t *testing.T) {
	w := newAPIWorld(t)
	tok, key := w.key("service:ci", apikey.ScopeRead, apikey.ScopeClone)

	if r := w.do("GET", "/api/v1/healthz", "", ""); r.status != 200 || !strings.Contains(string(r.body), `"ok"`) {
		t.Fatalf("healthz: %d %s", r.status, r.body)
	}
	if r := w.do("GET", "/api/v1/openapi.json", "", ""); r.status != 200 || !bytes.Contains(r.body, []byte(`"/api/v1/clones/{id}"`)) {
		t.Fatalf("openapi.json: %d", r.status)
	}
	r := w.do("GET", "/api/v1/backups?source=prod", tok, "")
	var bs struct {
		Source  string
		Backups []struct{ Date, Kind string }
	}
	if err := json.Unmarshal(r.body, &bs); err != nil || r.status != 200 || len(bs.Backups) != 4 || bs.Backups[0].Date != testenv.Day(testenv.Now(), 0).Format(time.DateOnly) {
		t.Fatalf("backups: %d %s", r.status, r.body)
	}

	dry := w.do("POST", "/api/v1/clones?dry_run=true", tok, `{"source":"prod","tier":"staging","ttl":"4h"}`).clone(t)
	if !dry.DryRun || dry.ID != "" || dry.Tier != "staging" || dry.Strategy != "restore" || !slices.ContainsFunc(dry.Explain, func(l string) bool { return strings.Contains(l, "Approval: one approver") }) {
		t.Fatalf("dry run: %+v", dry)
	}
	if n := w.active("service:ci"); n != 0 {
		t.Fatalf("the dry run made %d requests", n)
	}

	r = w.do("POST", "/api/v1/clones", tok, `{"source":"prod","date":"latest","ttl":"2h","reason":"nightly"}`)
	made := r.clone(t)
	if r.status != http.StatusCreated || made.Status != approvals.StatusApproved || made.Requester != "service:ci" || made.Via != "api:"+key.ID ||
		r.header.Get("Location") != "/api/v1/clones/"+made.ID {
		t.Fatalf("create: %d %s %+v", r.status, r.header.Get("Location"), made)
	}
	ready := w.do("GET", "/api/v1/clones/"+made.ID+"?wait=60s", tok, "").clone(t)
	if ready.Status != approvals.StatusReady || ready.Clone == nil || !strings.HasPrefix(ready.Clone.CredentialRef, "arn:aws:secretsmanager:") {
		t.Fatalf("after the wait: %+v", ready)
	}
	var list struct{ Clones []clone }
	if r := w.do("GET", "/api/v1/clones", tok, ""); json.Unmarshal(r.body, &list) != nil || len(list.Clones) != 1 || list.Clones[0].ID != made.ID {
		t.Fatalf("list: %d %s", r.status, r.body)
	}

	later := w.do("PATCH", "/api/v1/clones/"+made.ID, tok, `{"extend_by":"1h"}`).clone(t)
	if !later.ExpiresAt.Equal(ready.ExpiresAt.Add(time.Hour)) {
		t.Fatalf("extended to %v, want %v", later.ExpiresAt, ready.ExpiresAt.Add(time.Hour))
	}
	sooner := w.do("PATCH", "/api/v1/clones/"+made.ID, tok, `{"expires_in":"30m"}`).clone(t)
	if !sooner.ExpiresAt.Before(later.ExpiresAt) || sooner.ExpiresAt.After(time.Now().Add(31*time.Minute)) {
		t.Fatalf("shortened to %v", sooner.ExpiresAt)
	}

	r = w.do("DELETE", "/api/v1/clones/"+made.ID, tok, "")
	// serve's own lifecycle loop runs meanwhile and may finish the destroy before the answer is
	// read back: destroying or already destroyed.
	if gone := r.clone(t); r.status != http.StatusAccepted || (gone.Status != approvals.StatusDestroying && gone.Status != approvals.StatusDestroyed) {
		t.Fatalf("delete: %d %+v", r.status, gone)
	}
	w.until("the clone is destroyed", func() bool { return w.status(made.ID) == approvals.StatusDestroyed })
	if got := w.do("GET", "/api/v1/clones/"+made.ID, tok, "").clone(t); got.Status != approvals.StatusDestroyed {
		t.Fatalf("after delete: %+v", got)
	}

	// Every change the key made is recorded as the key's, for service:ci.
	var actors []string
	for _, e := range w.outbox(made.ID) {
		actors = append(actors, e.Type+" by "+e.Actor)
		if e.Type == "requested" && e.Data["requester"] != "service:ci" {
			t.Errorf("requested event data %v", e.Data)
		}
	}
	for _, want := range []string{"requested by api:" + key.ID, "extended by api:" + key.ID, "destroying by api:" + key.ID} {
		if !slices.Contains(actors, want) {
			t.Errorf("audit outbox %v has no %q", actors, want)
		}
	}
}

// TestAPIRefusals: every refusal is a problem+json with the right status and type, and
// nothing is made.
func TestAPIRefusals(t *testing.T) {
	w := newAPIWorld(t)
	tok, _ := w.key("service:ci", apikey.ScopeRead, apikey.ScopeClone)
	readOnly, _ := w.key("service:ci", apikey.ScopeRead)
	revoked, revokedKey := w.key("service:ci", apikey.ScopeRead, apikey.ScopeClone)
	if _, err := w.db.Keys().Revoke(w.ctx, revokedKey.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	expired, _ := w.keyAt(time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour), "service:ci", apikey.ScopeRead, apikey.ScopeClone)
	ghost, _ := w.key("service:gone", apikey.ScopeRead, apikey.ScopeClone)
	other, _ := w.key("U001", apikey.ScopeRead)
	wrongSecret := tok[:len(tok)-4] + "AAAA"
	if wrongSecret == tok {
		wrongSecret = tok[:len(tok)-4] + "BBBB"
	}
	unknownID := "cbk_zzzzzzzzzz_" + strings.Repeat("A", 43)
	tenDaysAgo := testenv.Day(testenv.Now(), -10).Format(time.DateOnly)
	tests := []struct {
		name, method, path, token, body string
		headers                         []string
		status                          int
		typ, detail                     string
	}{
		{"no key", "GET", "/api/v1/clones", "", "", nil, 401, "unauthorized", "Authorization: Bearer"},
		{"not a key", "GET", "/api/v1/clones", "xoxb-1234", "", nil, 401, "unauthorized", "not a clonebot API key"},
		{"unknown key", "GET", "/api/v1/clones", unknownID, "", nil, 401, "unauthorized", "Unknown or wrong"},
		{"wrong secret", "GET", "/api/v1/clones", wrongSecret, "", nil, 401, "unauthorized", "Unknown or wrong"},
		{"revoked", "GET", "/api/v1/clones", revoked, "", nil, 401, "unauthorized", "revoked"},
		{"expired", "GET", "/api/v1/clones", expired, "", nil, 401, "unauthorized", "expired"},
		{"wrong scope", "POST", "/api/v1/clones", readOnly, `{"source":"prod"}`, nil, 403, "forbidden", "needs clone"},
		{"all without admin scope", "GET", "/api/v1/clones?all=true", tok, "", nil, 403, "forbidden", "admin scope"},
		{"principal gone from the policy", "GET", "/api/v1/clones", ghost, "", nil, 403, "forbidden", "service:gone"},
		{"tier the principal may not request", "POST", "/api/v1/clones", tok, `{"source":"prod","tier":"debug"}`, nil, 403, "forbidden", "debug"},
		{"ttl over the cap", "POST", "/api/v1/clones", tok, `{"source":"prod","ttl":"48h"}`, nil, 422, "invalid", "24h"},
		{"unknown source", "POST", "/api/v1/clones", tok, `{"source":"nosuch"}`, nil, 422, "invalid", "nosuch"},
		{"date without a backup", "POST", "/api/v1/clones", tok, `{"source":"prod","date":"` + tenDaysAgo + `"}`, nil, 422, "invalid", "no backup"},
		{"unknown tier", "POST", "/api/v1/clones?dry_run=true", tok, `{"source":"prod","tier":"gold"}`, nil, 422, "invalid", "gold"},
		{"malformed JSON", "POST", "/api/v1/clones", tok, `{"source":"prod",`, nil, 400, "malformed", "not JSON"},
		{"unknown field", "POST", "/api/v1/clones", tok, `{"source":"prod","size":"xl"}`, nil, 400, "malformed", `"size"`},
		{"oversized body", "POST", "/api/v1/clones", tok, `{"source":"prod","reason":"` + strings.Repeat("x", 20000) + `"}`, nil, 413, "too-large", "16384"},
		{"not JSON", "POST", "/api/v1/clones", tok, `source=prod`, []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, "unsupported-media-type", "application/json"},
		{"bad date", "POST", "/api/v1/clones", tok, `{"source":"prod","date":"soon"}`, nil, 422, "invalid", "not a date"},
		{"bad idempotency key", "POST", "/api/v1/clones", tok, `{"source":"prod"}`, []string{"Idempotency-Key", strings.Repeat("k", 256)}, 400, "malformed", "Idempotency-Key"},
		{"no such clone", "GET", "/api/v1/clones/cl-222222", tok, "", nil, 404, "not-found", "cl-222222"},
		{"not a clone id", "GET", "/api/v1/clones/42", tok, "", nil, 404, "not-found", "not a clone id"},
		{"wait too long", "GET", "/api/v1/clones/cl-222222?wait=5m", tok, "", nil, 400, "malformed", "60s"},
		{"patch of no clone", "PATCH", "/api/v1/clones/cl-222222", tok, `{"extend_by":"1h"}`, nil, 404, "not-found", "cl-222222"},
		{"patch with both", "PATCH", "/api/v1/clones/cl-222222", tok, `{"extend_by":"1h","expires_in":"1h"}`, nil, 422, "invalid", "not both"},
		{"delete of no clone", "DELETE", "/api/v1/clones/cl-222222", tok, "", nil, 404, "not-found", "cl-222222"},
		{"method not allowed", "PUT", "/api/v1/clones", tok, `{}`, nil, 405, "method-not-allowed", "GET, POST"},
		{"unknown route", "GET", "/api/v2/clones", tok, "", nil, 404, "not-found", "openapi.json"},
		{"a read key cannot destroy", "DELETE", "/api/v1/clones/cl-222222", other, "", nil, 403, "forbidden", "needs clone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := w.do(tt.method, tt.path, tt.token, tt.body, tt.headers...)
			p := r.mustProblem(t, tt.status, tt.typ, tt.detail)
			if p.Instance != strings.Split(tt.path, "?")[0] {
				t.Errorf("instance %q", p.Instance)
			}
			if tt.status == 401 && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("401 without WWW-Authenticate: %v", r.header)
			}
		})
	}
	p := w.do("POST", "/api/v1/clones", tok, `{"source":"nosuch"}`).mustProblem(t, 422, "invalid", "")
	if !slices.Equal(p.Options, []string{"billing", "prod"}) {
		t.Errorf("unknown source options %v", p.Options)
	}
	if n := w.active("service:ci") + w.active("U000"); n != 0 {
		t.Fatalf("refusals made %d requests", n)
	}

	// Over quota: the dev tier allows two active clones per person (service:ci here).
	var made []string
	for range 2 {
		r := w.do("POST", "/api/v1/clones", tok, `{"source":"prod"}`)
		if r.status != http.StatusCreated {
			t.Fatalf("create: %d %s", r.status, r.body)
		}
		made = append(made, r.clone(t).ID)
	}
	w.do("POST", "/api/v1/clones", tok, `{"source":"prod"}`).mustProblem(t, 409, "quota", "limit")
	if n := w.active("service:ci"); n != 2 {
		t.Fatalf("%d active requests after the quota refusal, want 2", n)
	}
	// Another principal's key may not change them.
	stranger, _ := w.key("U001", apikey.ScopeClone)
	w.do("DELETE", "/api/v1/clones/"+made[0], stranger, "").mustProblem(t, 403, "forbidden", "Only the requester")
	w.do("PATCH", "/api/v1/clones/"+made[0], stranger, `{"extend_by":"1h"}`).mustProblem(t, 403, "forbidden", "Only the requester")
	// A Slack user's key acts under that user's own rights: U000 may not list everyone.
	admin, _ := w.key("U000", apikey.ScopeRead, apikey.ScopeAdmin)
	w.do("GET", "/api/v1/clones?all=true", admin, "").mustProblem(t, 403, "forbidden", "Only admins")
	adminTok, _ := w.key("UADMIN", apikey.ScopeRead, apikey.ScopeAdmin)
	if r := w.do("GET", "/api/v1/clones?all=true", adminTok, ""); r.status != 200 || strings.Count(string(r.body), `"id":"cl-`) != 2 {
		t.Fatalf("admin list: %d %s", r.status, r.body)
	}
}

// TestAPIRateLimit: a key over its rate is answered 429 with Retry-After; another key is not
// held back by it.
func TestAPIRateLimit(t *testing.T) {
	w := newAPIWorld(t, func(c *app.Config) { c.API.Rate, c.API.Burst = 0.01, 3 })
	tok, _ := w.key("service:ci", apikey.ScopeRead)
	other, _ := w.key("U000", apikey.ScopeRead)
	for i := range 3 {
		if r := w.do("GET", "/api/v1/clones", tok, ""); r.status != 200 {
			t.Fatalf("request %d: %d", i, r.status)
		}
	}
	r := w.do("GET", "/api/v1/clones", tok, "")
	r.mustProblem(t, 429, "rate-limited", "requests a second")
	if ra := r.header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Fatalf("Retry-After %q", ra)
	}
	if r := w.do("GET", "/api/v1/clones", other, ""); r.status != 200 {
		t.Fatalf("another key: %d", r.status)
	}
}

// TestAPIIdempotentCreateUnderConcurrentRetries: 20 retries of one create, at once, with one
// Idempotency-Key make one request, posted once in Slack; all 20 get its answer, and a later
// retry is replayed. The same key with another body is refused.
func TestAPIIdempotentCreateUnderConcurrentRetries(t *testing.T) {
	w := newAPIWorld(t)
	tok, key := w.key("service:ci", apikey.ScopeRead, apikey.ScopeClone)
	body := `{"source":"prod","tier":"staging","reason":"migration rehearsal"}`
	var wg sync.WaitGroup
	replies := make([]reply, 20)
	for i := range replies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if replies[i], err = send(w.http, w.base, "POST", "/api/v1/clones", tok, body, "Idempotency-Key", "deploy-381"); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	first := replies[0].clone(t)
	for i, r := range replies {
		if c := r.clone(t); r.status != http.StatusAccepted || c.ID != first.ID || c.Status != approvals.StatusPending {
			t.Fatalf("retry %d: %d %+v, want 202 %s", i, r.status, c, first.ID)
		}
	}
	if n := w.active("service:ci"); n != 1 {
		t.Fatalf("%d requests made, want 1", n)
	}
	requested := 0
	all, err := w.db.Store().ReadOutbox(w.ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range all {
		if e.Type == "requested" {
			requested++
		}
	}
	if requested != 1 {
		t.Fatalf("%d requested events in the audit outbox, want 1", requested)
	}
	later := w.do("POST", "/api/v1/clones", tok, " {\"reason\": \"migration rehearsal\", \"tier\":\"staging\", \"source\":\"prod\"}", "Idempotency-Key", "deploy-381")
	if later.status != http.StatusAccepted || later.clone(t).ID != first.ID || later.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("a later retry (the same request, spelled differently): %d %s %v", later.status, later.body, later.header)
	}
	w.do("POST", "/api/v1/clones", tok, `{"source":"prod","tier":"dev"}`, "Idempotency-Key", "deploy-381").mustProblem(t, 422, "idempotency-key-reused", "another request body")
	// Another key's Idempotency-Key space is its own.
	tok2, _ := w.key("service:ci", apikey.ScopeClone)
	if r := w.do("POST", "/api/v1/clones", tok2, body, "Idempotency-Key", "deploy-381"); r.status != http.StatusAccepted || r.clone(t).ID == first.ID {
		t.Fatalf("another key with the same Idempotency-Key: %d %s", r.status, r.body)
	}
	w.until("the cards are posted", func() bool { return w.noticesLeft() == 0 })
	if cards := w.cards()[first.ID]; len(cards) != 1 {
		t.Fatalf("%s has %d cards, want 1", first.ID, len(cards))
	}
	if r, _ := w.db.Store().Get(w.ctx, first.ID); r.Via != key.Actor() {
		t.Fatalf("made via %q", r.Via)
	}
}

// TestAPIIdempotentAttemptTakenOver: the first attempt's process made the request and died
// before it recorded the answer; after its lease, a retry is answered with that request, and
// nothing else is made (not even refused for the quota the first one used).
func TestAPIIdempotentAttemptTakenOver(t *testing.T) {
	w := newAPIWorld(t)
	tok, key := w.key("service:ci", apikey.ScopeClone)
	body := `{"source":"prod","reason":"nightly"}`
	// The fingerprint of body, as the API records it, from an attempt of another run.
	probe := w.do("POST", "/api/v1/clones", tok, body, "Idempotency-Key", "run-1").clone(t)
	_, a, err := w.db.Keys().Claim(w.ctx, key.ID, "run-1", apikey.Attempt{Owner: "probe"}, time.Now(), time.Minute, time.Hour)
	if err != nil || a.Fingerprint == "" {
		t.Fatal(a, err)
	}
	// run-2's first attempt: claimed an hour ago with a 30 s lease, request made, no answer recorded.
	id := approvals.NewID()
	if _, _, err := w.db.Keys().Claim(w.ctx, key.ID, "run-2", apikey.Attempt{Fingerprint: a.Fingerprint, RequestID: id, Owner: "dead"},
		time.Now().Add(-time.Hour), 30*time.Second, 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := w.a.Service.RequestClone(w.ctx, handlers.Actor{User: "service:ci", Via: key.Actor()},
		handlers.CloneInput{ID: id, Source: "prod", When: handlers.When{Latest: true}, Reason: "nightly"}); err != nil {
		t.Fatal(err)
	}
	r := w.do("POST", "/api/v1/clones", tok, body, "Idempotency-Key", "run-2")
	if got := r.clone(t); r.status != http.StatusCreated || got.ID != id {
		t.Fatalf("the retry: %d %+v, want 201 %s", r.status, got, id)
	}
	if n := w.active("service:ci"); n != 2 {
		t.Fatalf("%d requests (the probe %s and %s), want 2", n, probe.ID, id)
	}
	if again := w.do("POST", "/api/v1/clones", tok, body, "Idempotency-Key", "run-2"); again.header.Get("Idempotent-Replayed") != "true" || again.clone(t).ID != id {
		t.Fatalf("the next retry was not replayed: %d %s", again.status, again.body)
	}
}

// TestAPIApprovalStaysInSlack: a request that needs approval answers 202 pending and posts
// its card in Slack; a long poll waits while a lead approves it in Slack, and then answers
// with the ready clone.
func TestAPIApprovalStaysInSlack(t *testing.T) {
	w := newAPIWorld(t)
	tok, key := w.key("service:ci", apikey.ScopeRead, apikey.ScopeClone)
	r := w.do("POST", "/api/v1/clones", tok, `{"source":"prod","tier":"staging","reason":"migration rehearsal"}`)
	made := r.clone(t)
	if r.status != http.StatusAccepted || made.Status != approvals.StatusPending {
		t.Fatalf("create: %d %+v", r.status, made)
	}
	var card *approvals.Request
	w.until("the card is posted in Slack", func() bool {
		got, err := w.db.Store().Get(w.ctx, made.ID)
		card = got
		return err == nil && got.MessageTS != "" && len(w.cards()[made.ID]) == 1
	})
	if blocks := string(w.cards()[made.ID][0].Blocks); !strings.Contains(blocks, `"action_id":"approve"`) || !strings.Contains(blocks, "service:ci") {
		t.Fatalf("the card: %s", blocks)
	}

	waited := make(chan reply, 1)
	go func() {
		r, err := send(w.http, w.base, "GET", "/api/v1/clones/"+made.ID+"?wait=60s", tok, "")
		if err != nil {
			t.Error(err)
		}
		waited <- r
	}()
	w.a.Bot.Interaction(w.ctx, w.fake.BlockAction("ULEAD", "CREQ", card.MessageTS, render.ActionApprove, made.ID))
	var got reply
	select {
	case got = <-waited:
	case <-w.ctx.Done():
		t.Fatal("the long poll never answered")
	}
	ready := got.clone(t)
	if ready.Status != approvals.StatusReady || ready.Clone == nil || ready.Clone.CredentialRef == "" {
		t.Fatalf("the long poll answered %+v", ready)
	}
	var votes []string
	for _, e := range w.outbox(made.ID) {
		votes = append(votes, e.Type+" by "+e.Actor)
	}
	if !slices.Contains(votes, "requested by api:"+key.ID) || !slices.Contains(votes, "approved by ULEAD") {
		t.Fatalf("audit outbox %v", votes)
	}
	w.until("the ready message is sent", func() bool { return w.noticesLeft() == 0 })
	for _, m := range w.fake.Messages() {
		apiLeaks.Text(m.Text + string(m.Blocks))
	}
}

// TestAPILongPollWaitsWithBackoff: a long poll on a request that stays pending answers when
// its wait is up, having read the store with a backoff (on the injected clock: no real time).
func TestAPILongPollWaitsWithBackoff(t *testing.T) {
	w := &apiWorld{world: newWorld(t, 1), http: &http.Client{Timeout: 30 * time.Second}}
	clock := fakes.NewClock(testenv.Now())
	w.options = func(o *app.Options) { o.Clock, o.Logger = clock, apiLeaks.Logger() }
	apiLeaks.LogOnFailure(t)
	w.a = w.replica("api-clock")
	srv := httptest.NewServer(w.a.API)
	t.Cleanup(srv.Close)
	w.base = srv.URL
	tok, _ := w.key("service:ci", apikey.ScopeRead, apikey.ScopeClone)
	made := w.do("POST", "/api/v1/clones", tok, `{"source":"prod","tier":"staging"}`).clone(t)
	before := len(clock.Waits())
	got := w.do("GET", "/api/v1/clones/"+made.ID+"?wait=60s", tok, "").clone(t)
	if got.Status != approvals.StatusPending {
		t.Fatalf("after the wait: %+v", got)
	}
	waits := clock.Waits()[before:]
	var total time.Duration
	for i, d := range waits {
		total += d
		if d <= 0 || i > 0 && d < waits[i-1] && i != len(waits)-1 {
			t.Fatalf("waits %v: not a backoff", waits)
		}
	}
	if total != 60*time.Second || len(waits) > 70 || waits[len(waits)-2] != time.Second {
		t.Fatalf("%d waits of %v in all: %v", len(waits), total, waits)
	}
	t.Logf("60s waited in %d reads of the store", len(waits)+1)
}
