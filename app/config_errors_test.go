package app

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clonebot/clonebot/internal/golden"
)

// TestConfigErrorsGolden keeps every kind of config-file error as its author reads it in
// testdata/config_errors.golden (go test -update rewrites it): the key's path, its line, what
// is allowed, and never a Go type name (issue 14, item 4).
func TestConfigErrorsGolden(t *testing.T) {
	raw, err := os.ReadFile("../deploy/clonebot.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	example := string(raw)
	edit := func(old, new string) string {
		t.Helper()
		if !strings.Contains(example, old) {
			t.Fatalf("the example config has no %q", old)
		}
		return strings.Replace(example, old, new, 1)
	}
	tests := []struct{ name, give string }{
		{"an empty file", ""},
		{"only comments", "# clonebot config: to be written\n"},
		{"a typo in a section's key", edit("  url: redis://", "  urll: redis://")},
		{"a typo in a section", edit("\nslack:\n", "\nslak:\n")},
		{"a duration in words", edit("interval: 5s", "interval: five seconds")},
		{"a duration without a unit", edit("dedupe_ttl: 1h", "dedupe_ttl: 3600")},
		{"a number that is not one", edit("workers: 8", "workers: eight")},
		{"a yes for a boolean", edit("  prefix: \"clonebot:\"\n", "  prefix: \"clonebot:\"\n  cluster: maybe\n")},
		{"one value where a list goes", edit("\nlifecycle:\n", "\naws:\n  vpc_security_group_ids: sg-0abc\nlifecycle:\n")},
		{"a key given twice", edit("log_level: info\n", "log_level: info\nlog_level: debug\n")},
		{"misindented key", edit("  workers: 8", " workers: 8")},
		{"a tab", edit("  workers: 8", "\tworkers: 8")},
		{"a rule the values break", edit("interval: 5s", "interval: -5s")},
		{"a rule a section's values break", edit("  port: 5432\n", "  port: 70000\n")},
	}
	dir := t.TempDir()
	var out bytes.Buffer
	for i, tt := range tests {
		path := filepath.Join(dir, fmt.Sprintf("clonebot-%d.yaml", i))
		if err := os.WriteFile(path, []byte(tt.give), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := LoadConfig(path, func(string) string { return "" })
		if err == nil {
			t.Errorf("%s: loaded", tt.name)
			continue
		}
		msg := strings.ReplaceAll(err.Error(), dir+string(filepath.Separator), "")
		for _, goName := range []string{"app.", "transport.", "time.Duration", "not found in type", "!!", "construct", "EOF"} {
			if strings.Contains(msg, goName) {
				t.Errorf("%s: %q shows the decoder's words %q", tt.name, msg, goName)
			}
		}
		fmt.Fprintf(&out, "# %s\n%s\n\n", tt.name, msg)
	}
	golden.Check(t, "config_errors.golden", out.Bytes())
}
