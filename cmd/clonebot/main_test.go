package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPolicyValidate(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"policy", "validate", "../../deploy/policy.example.yaml"}, &out, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "ok") {
		t.Fatalf("output %q", out.String())
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("default_tier: dev\npending_expiry: 1h\nsources:\n  prod: {backend: gcp, strategy: restore, backups: /b}\n"), 0o600)
	err := run(context.Background(), []string{"policy", "validate", bad}, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "sources.prod.backend") || !strings.Contains(err.Error(), "line 4") {
		t.Fatalf("err = %v, want sources.prod.backend at line 4", err)
	}
}

// TestPolicyValidateRules checks the masking rules with the policy, given by -rules or named
// by a config, as serve and agent check them at start (issue 13, item 2).
func TestPolicyValidateRules(t *testing.T) {
	dir := t.TempDir()
	example, _ := os.ReadFile("../../deploy/masking.example.yaml")
	policy, _ := os.ReadFile("../../deploy/policy.example.yaml")
	os.WriteFile(filepath.Join(dir, "policy.yaml"), policy, 0o600)
	os.WriteFile(filepath.Join(dir, "clonebot.yaml"), []byte("policy: policy.yaml\nmasking: {rules: masking.yaml}\n"+
		"local: {admin_url: postgres://a@127.0.0.1/postgres, host: h, port: 5432, secrets_dir: /s, backups: \"/b/{source}/{date}/\", sources: {prod: {strategy: restore}}}\n"), 0o600)
	rules := func(content string) {
		os.WriteFile(filepath.Join(dir, "masking.yaml"), []byte(content), 0o600)
	}
	tests := []struct {
		name  string
		args  []string
		rules string
		want  string // on stdout, or in the error
		ok    bool
	}{
		{"with -rules", []string{"DIR/policy.yaml", "-rules", "DIR/masking.yaml"}, string(example),
			"DIR/masking.yaml: ok — levels: full, none, partial; every masking level the tiers use is defined", true},
		{"-rules first", []string{"-rules", "DIR/masking.yaml", "DIR/policy.yaml"}, string(example), "DIR/policy.yaml: ok", true},
		{"a config", []string{"-config", "DIR/clonebot.yaml"}, string(example), "DIR/masking.yaml: ok — levels: full, none, partial", true},
		{"bad rules", []string{"DIR/policy.yaml", "-rules", "DIR/masking.yaml"}, strings.Replace(string(example), "{strategy: fake-ssn}", "{strategy: fake-sn}", 1),
			`masking rules DIR/masking.yaml: levels.full.public.users.ssn.strategy (line 39): unknown strategy "fake-sn" (did you mean fake-ssn?)`, false},
		{"bad rules named by a config", []string{"-config", "DIR/clonebot.yaml"}, "levels:\n  full:\n    users: {email: {strategy: token, lenght: 8}}\n",
			`masking rules DIR/masking.yaml: levels.full.users.email.lenght (line 3): unknown key "lenght" (did you mean length?)`, false},
		{"a level the policy uses is missing", []string{"DIR/policy.yaml", "-rules", "DIR/masking.yaml"}, "levels:\n  full: {}\n",
			"policy DIR/policy.yaml: tiers.staging.masking (line 49): masking level partial has no rules: DIR/masking.yaml defines full", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rules(tt.rules)
			args := []string{"policy", "validate"}
			for _, a := range tt.args {
				args = append(args, strings.ReplaceAll(a, "DIR", dir))
			}
			want := strings.ReplaceAll(tt.want, "DIR", dir)
			var out bytes.Buffer
			err := run(context.Background(), args, &out, &out)
			switch {
			case tt.ok && (err != nil || !strings.Contains(out.String(), want)):
				t.Errorf("err = %v, output:\n%s\nwant it to contain %q", err, out.String(), want)
			case !tt.ok && (err == nil || !strings.HasPrefix(err.Error(), want)):
				t.Errorf("err = %v, want %q", err, want)
			}
		})
	}
}

