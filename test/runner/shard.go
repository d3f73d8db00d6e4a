package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// shardConfig is how a test binary's environment carries Bazel's sharding.
//
// Bazel asks a test to run one shard of its cases with TEST_TOTAL_SHARDS and
// TEST_SHARD_INDEX, and to touch TEST_SHARD_STATUS_FILE to confirm that it
// honours them. googletest reads GTEST_TOTAL_SHARDS and GTEST_SHARD_INDEX.
// The runner translates the first into the second and touches the status file
// itself, because in the sandbox the binary cannot reach the host's file.
type shardConfig struct {
	env        []string // The environment for the test binary.
	sharded    bool     // Whether this run is one shard of several.
	statusFile string   // TEST_SHARD_STATUS_FILE, to be touched; "" if unset.
}

// shardFromEnv computes the test binary's environment from the runner's.
// Bazel's variables win; without them, a caller's own GTEST_TOTAL_SHARDS and
// GTEST_SHARD_INDEX pass through.
func shardFromEnv(environ []string) (shardConfig, error) {
	var cfg shardConfig
	vars := make(map[string]string)
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "TEST_TOTAL_SHARDS", "TEST_SHARD_INDEX", "TEST_SHARD_STATUS_FILE",
			"GTEST_TOTAL_SHARDS", "GTEST_SHARD_INDEX":
			vars[k] = v
		default:
			cfg.env = append(cfg.env, kv)
		}
	}
	cfg.statusFile = vars["TEST_SHARD_STATUS_FILE"]
	total, index := vars["GTEST_TOTAL_SHARDS"], vars["GTEST_SHARD_INDEX"]
	if t, ok := vars["TEST_TOTAL_SHARDS"]; ok {
		total, index = t, vars["TEST_SHARD_INDEX"]
	}
	if total == "" {
		return cfg, nil
	}
	n, err := strconv.Atoi(total)
	if err != nil || n < 1 {
		return shardConfig{}, fmt.Errorf("bad shard count %q", total)
	}
	i, err := strconv.Atoi(index)
	if err != nil || i < 0 || i >= n {
		return shardConfig{}, fmt.Errorf("bad shard index %q for %d shards", index, n)
	}
	cfg.env = append(cfg.env, "GTEST_TOTAL_SHARDS="+total, "GTEST_SHARD_INDEX="+index)
	cfg.sharded = n > 1
	return cfg, nil
}

// acknowledge touches the shard status file, telling Bazel this test shards.
func (c shardConfig) acknowledge() error {
	if c.statusFile == "" {
		return nil
	}
	f, err := os.OpenFile(c.statusFile, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("touching shard status file: %w", err)
	}
	return f.Close()
}
