package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clonebot/clonebot/apikey"
	"github.com/clonebot/clonebot/internal/testenv"
	"github.com/clonebot/clonebot/redisstore"
)

// TestAPIKeyCreateListRevoke runs the admin's commands on real Redis: the token is printed
// once, by create, and works against the stored record; list never shows it; revoke stops it.
func TestAPIKeyCreateListRevoke(t *testing.T) {
	ctx := context.Background()
	c, prefix := testenv.Redis(t)
	dir := t.TempDir()
	policy, err := os.ReadFile("../../deploy/policy.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "policy.yaml"), policy, 0o600)
	configPath := filepath.Join(dir, "clonebot.yaml")
	os.WriteFile(configPath, []byte(fmt.Sprintf("policy: policy.yaml\nredis: {url: %q, prefix: %q}\n", testenv.RedisURL(t), prefix)), 0o600)
	cmd := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(ctx, append([]string{"apikey", args[0], "-config", configPath}, args[1:]...), &out, &out)
		return out.String(), err
	}

	out, err := cmd("create", "-name", "nightly tests", "-principal", "service:nightly-tests", "-scopes", "clone,read", "-expires", "90d")
	if err != nil {
		t.Fatalf("create: %v\n%s", err, out)
	}
	var token string
	for _, f := range strings.Fields(out) {
		if strings.HasPrefix(f, "cbk_") {
			token = f
		}
	}
	id, err := apikey.ParseToken(token)
	if err != nil || strings.Count(out, token) != 1 || !strings.Contains(out, "scopes read,clone") {
		t.Fatalf("create printed %q (token %q: %v)", out, token, err)
	}
	keys := redisstore.NewKeys(c, prefix)
	k, err := keys.Get(ctx, id)
	if err != nil || k.Check(token, time.Now()) != nil || k.Principal != "service:nightly-tests" || k.Owner != "service:nightly-tests" ||
		time.Until(k.ExpiresAt) < 89*24*time.Hour || k.CreatedBy == "" {
		t.Fatalf("stored %+v, %v", k, err)
	}

	out, err = cmd("list")
	_, secret, _ := strings.Cut(strings.TrimPrefix(token, "cbk_"), "_")
	if err != nil || !strings.Contains(out, id) || !strings.Contains(out, "nightly tests") || !strings.Contains(out, "active") || strings.Contains(out, secret) {
		t.Fatalf("list: %v\n%s", err, out)
	}
	if out, err = cmd("revoke", id); err != nil || !strings.Contains(out, "revoked") {
		t.Fatalf("revoke: %v\n%s", err, out)
	}
	if k, _ := keys.Get(ctx, id); k.Check(token, time.Now()) == nil {
		t.Fatal("the revoked key still checks")
	}
	if out, _ = cmd("list"); !strings.Contains(out, "revoked") {
		t.Fatalf("list after revoke:\n%s", out)
	}

	// Bad input is refused, and nothing is made.
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown service", []string{"create", "-name", "x", "-principal", "service:nightly", "-scopes", "read"}, "migration-rehearsal, nightly-tests"},
		{"not a principal", []string{"create", "-name", "x", "-principal", "dana", "-scopes", "read"}, "neither a Slack user ID"},
		{"bad scope", []string{"create", "-name", "x", "-principal", "U1", "-scopes", "write"}, `"write" is not a scope`},
		{"no scopes", []string{"create", "-name", "x", "-principal", "U1"}, "-scopes is required"},
		{"no name", []string{"create", "-principal", "U1", "-scopes", "read"}, "needs a name"},
		{"bad expiry", []string{"create", "-name", "x", "-principal", "U1", "-scopes", "read", "-expires", "soon"}, "neither a duration"},
		{"past expiry", []string{"create", "-name", "x", "-principal", "U1", "-scopes", "read", "-expires", "2001-01-01"}, "in the future"},
		{"revoke of no key", []string{"revoke", "zzzzzzzzzz"}, "no API key zzzzzzzzzz"},
		{"revoke of no id", []string{"revoke", "nightly"}, "usage"},
		{"unknown command", []string{"rotate"}, "usage"},
	}
	for _, tt := range tests {
		if out, err := cmd(tt.args...); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v\n%s", tt.name, err, out)
		}
	}
	if ks, err := keys.List(ctx); err != nil || len(ks) != 1 {
		t.Fatalf("%d keys after the refusals (%v), want 1", len(ks), err)
	}
}
