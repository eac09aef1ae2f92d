// Package leakcheck records everything a package's code writes to logs and error strings
// during its tests, together with every secret it generated, and reports any secret that
// appears in that text. Tests use it to prove that no password ever reaches a log or an error.
package leakcheck

import (
	"fmt"
	"strings"
	"sync"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Recorder collects text and secrets. It is safe for concurrent use.
type Recorder struct {
	mu      sync.Mutex
	text    []string
	secrets []string
}

// New returns an empty Recorder.
func New() *Recorder { return &Recorder{} }

// Logger returns a debug-level JSON logger whose every line is recorded.
func (r *Recorder) Logger() *zap.Logger {
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	return zap.New(zapcore.NewCore(enc, zapcore.AddSync(writer{r}), zapcore.DebugLevel))
}

type writer struct{ r *Recorder }

func (w writer) Write(p []byte) (int, error) {
	w.r.Text(string(p))
	return len(p), nil
}

// Secret remembers a generated secret value to look for.
func (r *Recorder) Secret(s string) {
	if s == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.secrets = append(r.secrets, s)
}

// Text records a piece of output (an error string, a message sent somewhere).
func (r *Recorder) Text(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.text = append(r.text, s)
}

// Err records err's message, if err is not nil, and returns err unchanged.
func (r *Recorder) Err(err error) error {
	if err != nil {
		r.Text(err.Error())
	}
	return err
}

// Counts returns how many secrets and pieces of text were recorded, so a test can show it
// looked at something.
func (r *Recorder) Counts() (secrets, texts int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.secrets), len(r.text)
}

// Leaks returns the recorded texts that contain a recorded secret, with the secret itself
// replaced by [LEAKED], so reporting a leak does not leak it again.
func (r *Recorder) Leaks() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, t := range r.text {
		if leaked := r.redact(t); leaked != t {
			out = append(out, leaked)
		}
	}
	return out
}

// redact replaces every recorded secret in t. The caller holds r.mu.
func (r *Recorder) redact(t string) string {
	for _, s := range r.secrets {
		t = strings.ReplaceAll(t, s, "[LEAKED]")
	}
	return t
}

// TB is the part of testing.TB that LogOnFailure uses.
type TB interface {
	Cleanup(func())
	Failed() bool
	Logf(format string, args ...any)
}

// LogOnFailure makes t, if it fails, print everything recorded from now until its end (log
// lines, errors, output), with any recorded secret replaced by [LEAKED]: what is needed to
// understand the failure, and never a secret.
func (r *Recorder) LogOnFailure(t TB) {
	r.mu.Lock()
	from := len(r.text)
	r.mu.Unlock()
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		r.mu.Lock()
		lines := make([]string, 0, len(r.text)-from)
		for _, s := range r.text[from:] {
			lines = append(lines, strings.TrimRight(r.redact(s), "\n"))
		}
		r.mu.Unlock()
		t.Logf("recorded while the test ran (%d entries, secrets redacted):\n%s", len(lines), strings.Join(lines, "\n"))
	})
}

// Check returns an error listing the leaks, or an error if nothing was recorded at all (a
// check that saw no secrets or no text proves nothing). Use it with testenv.Main.
func (r *Recorder) Check() error {
	if leaks := r.Leaks(); len(leaks) > 0 {
		return fmt.Errorf("a secret reached a log line or an error:\n%s", strings.Join(leaks, "\n"))
	}
	if s, t := r.Counts(); s == 0 || t == 0 {
		return fmt.Errorf("leak check recorded %d secrets and %d texts: nothing was checked", s, t)
	}
	return nil
}
