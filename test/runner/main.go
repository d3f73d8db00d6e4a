// Command runner runs the C++ syscall test binaries of test/syscalls and
// reports one line per test case.
//
// Every test binary runs in one of two modes: natively on the host
// (--mode=native), which proves the test is right about Linux, or inside the
// sandbox (--mode=runsc), which proves Visor matches Linux. The runner asks
// googletest for a JSON report (--gtest_output=json:FILE) and prints, per
// case, "PASS name (duration)", "FAIL name (duration)" or "SKIPPED name
// (duration)", then one closing line "N passed, N failed" (followed by
// ", N skipped" when cases were skipped). It exits non-zero if a case failed,
// a binary failed without a failing case (a crash, say), or no case ran.
//
// Bazel runs it through the syscall_test macro in test/syscalls/defs.bzl,
// with one test binary as argument:
//
//	runner --mode=native path/to/pipe_test
//
// Without Bazel it builds the suite itself with g++ into a cache directory
// outside the tree (rebuilding only what changed) and runs it:
//
//	go run ./test/runner --build                  # every test/syscalls/linux/*_test.cc
//	go run ./test/runner --build pipe mmap_test   # just these
//
// --gtest_filter (or its alias --filter, or Bazel's --test_filter, which
// arrives as TESTBRIDGE_TEST_ONLY) selects cases. Bazel's sharding
// variables (TEST_TOTAL_SHARDS, TEST_SHARD_INDEX, TEST_SHARD_STATUS_FILE) are
// translated into googletest's own.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
)

func main() {
	maybeShim(os.Args)
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the process: it parses args and returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("runner", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: runner [flags] test_binary...\n       runner --build [flags] [test_name...]\n\nflags:\n")
		fs.PrintDefaults()
	}
	var (
		mode     = fs.String("mode", "native", "where the test binaries run: native (on the host) or runsc (in the sandbox)")
		runsc    = fs.String("runsc", "", "path of the runsc binary, for --mode=runsc (default with --build: build it from the tree into the cache directory)")
		platform = fs.String("platform", "ptrace", "runsc platform, for --mode=runsc")
		timeout  = fs.Duration("timeout", 0, "kill a test binary that runs longer than this and count it as failed (0: no limit)")
		runscArg stringList
		filter   = fs.String("gtest_filter", "", "googletest filter selecting the cases to run")
		verbose  = fs.Bool("v", false, "print each test binary's own output, not only when it fails")
		build    = fs.Bool("build", false, "build test/syscalls/linux/*_test.cc (or the named tests) with g++ first, then run them")
		root     = fs.String("root", "", "with --build: the repository root (default: found from the working directory)")
		cacheDir = fs.String("cache_dir", "", "with --build: where binaries go (default: $XDG_CACHE_HOME/visor/syscall-tests or ~/.cache/visor/syscall-tests)")
		jobs     = fs.Int("jobs", runtime.NumCPU(), "with --build: how many compilers run at once")
	)
	fs.StringVar(filter, "filter", "", "alias of --gtest_filter")
	fs.Var(&runscArg, "runsc_arg", "a global flag for runsc, for --mode=runsc (repeatable), e.g. --runsc_arg=--strace --runsc_arg=--debug-log=/tmp/logs/")
	// Flags may follow test binaries: Bazel appends --test_arg values after
	// the binary that syscall_test names.
	var positional []string
	for rest := args; ; {
		if err := fs.Parse(rest); errors.Is(err, flag.ErrHelp) {
			return 0
		} else if err != nil {
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if *filter == "" {
		// What `bazel test --test_filter=...` sets.
		*filter = os.Getenv("TESTBRIDGE_TEST_ONLY")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var b *builder
	if *build {
		var err error
		if b, err = newBuilder(*root, *cacheDir, *jobs, *verbose, stderr); err != nil {
			fmt.Fprintf(stderr, "runner: %v\n", err)
			return 2
		}
		if *mode == "runsc" && *runsc == "" {
			if *runsc, err = b.buildRunsc(ctx); err != nil {
				fmt.Fprintf(stderr, "runner: %v\n", err)
				return 2
			}
		}
	}
	l, err := newLauncher(*mode, *runsc, *platform, runscArg)
	if err != nil {
		fmt.Fprintf(stderr, "runner: %v\n", err)
		return 2
	}
	if err := l.check(); err != nil {
		fmt.Fprintf(stderr, "runner: %v\n", err)
		return 1
	}

	var tally tally
	binaries := positional
	if *build {
		var failed []string
		binaries, failed, err = b.build(ctx, positional)
		if err != nil {
			fmt.Fprintf(stderr, "runner: %v\n", err)
			return 2
		}
		for _, name := range failed {
			fmt.Fprintf(stdout, "FAIL %s (build failed)\n", name)
			tally.failed++
		}
	} else if len(binaries) == 0 {
		fs.Usage()
		return 2
	}

	shard, err := shardFromEnv(os.Environ())
	if err != nil {
		fmt.Fprintf(stderr, "runner: %v\n", err)
		return 2
	}
	if err := shard.acknowledge(); err != nil {
		fmt.Fprintf(stderr, "runner: %v\n", err)
		return 2
	}

	for _, bin := range binaries {
		r := binaryRun{
			launcher: l,
			binary:   bin,
			filter:   *filter,
			env:      shard.env,
			verbose:  *verbose,
			header:   len(binaries) > 1,
			timeout:  *timeout,
		}
		t, err := r.run(ctx, stdout)
		if err != nil {
			fmt.Fprintf(stderr, "runner: %s: %v\n", bin, err)
			return 1
		}
		tally.add(t)
	}

	fmt.Fprintln(stdout, tally.summary())
	if tally.failed > 0 {
		return 1
	}
	if tally.passed == 0 && !(shard.sharded && tally.skipped == 0) {
		// A run that verified nothing must not look green: a wrong filter, a
		// binary without tests or one that skips everything is a mistake.
		// Only a shard may legitimately receive no case at all.
		fmt.Fprintln(stderr, "runner: no test case ran")
		return 1
	}
	return 0
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, " ") }

func (l *stringList) Set(v string) error {
	*l = append(*l, v)
	return nil
}
