package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/slack-go/slack"

	"github.com/clonebot/clonebot/approvals"
	"github.com/clonebot/clonebot/bot/slackfake"
	"github.com/clonebot/clonebot/internal/testenv"
	"github.com/clonebot/clonebot/redisstore"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestServe starts `clonebot serve` as an operator would (config file, environment), with
// the offline Slack in HTTP mode, real Redis and a private PostgreSQL for the local backend,
// sends a signed /clone, and follows the request until the lifecycle has made its clone and
// queued the restore.
func TestServe(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// step 1: the world: Slack, Redis, PostgreSQL, a backup file for yesterday.
	fake := slackfake.New()
	defer fake.Close()
	fake.AddUser(slack.User{ID: "U1", Name: "dev"})
	fake.AddUserGroup("S1", "developers", "U1")
	fake.AddChannel("C1", "clone-requests")
	srv, err := testenv.StartServerWith(ctx, testenv.ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	dir := t.TempDir()
	day := time.Now().UTC().AddDate(0, 0, -1).Format("2006-01-02")
	backup := filepath.Join(dir, "backups", "prod", day, "prod.dump")
	os.MkdirAll(filepath.Dir(backup), 0o755)
	os.WriteFile(backup, []byte("PGDMP not really"), 0o600)
	_, prefix := testenv.Redis(t)
	slackAddr, opsAddr := testenv.FreeAddr(t), testenv.FreeAddr(t)

	// step 2: the config file and the secrets in the environment.
	policy, _ := os.ReadFile("../../deploy/policy.example.yaml")
	os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte(strings.Replace(string(policy),
		"/var/lib/clonebot/backups/{source}/{date}/", filepath.Join(dir, "backups")+"/{source}/{date}/", 1)), 0o600)
	rules, _ := os.ReadFile("../../deploy/masking.example.yaml")
	os.WriteFile(filepath.Join(dir, "masking.yaml"), rules, 0o600)
	config := fmt.Sprintf(`policy: policy.yaml
masking: {rules: masking.yaml}
redis: {url: %q, prefix: %q}
metrics_addr: %q
slack: {mode: http, listen_addr: %q}
lifecycle: {interval: 50ms}
local:
  admin_url: %q
  host: 127.0.0.1
  port: %d
  secrets_dir: %q
  backups: %q
  sources: {prod: {strategy: restore}}
`, testenv.RedisURL(t), prefix, opsAddr, slackAddr, srv.URL, srv.Port, filepath.Join(dir, "secrets"),
		filepath.Join(dir, "backups")+"/{source}/{date}/")
	configPath := filepath.Join(dir, "clonebot.yaml")
	os.WriteFile(configPath, []byte(config), 0o600)
	const signingSecret = "test-signing-secret"
	t.Setenv("CLONEBOT_SLACK_API_URL", fake.APIURL())
	t.Setenv("CLONEBOT_SLACK_BOT_TOKEN", "xoxb-serve-test")
	t.Setenv("CLONEBOT_SLACK_SIGNING_SECRET", signingSecret)

	// step 3: serve, until ready.
	done := make(chan error, 1)
	serveCtx, stop := context.WithCancel(ctx)
	go func() { done <- run(serveCtx, []string{"serve", "-config", configPath}, os.Stdout, os.Stderr) }()
	waitHTTP(t, ctx, done, "http://"+opsAddr+"/readyz")

	// step 4: a signed /clone of yesterday's prod: the dev tier approves it at once.
	body := slackfake.CommandBody(fake.SlashCommand("U1", "C1", "prod "+day+` reason="smoke test"`))
	req, err := slackfake.SignedRequest(ctx, "http://"+slackAddr+"/slack/commands", signingSecret, time.Now(), body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/slack/commands answered %s", resp.Status)
	}
	if _, err := fake.WaitCalls(ctx, "chat.postMessage", 1); err != nil {
		t.Fatalf("no request card posted: %v", err)
	}

	// step 5: the lifecycle makes the clone on the local backend and queues the restore.
	opts, err := redis.ParseURL(testenv.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	store := redisstore.New(rdb, prefix)
	var r *approvals.Request
	for r == nil || r.Status != approvals.StatusRestoring {
		select {
		case <-ctx.Done():
			t.Fatalf("request never reached restoring: %+v", r)
		case err := <-done:
			t.Fatalf("serve stopped: %v", err)
		case <-time.After(50 * time.Millisecond): // waiting for the loop, not for a test to pass
		}
		list, err := store.ListUser(ctx, "U1")
		if err != nil {
			t.Fatal(err)
		}
		if len(list) == 1 {
			r = list[0]
		}
	}
	if r.Clone == nil || !strings.HasPrefix(r.Clone.CredentialRef, "file://") || r.Tier != "dev" {
		t.Fatalf("request %+v", r)
	}

	// step 6: a signal stops it cleanly.
	stop()
	if err := <-done; err != nil {
		t.Fatalf("serve returned %v after the signal", err)
	}
}

// waitHTTP waits until url answers 200, failing if serve stops first.
func waitHTTP(t *testing.T, ctx context.Context, done <-chan error, url string) {
	t.Helper()
	for {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s never answered 200", url)
		case err := <-done:
			t.Fatalf("serve stopped before it was ready: %v", err)
		case <-time.After(50 * time.Millisecond): // waiting for the server to start
		}
	}
}

