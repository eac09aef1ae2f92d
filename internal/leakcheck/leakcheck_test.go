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
