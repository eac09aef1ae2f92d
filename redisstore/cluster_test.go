package redisstore

import (
	"flag"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/clonebot/clonebot/internal/testenv"
)

// onCluster makes every fixture of this package use a Redis Cluster (go test
// ./redisstore -args -cluster; TestStoreOnRedisCluster sets it in a child run).
var onCluster = flag.Bool("cluster", false, "run the store's tests against a Redis Cluster (testenv.RedisCluster)")

// fixtureRedis is the Redis a fixture uses: one server (testenv.Redis), or with -cluster a
// cluster of testenv.ClusterMasters masters, each with a key prefix of the test's own.
func fixtureRedis(t *testing.T) (redis.UniversalClient, string) {
	t.Helper()
	if *onCluster {
		return testenv.RedisCluster(t)
	}
	return testenv.Redis(t)
}

// TestStoreOnRedisCluster runs every other test of this package again, in a child run of
// this test binary with -cluster, against a real Redis Cluster of three masters: every
// script's keys must hash to one slot ({clonebot}) and the client must follow MOVED.
func TestStoreOnRedisCluster(t *testing.T) {
	if *onCluster {
		t.Fatal("the child run must skip this test (-test.skip)")
	}
	addrs := testenv.RedisClusterAddrs(t)
	cmd := exec.Command(os.Args[0], "-test.run=.", "-test.skip=^TestStoreOnRedisCluster$", "-test.count=1", "-test.v", "-cluster")
	cmd.Env = append(os.Environ(), "CLONEBOT_TEST_REDIS_CLUSTER="+strings.Join(addrs, ","))
	out, err := cmd.CombinedOutput()
	passed := len(regexp.MustCompile(`(?m)^--- PASS: `).FindAll(out, -1))
	failed := regexp.MustCompile(`(?m)^\s*--- FAIL: .*$`).FindAll(out, -1)
	if err != nil || len(failed) > 0 {
		t.Fatalf("on the cluster (%s): %v; failed:\n%s\n\nthe run:\n%s", strings.Join(addrs, ","), err, failed, out)
	}
	if passed < 20 {
		t.Fatalf("only %d tests passed on the cluster:\n%s", passed, out)
	}
	t.Logf("%d tests passed on a cluster of %d masters", passed, testenv.ClusterMasters)
}
