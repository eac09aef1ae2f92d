package testenv

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

var motoURL once

// AWS describes an AWS API endpoint for tests: moto_server on loopback, with static dummy
// credentials. Every test names its resources with UniqueName, so tests sharing one moto
// never see each other's resources.
type AWS struct {
	Endpoint        string
	Region          string
	AccessKeyID     string
	SecretAccessKey string
}

// Moto returns a running moto_server endpoint for this test binary. It also sets the AWS
// environment variables the SDK's default credential chain reads, so code that loads the
// default config finds dummy credentials and never the machine's real ones.
func Moto(t testing.TB) AWS {
	t.Helper()
	u, err := motoURL.get(findMoto)
	if err != nil {
		t.Fatalf("testenv: no moto_server: %v", err)
	}
	return AWS{Endpoint: u, Region: "us-east-1", AccessKeyID: "testing", SecretAccessKey: "testing"}
}

func findMoto() (string, error) {
	os.Setenv("AWS_ACCESS_KEY_ID", "testing")
	os.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	os.Setenv("AWS_REGION", "us-east-1")
	os.Unsetenv("AWS_PROFILE")
	if u := envOr("CLONEBOT_TEST_AWS_ENDPOINT"); u != "" {
		return u, pingMoto(u)
	}
	return startMoto()
}

func pingMoto(u string) error {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(u + "/moto-api/")
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("moto at %s answered %s", u, resp.Status)
	}
	return nil
}

func startMoto() (string, error) {
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		return "", fmt.Errorf("moto_server not on PATH (pip install 'moto[server]'): %w", err)
	}
	port, err := freePort()
	if err != nil {
		return "", err
	}
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	if err := startProcess(cmd); err != nil {
		return "", fmt.Errorf("start moto_server: %w", err)
	}
	u := fmt.Sprintf("http://127.0.0.1:%d", port)
	return u, waitFor(context.Background(), "moto_server", func() error { return pingMoto(u) })
}
