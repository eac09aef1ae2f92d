package main

import (
	"bytes"
	"context"
	"errors"
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

func TestUsage(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"frobnicate"}, &out, &out); !errors.Is(err, errUsage) {
		t.Fatalf("err = %v, want usage", err)
	}
}
