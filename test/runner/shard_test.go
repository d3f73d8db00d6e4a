package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestShardFromEnv(t *testing.T) {
	for _, tc := range []struct {
		name    string
		environ []string
		want    shardConfig
		wantErr bool
	}{
		{
			name:    "not sharded",
			environ: []string{"PATH=/bin", "HOME=/root"},
			want:    shardConfig{env: []string{"PATH=/bin", "HOME=/root"}},
		},
		{
			name:    "bazel sharding is translated",
			environ: []string{"PATH=/bin", "TEST_TOTAL_SHARDS=4", "TEST_SHARD_INDEX=2", "TEST_SHARD_STATUS_FILE=/tmp/status"},
			want: shardConfig{
				env:        []string{"PATH=/bin", "GTEST_TOTAL_SHARDS=4", "GTEST_SHARD_INDEX=2"},
				sharded:    true,
				statusFile: "/tmp/status",
			},
		},
		{
			name:    "bazel sharding wins over googletest's",
			environ: []string{"GTEST_TOTAL_SHARDS=9", "GTEST_SHARD_INDEX=8", "TEST_TOTAL_SHARDS=2", "TEST_SHARD_INDEX=0"},
			want:    shardConfig{env: []string{"GTEST_TOTAL_SHARDS=2", "GTEST_SHARD_INDEX=0"}, sharded: true},
		},
		{
			name:    "googletest sharding passes through",
			environ: []string{"GTEST_TOTAL_SHARDS=3", "GTEST_SHARD_INDEX=1"},
			want:    shardConfig{env: []string{"GTEST_TOTAL_SHARDS=3", "GTEST_SHARD_INDEX=1"}, sharded: true},
		},
		{
			name:    "one shard is not sharded",
			environ: []string{"TEST_TOTAL_SHARDS=1", "TEST_SHARD_INDEX=0"},
			want:    shardConfig{env: []string{"GTEST_TOTAL_SHARDS=1", "GTEST_SHARD_INDEX=0"}},
		},
		{
			name:    "status file alone",
			environ: []string{"TEST_SHARD_STATUS_FILE=/tmp/s"},
			want:    shardConfig{statusFile: "/tmp/s"},
		},
		{name: "index out of range", environ: []string{"TEST_TOTAL_SHARDS=2", "TEST_SHARD_INDEX=2"}, wantErr: true},
		{name: "index missing", environ: []string{"TEST_TOTAL_SHARDS=2"}, wantErr: true},
		{name: "count not a number", environ: []string{"TEST_TOTAL_SHARDS=two", "TEST_SHARD_INDEX=0"}, wantErr: true},
		{name: "zero shards", environ: []string{"TEST_TOTAL_SHARDS=0", "TEST_SHARD_INDEX=0"}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := shardFromEnv(tc.environ)
			if (err != nil) != tc.wantErr {
				t.Fatalf("shardFromEnv: err = %v, want error: %v", err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(shardConfig{})); diff != "" {
				t.Errorf("shardFromEnv (-want +got):\n%s", diff)
			}
		})
	}
}

func TestShardAcknowledgeTouchesStatusFile(t *testing.T) {
	status := filepath.Join(t.TempDir(), "status")
	if err := (shardConfig{statusFile: status}).acknowledge(); err != nil {
		t.Fatalf("acknowledge: %v", err)
	}
	if _, err := os.Stat(status); err != nil {
		t.Errorf("status file not created: %v", err)
	}
	if err := (shardConfig{}).acknowledge(); err != nil {
		t.Errorf("acknowledge without a status file: %v", err)
	}
}
