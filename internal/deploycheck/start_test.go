package deploycheck

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/clonebot/clonebot/bot/slackfake"
	"github.com/clonebot/clonebot/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// metricsAddr and agentMetricsAddr are the config's metrics_addr (":9090") and
// agent.metrics_addr (":9091"), where the probes look.
const (
	metricsAddr      = "127.0.0.1:9090"
	agentMetricsAddr = "127.0.0.1:9091"
)

// TestProcessesStartFromTheConfigMap starts `clonebot serve` and `clonebot agent` as the pods
// of each overlay do: the built binary, with exactly the files of the overlay's ConfigMap
// and, from the environment, what the pods' Secrets and IRSA give them. Redis is real (a
// private server, since the config fixes the key prefix), AWS is moto (AWS_ENDPOINT_URL),
// Slack is the offline fake (CLONEBOT_SLACK_API_URL), in Socket Mode as configured. The agent
// does not connect to PostgreSQL before its first job; serve's orphan sweep tries the local
// backend's server at start, and a server it cannot reach is a warning, not an error.
func TestProcessesStartFromTheConfigMap(t *testing.T) {
	// step 1: the binary, and the world the pods would find.
	if l, err := net.Listen("tcp", metricsAddr); err != nil {
		t.Fatalf("the config's metrics_addr %s is taken on this machine: %v", metricsAddr, err)
	} else {
		l.Close()
	}
	bin := filepath.Join(t.TempDir(), "clonebot")
	if out, err := exec.Command("go", "build", "-ldflags", "-X main.version=0.0.0-deploycheck", "-o", bin, "../../cmd/clonebot").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	if out, err := exec.Command(bin, "version").Output(); err != nil || !strings.HasPrefix(string(out), "clonebot 0.0.0-deploycheck (") {
		t.Fatalf("clonebot version printed %q (%v), want the version stamped with -ldflags as the Dockerfile does", out, err)
	}
	fake := slackfake.New()
	defer fake.Close()
	aws := testenv.Moto(t)
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "TMPDIR=" + t.TempDir(),
		"CLONEBOT_REDIS_URL=" + testenv.PrivateRedis(t),
		"CLONEBOT_SLACK_API_URL=" + fake.APIURL(),
		"CLONEBOT_SLACK_BOT_TOKEN=xoxb-deploycheck", "CLONEBOT_SLACK_APP_TOKEN=xapp-deploycheck",
		"CLONEBOT_MASKING_KEY=deploycheck-masking-key", "PGPASSWORD=deploycheck",
		"AWS_ENDPOINT_URL=" + aws.Endpoint, "AWS_ACCESS_KEY_ID=" + aws.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + aws.SecretAccessKey, "AWS_EC2_METADATA_DISABLED=true",
	}

	tests := []struct {
		overlay string
		// wrap runs the process as its pod would see the filesystem: overlays/local's config
		// keeps credentials under /var/lib/clonebot (the pods' shared volume), so the process
		// gets an empty /var/lib of its own (a private mount namespace) rather than writing
		// to this machine's.
		wrap []string
	}{
		{"aws", nil},
		{"local", []string{"unshare", "--mount", "--propagation", "private", "sh", "-c",
			`mount -t tmpfs -o size=16m clonebot-data /var/lib && exec "$0" "$@"`}},
	}
	for _, tt := range tests {
		t.Run(tt.overlay, func(t *testing.T) {
			// step 2: the ConfigMap's files, as the pods mount them.
			dir := t.TempDir()
			cm, ok := find[*corev1.ConfigMap](build(t, tt.overlay), configMap)
			if !ok {
				t.Fatalf("overlays/%s has no config map", tt.overlay)
			}
			for name, data := range cm.Data {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			config := filepath.Join(dir, "clonebot.yaml")
			command := func(args ...string) []string { return slices.Concat(tt.wrap, []string{bin}, args) }

			// step 3: serve, until its readiness probe passes; then SIGTERM.
			t.Run("serve answers /readyz", func(t *testing.T) {
				connected := fake.Connections()
				p := startProcess(t, env, command("serve", "-config", config)...)
				p.waitReady(t, "http://"+metricsAddr+"/readyz")
				if fake.Connections() == connected {
					t.Error("serve is ready but never connected to Slack's socket")
				}
				p.waitLog(t, `"clonebot serving"`)
				p.stop(t)
				if errs := p.errorLines(); len(errs) > 0 {
					t.Errorf("serve logged errors:\n%s", strings.Join(errs, "\n"))
				}
			})

			// step 4: the agent, until it answers its readiness probe.
			t.Run("agent starts", func(t *testing.T) {
				p := startProcess(t, env, command("agent", "-config", config)...)
				p.waitLog(t, `"agent started"`)
				p.waitReady(t, "http://"+agentMetricsAddr+"/readyz")
				p.stop(t)
				if errs := p.errorLines(); len(errs) > 0 {
					t.Errorf("the agent logged errors:\n%s", strings.Join(errs, "\n"))
				}
			})
		})
	}
}

// process is a clonebot subprocess and its log (zap JSON on stderr).
type process struct {
	name string // the command line
	cmd  *exec.Cmd
	done chan error
	mu   sync.Mutex
	log  bytes.Buffer
}

func (p *process) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.Write(b)
}

func (p *process) logText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// startProcess starts the command line with env; it is killed when the test ends if still
// running, and its log is printed if the test failed.
func startProcess(t *testing.T, env []string, command ...string) *process {
	t.Helper()
	p := &process{name: strings.Join(command, " "), cmd: exec.Command(command[0], command[1:]...), done: make(chan error, 1)}
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("%s log:\n%s", p.name, p.logText())
		}
	})
	return p
}

// waitFor polls cond until it holds, failing the test after a minute or if the process ends.
// It waits for a process to start, never for a test to pass.
func (p *process) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(time.Minute)
	for !cond() {
		select {
		case err := <-p.done:
			p.done <- err
			t.Fatalf("%s exited (%v) before %s", p.name, err, what)
		case <-deadline:
			t.Fatalf("%s: no %s within a minute", p.name, what)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (p *process) waitReady(t *testing.T, url string) {
	t.Helper()
	p.waitFor(t, "200 from "+url, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

func (p *process) waitLog(t *testing.T, text string) {
	t.Helper()
	p.waitFor(t, "log line with "+text, func() bool { return strings.Contains(p.logText(), text) })
}

// stop sends SIGTERM, as the kubelet does, and expects a clean exit within the pods'
// termination grace period.
func (p *process) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("%s exited with %v after SIGTERM", p.name, err)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("%s still running 30 s after SIGTERM", p.name)
	}
}

// errorLines returns the log lines at level error or above.
func (p *process) errorLines() []string {
	var out []string
	for _, line := range strings.Split(p.logText(), "\n") {
		for _, level := range []string{"error", "dpanic", "panic", "fatal"} {
			if strings.Contains(line, fmt.Sprintf(`"level":%q`, level)) {
				out = append(out, line)
			}
		}
	}
	return out
}
