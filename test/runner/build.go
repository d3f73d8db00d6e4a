package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// The g++ command lines of the non-Bazel build. The binaries are static so
// that, later, they run in the sandbox without the host's shared libraries.
var (
	cxxFlags = []string{"-std=c++17", "-O1", "-g", "-Wall", "-pthread"}
	ldFlags  = []string{"-static", "-pthread", "-lgmock", "-lgtest_main", "-lgtest"}
)

const (
	testsDir = "test/syscalls/linux" // The test sources, *_test.cc.
	utilDir  = "test/util"           // The library every test links.
)

// builder compiles the suite with g++ into a cache directory, recompiling a
// binary only when its inputs (sources, headers, flags, compiler) changed.
type builder struct {
	root     string // Repository root: includes are relative to it.
	cacheDir string
	jobs     int
	verbose  bool      // Print compiler output even when it succeeds.
	log      io.Writer // Progress and compiler output.
}

func newBuilder(root, cacheDir string, jobs int, verbose bool, log io.Writer) (*builder, error) {
	if root == "" {
		wd, err := os.Getwd()
		if err != nil {
			return nil, err
		}
		if root, err = findRoot(wd); err != nil {
			return nil, err
		}
	}
	// Absolute, so that cache keys (which hash paths) and compiler
	// diagnostics do not depend on the working directory.
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	if cacheDir == "" {
		c, err := os.UserCacheDir()
		if err != nil {
			return nil, fmt.Errorf("no cache directory (set --cache_dir): %w", err)
		}
		cacheDir = filepath.Join(c, "visor", "syscall-tests")
	}
	if err := os.MkdirAll(filepath.Join(cacheDir, "obj"), 0o755); err != nil {
		return nil, err
	}
	if jobs < 1 {
		jobs = 1
	}
	return &builder{root: root, cacheDir: cacheDir, jobs: jobs, verbose: verbose, log: log}, nil
}

// findRoot returns the closest directory at or above dir that holds
// test/syscalls/linux.
func findRoot(dir string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		if fi, err := os.Stat(filepath.Join(d, testsDir)); err == nil && fi.IsDir() {
			return d, nil
		}
		if d == filepath.Dir(d) {
			return "", fmt.Errorf("no %s at or above %s (use --root)", testsDir, dir)
		}
	}
}

// testName normalizes a test named on the command line ("pipe", "pipe_test",
// "pipe_test.cc" or a path to it) to the binary name "pipe_test".
func testName(arg string) string {
	name := strings.TrimSuffix(filepath.Base(arg), ".cc")
	if !strings.HasSuffix(name, "_test") {
		name += "_test"
	}
	return name
}

// build compiles the named tests (every test if names is empty) and returns
// the paths of the binaries that built, and the names of those that did not.
// err is for failures that stop the whole build.
func (b *builder) build(ctx context.Context, names []string) (binaries, failed []string, err error) {
	start := time.Now()
	srcs, err := b.testSources(names)
	if err != nil {
		return nil, nil, err
	}
	compiler, err := exec.CommandContext(ctx, "g++", "--version").Output()
	if err != nil {
		return nil, nil, fmt.Errorf("g++ --version: %w", err)
	}
	compilerID, _, _ := strings.Cut(string(compiler), "\n")

	objs, depKey, rebuilt, err := b.buildUtil(ctx, compilerID)
	if err != nil {
		return nil, nil, err
	}

	type result struct {
		bin     string
		ok      bool
		rebuilt bool
	}
	results := make([]result, len(srcs))
	sem := make(chan struct{}, b.jobs)
	var wg sync.WaitGroup
	for i, src := range srcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			name := strings.TrimSuffix(filepath.Base(src), ".cc")
			bin := filepath.Join(b.cacheDir, name)
			key, err := inputKey([]string{compilerID, depKey, strings.Join(cxxFlags, " "), strings.Join(ldFlags, " ")}, []string{src})
			if err != nil {
				fmt.Fprintf(b.log, "%s: %v\n", name, err)
				results[i] = result{bin: bin}
				return
			}
			args := append(append(append([]string{}, cxxFlags...), "-I", b.root, src), objs...)
			did, err := b.compile(ctx, name, args, ldFlags, bin, key)
			results[i] = result{bin: bin, ok: err == nil, rebuilt: did}
		}()
	}
	wg.Wait()

	for i, r := range results {
		if r.ok {
			binaries = append(binaries, r.bin)
		} else {
			failed = append(failed, testName(srcs[i]))
		}
		if r.rebuilt {
			rebuilt++
		}
	}
	fmt.Fprintf(b.log, "built %d test binaries in %s with %d compiler runs (%s)\n",
		len(srcs), time.Since(start).Round(100*time.Millisecond), rebuilt, b.cacheDir)
	return binaries, failed, ctx.Err()
}

