package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// version is the release this binary was built as, stamped at build time (the Dockerfile
// does it from its VERSION argument):
//
//	go build -ldflags "-X main.version=0.1.0" ./cmd/clonebot
//
// It is the one variable the linker sets; nothing else writes it.
var version string

// runVersion implements `clonebot version`.
func runVersion(stdout io.Writer) error {
	_, err := fmt.Fprintf(stdout, "clonebot %s (%s, %s/%s)\n", buildVersion(version, debug.ReadBuildInfo), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return err
}

// buildVersion is stamped when set, else what Go recorded: the module version of a `go
// install`ed release, or the VCS revision ("devel+<12 hex>", "-dirty" with local changes).
func buildVersion(stamped string, readBuildInfo func() (*debug.BuildInfo, bool)) string {
	if stamped != "" {
		return stamped
	}
	info, ok := readBuildInfo()
	if !ok {
		return "devel"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var revision, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if len(revision) < 12 {
		return "devel"
	}
	v := "devel+" + revision[:12]
	if modified == "true" {
		v += "-dirty"
	}
	return v
}
