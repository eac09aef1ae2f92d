package main

import (
	"bytes"
	"context"
	"runtime/debug"
	"strings"
	"testing"
)

func TestBuildVersion(t *testing.T) {
	info := func(main string, settings ...string) func() (*debug.BuildInfo, bool) {
		return func() (*debug.BuildInfo, bool) {
			bi := &debug.BuildInfo{Main: debug.Module{Version: main}}
			for i := 0; i+1 < len(settings); i += 2 {
				bi.Settings = append(bi.Settings, debug.BuildSetting{Key: settings[i], Value: settings[i+1]})
			}
			return bi, true
		}
	}
	const rev = "0123456789abcdef0123456789abcdef01234567"
	tests := []struct {
		name    string
		stamped string
		info    func() (*debug.BuildInfo, bool)
		want    string
	}{
		{"stamped by -ldflags", "0.1.0", info("v9.9.9"), "0.1.0"},
		{"go install of a release", "", info("v0.2.0"), "v0.2.0"},
		{"a checkout", "", info("(devel)", "vcs.revision", rev, "vcs.modified", "false"), "devel+0123456789ab"},
		{"a checkout with changes", "", info("(devel)", "vcs.revision", rev, "vcs.modified", "true"), "devel+0123456789ab-dirty"},
		{"no VCS information", "", info("(devel)"), "devel"},
		{"no build information", "", func() (*debug.BuildInfo, bool) { return nil, false }, "devel"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := buildVersion(tt.stamped, tt.info); got != tt.want {
				t.Errorf("buildVersion = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestVersionCommand(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"version"}, &out, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "clonebot ") || !strings.Contains(out.String(), "/") {
		t.Errorf("version printed %q", out.String())
	}
}