// TestBadMaskingRulesStopStart starts `clonebot serve` and `clonebot agent` with masking rules
// that cannot work: each exits non-zero naming the file, the field and its line, having
// written nothing to Redis; the same config with good rules does write there (an agent makes
// its consumer group), so the check could fail (issue 13, item 2).
func TestBadMaskingRulesStopStart(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	dir := t.TempDir()
	example, err := os.ReadFile("../../deploy/masking.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	policy, _ := os.ReadFile("../../deploy/policy.example.yaml")
	os.WriteFile(filepath.Join(dir, "policy.yaml"), policy, 0o600)
	writeConfig := func(rules string) string {
		path := filepath.Join(dir, "clonebot.yaml")
		os.WriteFile(path, []byte(fmt.Sprintf(`policy: policy.yaml
masking: {rules: %s}
redis: {url: %q, prefix: %q}
metrics_addr: %q
agent: {metrics_addr: %q, block: 100ms}
local:
  admin_url: postgres://clonebot@127.0.0.1:1/postgres
  host: 127.0.0.1
  port: 5432
  secrets_dir: %q
  backups: %q
  sources: {prod: {strategy: restore}}
`, rules, testenv.RedisURL(t), prefix, testenv.FreeAddr(t), testenv.FreeAddr(t), filepath.Join(dir, "secrets"),
			filepath.Join(dir, "backups")+"/{source}/{date}/")), 0o600)
		return path
	}
	edit := func(old, new string) string {
		t.Helper()
		if !strings.Contains(string(example), old) {
			t.Fatalf("the example rules have no %q", old)
		}
		return strings.Replace(string(example), old, new, 1)
	}
	t.Setenv("CLONEBOT_MASKING_KEY", "a masking key of the test, long enough")
	keys := func() []string {
		t.Helper()
		got, err := rdb.Keys(context.Background(), prefix+"*").Result()
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	tests := []struct {
		name  string
		rules string // the rules file's content; "" for no file, "-" for no masking.rules in the config
		want  string // on stderr, after "clonebot: "
	}{
		{"an unknown strategy", edit("ssn: {strategy: fake-ssn}", "ssn: {strategy: scramble}"),
			`masking rules DIR/masking.yaml: levels.full.public.users.ssn.strategy (line 39): unknown strategy "scramble"`},
		{"a typo in a key", edit("    unclassified: refuse\n", "    unclasified: refuse\n"),
			`masking rules DIR/masking.yaml: levels.full.unclasified (line 31): unknown key "unclasified" (did you mean unclassified?)`},
		{"a syntax error", edit("      ssn: {strategy: fake-ssn}\n", "     ssn: {strategy: fake-ssn}\n"),
			"masking rules DIR/masking.yaml: line 39: not valid YAML"},
		{"a level a tier uses is missing", edit("  partial:\n", "  partly:\n"),
			"policy DIR/policy.yaml: tiers.staging.masking (line 49): masking level partial has no rules: DIR/masking.yaml defines full, none, partly"},
		{"no rules file", "", "read masking rules: open DIR/masking.yaml: no such file or directory"},
		{"no masking.rules in the config", "-", "policy DIR/policy.yaml: tiers.dev.masking (line 42): masking level full has no rules: the config names no masking rules file (masking.rules)"},
	}
	for _, tt := range tests {
		for _, role := range []string{"serve", "agent"} {
			t.Run(tt.name+"/"+role, func(t *testing.T) {
				os.Remove(filepath.Join(dir, "masking.yaml"))
				name := "masking.yaml"
				switch tt.rules {
				case "-":
					name = `""`
				case "":
				default:
					os.WriteFile(filepath.Join(dir, "masking.yaml"), []byte(tt.rules), 0o600)
				}
				var stdout, stderr bytes.Buffer
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				if code := cli(ctx, []string{role, "-config", writeConfig(name)}, &stdout, &stderr); code != 1 {
					t.Errorf("exit %d, want 1; stderr: %s", code, stderr.String())
				}
				if want := "clonebot: " + strings.ReplaceAll(tt.want, "DIR", dir); !strings.HasPrefix(stderr.String(), want) {
					t.Errorf("stderr:\n%s\nwant it to start with:\n%s", stderr.String(), want)
				}
				if k := keys(); len(k) > 0 {
					t.Errorf("%s wrote %v to Redis before it refused its masking rules", role, k)
				}
			})
		}
	}

	// The control: with the example rules, an agent starts and writes to Redis.
	os.WriteFile(filepath.Join(dir, "masking.yaml"), example, 0o600)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan int, 1)
	var stderr bytes.Buffer
	go func() {
		done <- cli(ctx, []string{"agent", "-config", writeConfig("masking.yaml")}, io.Discard, &stderr)
	}()
	for len(keys()) == 0 {
		select {
		case code := <-done:
			t.Fatalf("the agent with good rules stopped (exit %d): %s", code, stderr.String())
		case <-ctx.Done():
			t.Fatal("the agent with good rules wrote nothing to Redis")
		case <-time.After(20 * time.Millisecond): // waiting for the agent to start
		}
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("the agent with good rules exited %d: %s", code, stderr.String())
	}
}
