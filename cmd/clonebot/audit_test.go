package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/clonebot/clonebot/app"
	"github.com/clonebot/clonebot/audit"
	"github.com/clonebot/clonebot/audit/pgstore"
	"github.com/clonebot/clonebot/internal/testenv"
)

// auditDB makes an audit log with one unmasked debug clone of alice's, destroyed at expiry a
// day ago, and one dev clone of bob's, alive; it points CLONEBOT_AUDIT_DATABASE_URL at it.
func auditDB(t *testing.T) string {
	t.Helper()
	url := testenv.Postgres(t)
	t.Setenv(envAuditURL, url)
	s, err := pgstore.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := testenv.Now()
	var events []audit.Event
	add := func(action, req, actor string, at time.Time, kv ...string) {
		d := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			d[kv[i]] = kv[i+1]
		}
		tier := map[string]string{"cl-debug1": "debug", "cl-dev001": "dev"}[req]
		events = append(events, audit.Event{ID: fmt.Sprintf("%d-0", len(events)+1), Action: action, RequestID: req, Actor: actor,
			ActorName: map[string]string{"UALICE": "alice", "UBOB": "bob", "USEC": "sec"}[actor], At: at, Tier: tier, Source: "prod", Details: d})
	}
	ms := func(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }
	t1 := now.Add(-26 * time.Hour)
	add(audit.ActionRequested, "cl-debug1", "UALICE", t1, "mode", "dual", "team", "payments", "reason", "INC-7")
	add(audit.ActionVoted, "cl-debug1", "UBOB", t1.Add(time.Minute), "decision", "approve", "slot_name", "oncall")
	add(audit.ActionVoted, "cl-debug1", "USEC", t1.Add(2*time.Minute), "decision", "approve", "slot_name", "security")
	add(audit.ActionApproved, "cl-debug1", "USEC", t1.Add(2*time.Minute))
	add(audit.ActionProvisioning, "cl-debug1", audit.SystemActor, t1.Add(3*time.Minute))
	add(audit.ActionReady, "cl-debug1", audit.SystemActor, t1.Add(10*time.Minute), "expires_at_ms", ms(t1.Add(130*time.Minute)))
	add(audit.ActionDestroying, "cl-debug1", audit.SystemActor, t1.Add(130*time.Minute+time.Second), "note", "expired")
	add(audit.ActionDestroyed, "cl-debug1", audit.SystemActor, t1.Add(130*time.Minute+4*time.Second))
	t2 := now.Add(-time.Hour)
	add(audit.ActionRequested, "cl-dev001", "UBOB", t2, "mode", "auto", "team", "web")
	add(audit.ActionApproved, "cl-dev001", audit.SystemActor, t2)
	add(audit.ActionProvisioning, "cl-dev001", audit.SystemActor, t2.Add(time.Minute))
	add(audit.ActionReady, "cl-dev001", audit.SystemActor, t2.Add(5*time.Minute), "expires_at_ms", ms(t2.Add(4*time.Hour)))
	if _, err := s.Append(context.Background(), "", events); err != nil {
		t.Fatal(err)
	}
	return url
}

