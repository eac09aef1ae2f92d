package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// ClusterMasters is how many masters the test Redis Cluster has: the fewest Redis Cluster
// accepts, so that keys really are spread over nodes and MOVED redirects happen.
const ClusterMasters = 3

var redisCluster once

// RedisClusterAddrs returns the node addresses (host:port) of a real Redis Cluster for this
// test binary: CLONEBOT_TEST_REDIS_CLUSTER (comma-separated nodes) when set, otherwise a
// cluster of ClusterMasters masters started from the redis-server binary, stopped when the
// test binary exits (testenv.Main). It fails the test if none can be had.
func RedisClusterAddrs(t testing.TB) []string {
	t.Helper()
	addrs, err := redisCluster.get(findRedisCluster)
	if err != nil {
		t.Fatalf("testenv: no Redis Cluster: %v", err)
	}
	return strings.Split(addrs, ",")
}

// RedisCluster returns a client on a real Redis Cluster and a key prefix unique to this
// test; the keys under it are deleted from every master when the test ends.
func RedisCluster(t testing.TB) (*redis.ClusterClient, string) {
	t.Helper()
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: RedisClusterAddrs(t)})
	prefix := UniqueName("t") + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		_ = c.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
			iter := node.Scan(ctx, 0, prefix+"*", 500).Iterator()
			for iter.Next(ctx) {
				node.Del(ctx, iter.Val())
			}
			return iter.Err()
		})
		c.Close()
	})
	return c, prefix
}

// PrivateRedis starts a redis-server for this test alone and returns its URL; it is stopped
// when the test ends. For a program under test whose key prefix is fixed by a config file,
// which could meet another run's keys on a shared server.
func PrivateRedis(t testing.TB) string {
	t.Helper()
	port, stop, err := startRedisServer(t.TempDir())
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(stop)
	return fmt.Sprintf("redis://127.0.0.1:%d/0", port)
}

func findRedisCluster() (string, error) {
	if addrs := envOr("CLONEBOT_TEST_REDIS_CLUSTER"); addrs != "" {
		return addrs, clusterReady(strings.Split(addrs, ","))
	}
	return startRedisCluster()
}

// startRedisServer starts redis-server on a free loopback port with its files in dir, extra
// arguments appended, and returns the port and a function that stops it.
func startRedisServer(dir string, args ...string) (int, func(), error) {
	bin, err := lookBinary("redis-server")
	if err != nil {
		return 0, nil, err
	}
	port, err := freePort()
	if err != nil {
		return 0, nil, err
	}
	cmd := exec.Command(bin, append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir}, args...)...)
	if err := cmd.Start(); err != nil {
		return 0, nil, fmt.Errorf("start redis-server: %w", err)
	}
	stop := func() { stopProcess(cmd) }
	u := fmt.Sprintf("redis://127.0.0.1:%d/0", port)
	if err := waitFor(context.Background(), "redis-server", func() error { return pingRedis(u) }); err != nil {
		stop()
		return 0, nil, err
	}
	return port, stop, nil
}

// startRedisCluster starts ClusterMasters cluster-enabled redis-servers, joins them with
// `redis-cli --cluster create` (every slot assigned, no replicas) and waits for the cluster
// to be ok on every node.
func startRedisCluster() (string, error) {
	cli, err := lookBinary("redis-cli")
	if err != nil {
		return "", err
	}
	root := tempDir("redis-cluster")
	var addrs []string
	for i := range ClusterMasters {
		dir := filepath.Join(root, strconv.Itoa(i))
		if err := os.Mkdir(dir, 0o700); err != nil {
			return "", err
		}
		port, stop, err := startRedisServer(dir, "--cluster-enabled", "yes",
			"--cluster-config-file", filepath.Join(dir, "nodes.conf"), "--cluster-node-timeout", "5000")
		if err != nil {
			return "", err
		}
		onStop(stop)
		addrs = append(addrs, "127.0.0.1:"+strconv.Itoa(port))
	}
	create := exec.Command(cli, append(append([]string{"--cluster", "create"}, addrs...), "--cluster-replicas", "0", "--cluster-yes")...)
	if out, err := create.CombinedOutput(); err != nil {
		return "", fmt.Errorf("redis-cli --cluster create: %w\n%s", err, out)
	}
	if err := waitFor(context.Background(), "redis cluster", func() error { return clusterReady(addrs) }); err != nil {
		return "", err
	}
	return strings.Join(addrs, ","), nil
}

// clusterReady reports an error until every node says cluster_state:ok with all 16384 slots
// assigned.
func clusterReady(addrs []string) error {
	for _, a := range addrs {
		c := redis.NewClient(&redis.Options{Addr: a})
		info, err := c.ClusterInfo(context.Background()).Result()
		c.Close()
		if err != nil {
			return fmt.Errorf("cluster info on %s: %w", a, err)
		}
		if !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_slots_assigned:16384") {
			return errors.New("cluster not ok yet on " + a)
		}
	}
	return nil
}