// testSources returns the sources of the named tests, or of every test.
func (b *builder) testSources(names []string) ([]string, error) {
	dir := filepath.Join(b.root, testsDir)
	if len(names) == 0 {
		srcs, err := filepath.Glob(filepath.Join(dir, "*_test.cc"))
		if err == nil && len(srcs) == 0 {
			err = fmt.Errorf("no *_test.cc in %s", dir)
		}
		return srcs, err
	}
	var srcs []string
	for _, n := range names {
		src := filepath.Join(dir, testName(n)+".cc")
		if _, err := os.Stat(src); err != nil {
			return nil, fmt.Errorf("no test %q: %w", n, err)
		}
		srcs = append(srcs, src)
	}
	return srcs, nil
}

// buildUtil compiles each test/util/*.cc to an object and returns their
// paths and a key over everything a test's compilation depends on besides
// its own source: every header and source of test/util and every header in
// test/syscalls/linux.
func (b *builder) buildUtil(ctx context.Context, compilerID string) (objs []string, depKey string, rebuilt int, err error) {
	var inputs []string
	for _, pattern := range []string{
		filepath.Join(b.root, utilDir, "*.h"),
		filepath.Join(b.root, utilDir, "*.cc"),
		filepath.Join(b.root, testsDir, "*.h"),
	} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			return nil, "", 0, err
		}
		inputs = append(inputs, m...)
	}
	sort.Strings(inputs)
	depKey, err = inputKey([]string{compilerID, strings.Join(cxxFlags, " ")}, inputs)
	if err != nil {
		return nil, "", 0, err
	}
	for _, in := range inputs {
		if !strings.HasSuffix(in, ".cc") || filepath.Dir(in) != filepath.Join(b.root, utilDir) {
			continue
		}
		name := strings.TrimSuffix(filepath.Base(in), ".cc")
		obj := filepath.Join(b.cacheDir, "obj", name+".o")
		args := append(append([]string{}, cxxFlags...), "-I", b.root, "-c", in)
		did, err := b.compile(ctx, "test/util/"+name, args, nil, obj, depKey)
		if err != nil {
			return nil, "", 0, fmt.Errorf("building %s failed", utilDir)
		}
		if did {
			rebuilt++
		}
		objs = append(objs, obj)
	}
	return objs, depKey, rebuilt, nil
}

// compile runs `g++ args -o out trailing` unless out is up to date with key.
// It writes out atomically, then its key, so an interrupted build is redone.
func (b *builder) compile(ctx context.Context, what string, args, trailing []string, out, key string) (rebuilt bool, err error) {
	keyFile := out + ".key"
	if k, err := os.ReadFile(keyFile); err == nil && string(k) == key {
		if _, err := os.Stat(out); err == nil {
			return false, nil
		}
	}
	tmp := fmt.Sprintf("%s.tmp%d", out, os.Getpid())
	defer os.Remove(tmp)
	cmd := exec.CommandContext(ctx, "g++", append(append(append([]string{}, args...), "-o", tmp), trailing...)...)
	var output bytes.Buffer
	cmd.Stdout = &output
	cmd.Stderr = &output
	runErr := cmd.Run()
	if runErr != nil || b.verbose {
		fmt.Fprintf(b.log, "g++ %s:\n%s", what, output.String())
	}
	if runErr != nil {
		fmt.Fprintf(b.log, "building %s failed: %v\n", what, runErr)
		return true, runErr
	}
	if err := os.Rename(tmp, out); err != nil {
		return true, err
	}
	return true, os.WriteFile(keyFile, []byte(key), 0o644)
}

// inputKey hashes settings (compiler version, flags, other keys) and the
// paths and contents of files: what a compiler output depends on.
func inputKey(settings, files []string) (string, error) {
	h := sha256.New()
	write := func(b []byte) {
		// Length-prefixed, so no two different input lists hash alike.
		binary.Write(h, binary.LittleEndian, uint64(len(b)))
		h.Write(b)
	}
	for _, s := range settings {
		write([]byte(s))
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		write([]byte(f))
		write(data)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// buildRunsc builds runsc from the tree into the cache directory, for
// --mode=runsc without --runsc, and returns its path. go build does its own
// caching.
func (b *builder) buildRunsc(ctx context.Context) (string, error) {
	bin := filepath.Join(b.cacheDir, "runsc")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./runsc")
	cmd.Dir = b.root
	// As Bazel builds it (pure = "on"): the Sentry refuses to install its
	// seccomp filter in a cgo binary.
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building runsc: %v\n%s", err, out)
	}
	return bin, nil
}
