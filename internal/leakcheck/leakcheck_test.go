package leakcheck

import (
	"errors"
	"strings"
	"testing"
)

func TestLeaksFindsSecretInLogAndError(t *testing.T) {
	r := New()
	r.Secret("hunter2hunter2")
	r.Logger().Info("connecting")
	r.Logger().Info("dsn postgres://u:hunter2hunter2@h/db")
	_ = r.Err(errors.New("login with hunter2hunter2 refused"))
	_ = r.Err(errors.New("harmless"))
	leaks := r.Leaks()
	if len(leaks) != 2 {
		t.Fatalf("got %d leaks, want 2: %q", len(leaks), leaks)
	}
	for _, l := range leaks {
		if strings.Contains(l, "hunter2hunter2") {
			t.Fatalf("leak report repeats the secret: %q", l)
		}
	}
}

func TestCheck(t *testing.T) {
	r := New()
	if r.Check() == nil {
		t.Fatal("an empty recorder passed the check")
	}
	r.Secret("s3cr3t-value")
	r.Text("nothing to see")
	if err := r.Check(); err != nil {
		t.Fatal(err)
	}
	r.Text("oops s3cr3t-value")
	if err := r.Check(); err == nil || strings.Contains(err.Error(), "s3cr3t-value") {
		t.Fatalf("Check() = %v, want a leak report without the secret", err)
	}
}