// TestFirstContact runs clonebot's command lines as main does and checks the exit status and
// what goes to stdout and stderr (issue 14, item 4).
func TestFirstContact(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		code       int
		stdout     []string // each must appear
		stderr     []string // each must appear; nil: stderr must be empty
		stderrOnly string   // stderr must be exactly this
	}{
		{name: "no arguments: the usage, once, and nothing else", code: 2, stderrOnly: usage},
		{name: "help", args: []string{"help"}, code: 0, stdout: []string{"clonebot serve -config clonebot.yaml"}},
		{name: "-h", args: []string{"-h"}, code: 0, stdout: []string{"clonebot version"}},
		{name: "unknown command", args: []string{"frobnicate"}, code: 2,
			stderr: []string{"usage:\n  clonebot serve", "clonebot: unknown command \"frobnicate\"\n"}},
		{name: "serve -h", args: []string{"serve", "-h"}, code: 0,
			stdout: []string{"usage: clonebot serve [-config clonebot.yaml] [-name NAME]", "flags:", "-config string", "config file (default \"clonebot.yaml\")"}},
		{name: "agent -h", args: []string{"agent", "-h"}, code: 0, stdout: []string{"usage: clonebot agent", "-name string"}},
		{name: "demo -h", args: []string{"demo", "--help"}, code: 0, stdout: []string{"usage: clonebot demo", "-users int", "(default 100000)"}},
		{name: "audit verify -h", args: []string{"audit", "verify", "-h"}, code: 0, stdout: []string{"clonebot audit verify", "-anchor"}},
		{name: "report -h", args: []string{"report", "-h"}, code: 0, stdout: []string{"usage: clonebot report", "-user string"}},
		{name: "policy -h", args: []string{"policy", "-h"}, code: 0, stdout: []string{"usage: clonebot policy validate <policy.yaml>"}},
		{name: "policy without a file", args: []string{"policy", "validate"}, code: 2, stderrOnly: policyUsage},
		{name: "policy validate -h", args: []string{"policy", "validate", "-h"}, code: 0,
			stdout: []string{"usage: clonebot policy validate <policy.yaml> [-rules masking.yaml]", "-rules string", "-config string"}},
		{name: "policy validate with a config and a file", args: []string{"policy", "validate", "-config", "c.yaml", "p.yaml"}, code: 2,
			stderr: []string{"-rules string", "clonebot: policy validate: -config names the policy and the masking rules; give neither a policy file nor -rules with it\n"}},
		{name: "a flag serve does not have", args: []string{"serve", "-bogus"}, code: 2,
			stderr: []string{"usage: clonebot serve", "-config string", "clonebot: serve: flag provided but not defined: -bogus\n"}},
		{name: "an argument serve does not take", args: []string{"serve", "now"}, code: 2,
			stderr: []string{"clonebot: serve: unexpected argument \"now\"\n"}},
		{name: "a config that is not there", args: []string{"serve", "-config", "/nonexistent/clonebot.yaml"}, code: 1,
			stderr: []string{"clonebot: read config: open /nonexistent/clonebot.yaml: no such file or directory\n"}},
		{name: "version", args: []string{"version"}, code: 0, stdout: []string{"clonebot "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := cli(context.Background(), tt.args, &stdout, &stderr)
			if code != tt.code {
				t.Errorf("exit %d, want %d", code, tt.code)
			}
			for _, want := range tt.stdout {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("stdout does not contain %q:\n%s", want, stdout.String())
				}
			}
			if tt.stdout == nil && stdout.Len() > 0 {
				t.Errorf("stdout: %q, want nothing", stdout.String())
			}
			switch {
			case tt.stderrOnly != "":
				if stderr.String() != tt.stderrOnly {
					t.Errorf("stderr:\n%s\nwant exactly:\n%s", stderr.String(), tt.stderrOnly)
				}
			case tt.stderr == nil:
				if stderr.Len() > 0 {
					t.Errorf("stderr: %q, want nothing", stderr.String())
				}
			}
			for _, want := range tt.stderr {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("stderr does not contain %q:\n%s", want, stderr.String())
				}
			}
			if strings.Contains(stderr.String(), "clonebot: usage") || strings.Contains(stdout.String()+stderr.String(), "flag: help requested") {
				t.Errorf("a stray line: %s", stderr.String())
			}
		})
	}
}
