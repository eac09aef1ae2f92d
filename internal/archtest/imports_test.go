package archtest

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/clonebot/clonebot/"

// Layers, innermost first. A package may import packages of its own layer or an inner one,
// never an outer one: the domain knows nothing of the use cases, the use cases nothing of the
// adapters, and only the wiring knows everything.
var layers = []struct {
	name     string
	packages []string // path prefixes under the module
}{
	{"domain", []string{"approvals", "apikey", "jobs", "provisioner$", "agent/mask", "agent/pgdump", "internal/keepalive", "internal/clock", "internal/yamlerr"}},
	{"use case", []string{"handlers", "lifecycle", "agent$", "audit$"}},
	{"adapter", []string{"redisstore", "api", "bot", "provisioner/aws", "provisioner/local", "audit/pgstore", "deploy"}},
	{"wiring", []string{"app", "cmd/", "internal/demo", "bench/", "internal/testenv", "internal/leakcheck", "internal/fakes", "internal/golden", "internal/archtest", "internal/deploycheck"}},
}

// libraries may be imported only by the packages listed (prefixes), besides the wiring; Redis
// is kept out of the wiring too, but for cmd and the benches, which are programs of their own.
var libraries = map[string][]string{
	"github.com/redis/go-redis":    {"redisstore", "internal/testenv", "cmd/", "bench/"},
	"github.com/slack-go/slack":    {"bot"},
	"github.com/aws/aws-sdk-go-v2": {"provisioner/aws", "agent$"}, // the agent reads backups from S3
	"github.com/jackc/pgx":         {"agent$", "provisioner/local", "audit/pgstore"},
}

// forbidden are imports named by the design on top of the layers: "" forbids every import
// from this repository, "!p" every one but p's.
var forbidden = map[string][]string{
	"approvals":        {"!internal/yamlerr"}, // imports nothing from this repository but the YAML reader
	"internal/yamlerr": {""},                  // imports nothing from this repository
	"lifecycle":        {"agent", "handlers", "bot", "redisstore"},
	"handlers":         {"lifecycle", "agent", "bot", "redisstore"},
	"agent":            {"lifecycle", "handlers", "bot", "redisstore"},
	"audit$":           {"lifecycle", "handlers", "bot", "redisstore"},
}

type pkg struct {
	ImportPath string
	Imports    []string
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", module+"...")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("go list: %v\n%s", err, errb.String())
	}
	var pkgs []pkg
	for dec := json.NewDecoder(&out); dec.More(); {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 20 {
		t.Fatalf("go list found %d packages: the check would prove nothing", len(pkgs))
	}
	return pkgs
}

// matches reports whether path (under the module) is rule: a prefix, or an exact path when
// the rule ends in $.
func matches(path, rule string) bool {
	if exact, ok := strings.CutSuffix(rule, "$"); ok {
		return path == exact
	}
	return path == strings.TrimSuffix(rule, "/") || strings.HasPrefix(path, strings.TrimSuffix(rule, "/")+"/")
}

func layerOf(path string) (int, bool) {
	for i, l := range layers {
		for _, rule := range l.packages {
			if matches(path, rule) {
				return i, true
			}
		}
	}
	return 0, false
}

func TestImportRules(t *testing.T) {
	wiring := len(layers) - 1
	for _, p := range listPackages(t) {
		path := strings.TrimPrefix(p.ImportPath, module)
		mine, ok := layerOf(path)
		if !ok {
			t.Errorf("%s belongs to no layer: add it to one in imports_test.go", path)
			continue
		}
		for _, imp := range p.Imports {
			if dep, ok := strings.CutPrefix(imp, module); ok {
				if theirs, ok := layerOf(dep); ok && theirs > mine {
					t.Errorf("%s (%s) imports %s (%s): dependencies point inward", path, layers[mine].name, dep, layers[theirs].name)
				}
				for pkgRule, deps := range forbidden {
					if !matches(path, pkgRule) {
						continue
					}
					for _, d := range deps {
						if forbids(d, dep) {
							t.Errorf("%s imports %s, which the design forbids", path, dep)
						}
					}
				}
				continue
			}
			for lib, owners := range libraries {
				if !strings.HasPrefix(imp, lib) || mine == wiring && lib != "github.com/redis/go-redis" {
					continue
				}
				if !anyMatch(path, owners) {
					t.Errorf("%s imports %s: only %s (and cmd, which wires) may", path, imp, strings.Join(owners, ", "))
				}
			}
		}
	}
}

// forbids reports whether a forbidden rule ("", "!p" or a path rule) forbids importing dep.
func forbids(rule, dep string) bool {
	if except, ok := strings.CutPrefix(rule, "!"); ok {
		return !matches(dep, except)
	}
	return rule == "" || matches(dep, rule)
}

func anyMatch(path string, rules []string) bool {
	for _, r := range rules {
		if matches(path, r) {
			return true
		}
	}
	return false
}

// TestImportRulesCatchAViolation runs the rule functions on a made-up import, so a rule that
// can never fire is noticed.
func TestImportRulesCatchAViolation(t *testing.T) {
	life, _ := layerOf("lifecycle")
	redis, _ := layerOf("redisstore")
	if redis <= life {
		t.Fatal("the lifecycle could import the Redis adapter")
	}
	if anyMatch("app", libraries["github.com/redis/go-redis"]) {
		t.Fatal("app may import go-redis")
	}
	if !forbids("!internal/yamlerr", "handlers") || forbids("!internal/yamlerr", "internal/yamlerr") || !forbids("", "jobs") || forbids("bot", "handlers") {
		t.Fatal("forbids is wrong")
	}
	if !matches("agent", "agent$") || matches("agent/mask", "agent$") || !matches("bot/render", "bot") {
		t.Fatal("matches is wrong")
	}
}
