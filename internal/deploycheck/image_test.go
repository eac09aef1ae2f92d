package deploycheck

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestDockerfile: the image is built in stages from base images pinned by digest, for the
// platform buildx asks for, as a static binary stamped with its version, and runs as a
// non-root user; the build context leaves .git out.
func TestDockerfile(t *testing.T) {
	raw, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	dockerfile := string(raw)
	from := regexp.MustCompile(`(?m)^FROM\s+(--platform=\S+\s+)?(\S+)`).FindAllStringSubmatch(dockerfile, -1)
	if len(from) < 2 {
		t.Fatalf("%d stages, want a build stage and a runtime stage", len(from))
	}
	for _, f := range from {
		if !regexp.MustCompile(`^[a-z0-9./-]+:[A-Za-z0-9._-]+@sha256:[0-9a-f]{64}$`).MatchString(f[2]) {
			t.Errorf("base image %s is not pinned by tag and digest", f[2])
		}
	}
	for _, want := range []string{
		"CGO_ENABLED=0", "GOOS=$TARGETOS", "GOARCH=$TARGETARCH", "ARG TARGETOS TARGETARCH",
		"-X main.version=${VERSION}", "-trimpath", `ENTRYPOINT ["/clonebot"]`,
	} {
		if !strings.Contains(dockerfile, want) {
			t.Errorf("the Dockerfile lacks %s", want)
		}
	}
	user := regexp.MustCompile(`(?m)^USER\s+(\S+)`).FindAllStringSubmatch(dockerfile, -1)
	if len(user) == 0 || strings.HasPrefix(user[len(user)-1][1], "0") || strings.HasPrefix(user[len(user)-1][1], "root") {
		t.Errorf("the image runs as %v, want a non-root user", user)
	}
	version, err := os.ReadFile("../../cmd/clonebot/version.go")
	if err != nil || !strings.Contains(string(version), "\nvar version string\n") {
		t.Errorf("cmd/clonebot has no `var version string` for -X main.version (%v)", err)
	}
	ignore, err := os.ReadFile("../../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(strings.Fields(string(ignore)), ".git") {
		t.Error(".dockerignore does not leave .git out of the build context")
	}
}
