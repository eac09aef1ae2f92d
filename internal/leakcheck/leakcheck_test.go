package leakcheck

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"go.uber.org/zap"
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

// fakeTB records what LogOnFailure logs.
type fakeTB struct {
	failed   bool
	cleanups []func()
	logged   []string
}

func (f *fakeTB) Cleanup(fn func()) { f.cleanups = append(f.cleanups, fn) }
func (f *fakeTB) Failed() bool      { return f.failed }
func (f *fakeTB) Logf(format string, args ...any) {
	f.logged = append(f.logged, fmt.Sprintf(format, args...))
}
func (f *fakeTB) end() {
	for _, fn := range f.cleanups {
		fn()
	}
}

func TestLogOnFailure(t *testing.T) {
	for _, failed := range []bool{false, true} {
		r := New()
		r.Secret("hunter2hunter2")
		r.Text("before the test")
		tb := &fakeTB{failed: failed}
		r.LogOnFailure(tb)
		r.Logger().Info("restore stalled", zap.String("why", "login refused"))
		r.Text("password hunter2hunter2 in an error")
		tb.end()
		switch {
		case !failed && len(tb.logged) != 0:
			t.Fatalf("a passing test logged %q", tb.logged)
		case failed && len(tb.logged) != 1:
			t.Fatalf("a failing test logged %d times, want once", len(tb.logged))
		case failed:
			out := tb.logged[0]
			if !strings.Contains(out, "login refused") || !strings.Contains(out, "[LEAKED] in an error") ||
				strings.Contains(out, "hunter2hunter2") || strings.Contains(out, "before the test") {
				t.Fatalf("failure log:\n%s", out)
			}
		}
	}
}