func clonebot(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, &out, &errOut)
	if err != nil {
		t.Logf("clonebot %s: %v; stderr: %s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String(), err
}

// TestAuditCommands runs each audit command on a small log and checks what an auditor reads.
func TestAuditCommands(t *testing.T) {
	url := auditDB(t)
	policy := "-policy=../../deploy/policy.example.yaml"

	head, err := clonebot(t, "audit", "anchor")
	if err != nil || !strings.HasPrefix(head, "12:") {
		t.Fatalf("anchor: %q, %v", head, err)
	}
	out, err := clonebot(t, "audit", "verify", "--anchor", strings.TrimSpace(head))
	if err != nil || !strings.Contains(out, "verified: 12 rows") || !strings.Contains(out, "1 anchor(s) checked") {
		t.Fatalf("verify: %q, %v", out, err)
	}
	out, err = clonebot(t, "audit", "export", "--since", "2d", "--action", "destroyed", "--format", "csv")
	if recs, cerr := csv.NewReader(strings.NewReader(out)).ReadAll(); err != nil || cerr != nil || len(recs) != 2 || recs[1][3] != "cl-debug1" {
		t.Fatalf("export: %q, %v", out, err)
	}
	checks := []struct {
		args []string
		want []string
	}{
		{[]string{"audit", "unmasked", policy}, []string{"alice  cl-debug1  prod    debug  none", "2h00m", "1 unmasked clone(s); total per person: alice 2h00m"}},
		{[]string{"audit", "approvals", policy}, []string{"bob       approve   cl-debug1", "clonebot  auto      cl-dev001", "3 decision(s)"}},
		{[]string{"audit", "destroyed"}, []string{"cl-debug1  alice  debug  prod    clonebot  expired", "1 clone(s) destroyed"}},
		{[]string{"audit", "alive"}, []string{"cl-dev001  bob    web   dev   prod    ready", "1 clone(s) alive"}},
		{[]string{"audit", "breakglass", policy}, []string{"0 break-glass clone(s)"}},
		{[]string{"report", "7d", policy}, []string{"every request", "target 0): 0", "Revocation latency (expiry → credentials revoked): p50 4.0s, p99 4.0s (1 clone)",
			"Time to access (request → ready): p50 5m, p95 10m (2 clones)", "Clones by user: alice 1, bob 1"}},
		{[]string{"report", "-user", "UBOB"}, []string{"your own requests", "Clones by user: bob 1", "Access duration (ready → credentials revoked): no clones in the window"}},
	}
	for _, c := range checks {
		out, err := clonebot(t, c.args...)
		if err != nil {
			t.Fatalf("%v: %v", c.args, err)
		}
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("clonebot %s: no %q in\n%s", strings.Join(c.args, " "), w, out)
			}
		}
	}

	// a row changed behind the program's back is named
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), "SET session_replication_role = replica; UPDATE audit_events SET actor = 'UMALLORY' WHERE seq = 3"); err != nil {
		t.Fatal(err)
	}
	out, err = clonebot(t, "audit", "verify")
	if !errors.Is(err, audit.ErrTampered) || !strings.Contains(out, "TAMPERED: seq 3 changed") {
		t.Fatalf("verify after tampering: %q, %v", out, err)
	}
}

func TestAuditCommandsRefuseBadInput(t *testing.T) {
	auditDB(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"audit"}, "usage"},
		{[]string{"audit", "frobnicate"}, "unknown audit command"},
		{[]string{"audit", "verify", "--anchor", "12"}, "seq:hash"},
		{[]string{"audit", "export", "--since", "90d", "--format", "xml"}, "csv or json"},
		{[]string{"audit", "export", "--since", "1d", "--until", "2d", "--format", "csv"}, "before --until"},
		{[]string{"audit", "export", "--since", "last tuesday", "--format", "csv"}, "is not a duration"},
		{[]string{"audit", "alive", "extra"}, "unexpected"},
		{[]string{"report", "forever"}, "report window"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			if _, err := clonebot(t, tt.args...); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
	for _, bad := range []string{"postgres://u:s3kr1t@127.0.0.1:1/x", "postgres://u:s3kr1t@127.0.0.1:1:2/x"} {
		t.Setenv(envAuditURL, bad)
		if _, err := clonebot(t, "audit", "alive"); err == nil || strings.Contains(err.Error(), "s3kr1t") {
			t.Fatalf("unreachable or malformed database: %v (must fail, without the password)", err)
		}
	}
	t.Setenv(envAuditURL, "")
	if _, err := clonebot(t, "audit", "alive"); err == nil || !strings.Contains(err.Error(), envAuditURL) {
		t.Fatalf("without a database: %v", err)
	}
}

// TestAuditConfig: the audit section and its environment variable reach the commands.
func TestAuditConfig(t *testing.T) {
	url := auditDB(t)
	t.Setenv(envAuditURL, "")
	dir := t.TempDir()
	policy, err := os.ReadFile("../../deploy/policy.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "policy.yaml"), policy, 0o600); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "clonebot.yaml")
	if err := os.WriteFile(config, []byte("policy: policy.yaml\naudit:\n  url: "+url+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := clonebot(t, "audit", "unmasked", "-config", config); err != nil || !strings.Contains(out, "cl-debug1") {
		t.Fatalf("with -config: %q, %v", out, err)
	}
	c, err := app.LoadConfig(config, func(k string) string { return map[string]string{envAuditURL: "postgres://elsewhere/audit"}[k] })
	if err != nil || c.Audit.URL != "postgres://elsewhere/audit" {
		t.Fatalf("environment does not override audit.url: %+v, %v", c.Audit, err)
	}
}
