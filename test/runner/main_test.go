package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fakeTest describes a stand-in for a googletest binary: a shell script that
// prints output, copies report to its --gtest_output path (unless report is
// empty) and then runs end (an exit or a kill). It records its arguments in
// <script>.args.
type fakeTest struct {
	name   string
	output string
	report string
	end    string
}

// write creates the script in dir and returns its path.
func (f fakeTest) write(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, f.name)
	script := `#!/bin/sh
echo "$@" > "$0.args"
for a; do case "$a" in --gtest_output=json:*) out="${a#--gtest_output=json:}";; esac; done
cat "$0.out"
if [ -f "$0.json" ]; then cp "$0.json" "$out"; fi
` + f.end + "\n"
	files := map[string]string{path: script, path + ".out": f.output}
	if f.report != "" {
		files[path+".json"] = f.report
	}
	for p, content := range files {
		if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// report returns a googletest JSON report of one suite with the given cases,
// each a JSON object body such as `"name": "A", "result": "COMPLETED"`.
func report(cases ...string) string {
	var objs []string
	for _, c := range cases {
		objs = append(objs, `{"status": "RUN", "time": "0.002s", `+c+`}`)
	}
	return `{"testsuites": [{"name": "Fake", "testsuite": [` + strings.Join(objs, ", ") + `]}]}`
}

const (
	passCase = `"name": "Passes", "result": "COMPLETED"`
	failCase = `"name": "Fails", "result": "COMPLETED", "failures": [{"failure": "fake_test.cc:7\nExpected: succeeds\n  Actual: -1, failed with EBADF"}]`
	skipCase = `"name": "Skips", "result": "SKIPPED"`
)

// elapsed matches the wall-clock duration that ends the line of a binary that
// failed without a failing case ("... (exit status 1) (12ms)"), which varies
// from run to run.
var elapsed = regexp.MustCompile(`\) \([0-9.]+[µnm]?s\)\n`)

func TestMain(m *testing.M) {
	// The native launcher starts test binaries through the runner's own
	// binary, which here is the test binary.
	maybeShim(os.Args)
	if os.Getenv(fakeRunscEnv) == "1" {
		fakeRunsc(os.Args[1:])
	}
	os.Exit(m.Run())
}

func TestRun(t *testing.T) {
	for _, tc := range []struct {
		name       string
		tests      []fakeTest
		flags      []string // Before the binaries.
		trailing   []string // After the binaries.
		env        map[string]string
		wantCode   int
		wantStdout string
		wantStderr string
		wantArgs   string // The first binary's arguments, after its --gtest_output.
	}{
		{
			name:       "all pass",
			tests:      []fakeTest{{name: "a_test", output: "chatter\n", report: report(passCase), end: "exit 0"}},
			wantStdout: "PASS Fake.Passes (2ms)\n1 passed, 0 failed\n",
		},
		{
			name:  "a case fails",
			tests: []fakeTest{{name: "a_test", output: "[  FAILED  ] Fake.Fails\n", report: report(passCase, failCase), end: "exit 1"}},
			// The binary's own output is shown when it failed.
			wantCode: 1,
			wantStdout: "[  FAILED  ] Fake.Fails\n" +
				"PASS Fake.Passes (2ms)\n" +
				"FAIL Fake.Fails (2ms)\n" +
				"    fake_test.cc:7\n    Expected: succeeds\n      Actual: -1, failed with EBADF\n" +
				"1 passed, 1 failed\n",
		},
		{
			name:       "skips are not passes",
			tests:      []fakeTest{{name: "a_test", report: report(passCase, skipCase), end: "exit 0"}},
			wantStdout: "PASS Fake.Passes (2ms)\nSKIPPED Fake.Skips (2ms)\n1 passed, 0 failed, 1 skipped\n",
		},
		{
			name:       "only skips ran",
			tests:      []fakeTest{{name: "a_test", report: report(skipCase), end: "exit 0"}},
			wantCode:   1,
			wantStdout: "SKIPPED Fake.Skips (2ms)\n0 passed, 0 failed, 1 skipped\n",
			wantStderr: "runner: no test case ran\n",
		},
		{
			name:       "nothing ran",
			tests:      []fakeTest{{name: "a_test", report: report(), end: "exit 0"}},
			wantCode:   1,
			wantStdout: "0 passed, 0 failed\n",
			wantStderr: "runner: no test case ran\n",
		},
		{
			name:       "an empty shard is fine",
			tests:      []fakeTest{{name: "a_test", report: report(), end: "exit 0"}},
			env:        map[string]string{"TEST_TOTAL_SHARDS": "3", "TEST_SHARD_INDEX": "2"},
			wantStdout: "0 passed, 0 failed\n",
		},
		{
			name: "crash names the running case",
			tests: []fakeTest{{
				name:   "a_test",
				output: "[ RUN      ] Fake.Passes\n[       OK ] Fake.Passes (0 ms)\n[ RUN      ] Fake.Crashes\n",
				end:    "kill -SEGV $$",
			}},
			// The cases that ended before count, from the console output.
			wantCode: 1,
			wantStdout: "[ RUN      ] Fake.Passes\n[       OK ] Fake.Passes (0 ms)\n[ RUN      ] Fake.Crashes\n" +
				"PASS Fake.Passes (0s)\n" +
				"FAIL a_test: wrote no report (it died during Fake.Crashes) (signal: segmentation fault) (D)\n" +
				"1 passed, 1 failed\n",
		},
		{
			name:     "failure outside any case",
			tests:    []fakeTest{{name: "a_test", report: report(passCase), end: "exit 1"}},
			wantCode: 1,
			wantStdout: "PASS Fake.Passes (2ms)\n" +
				"FAIL a_test: failed, though no case did (exit status 1) (D)\n" +
				"1 passed, 1 failed\n",
		},
		{
			name: "several binaries",
			tests: []fakeTest{
				{name: "a_test", report: report(passCase), end: "exit 0"},
				{name: "b_test", report: report(passCase, skipCase), end: "exit 0"},
			},
			wantStdout: "=== a_test\nPASS Fake.Passes (2ms)\n" +
				"=== b_test\nPASS Fake.Passes (2ms)\nSKIPPED Fake.Skips (2ms)\n" +
				"2 passed, 0 failed, 1 skipped\n",
		},
		{
			name:       "filter is passed on",
			tests:      []fakeTest{{name: "a_test", report: report(passCase), end: "exit 0"}},
			flags:      []string{"--filter=Fake.P*"},
			wantStdout: "PASS Fake.Passes (2ms)\n1 passed, 0 failed\n",
			wantArgs:   "--gtest_filter=Fake.P*",
		},
		{
			name:       "flags may follow the binary",
			tests:      []fakeTest{{name: "a_test", report: report(passCase), end: "exit 0"}},
			trailing:   []string{"--gtest_filter=Fake.*"},
			wantStdout: "PASS Fake.Passes (2ms)\n1 passed, 0 failed\n",
			wantArgs:   "--gtest_filter=Fake.*",
		},
		{
			name:       "bazel's --test_filter",
			tests:      []fakeTest{{name: "a_test", report: report(passCase), end: "exit 0"}},
			env:        map[string]string{"TESTBRIDGE_TEST_ONLY": "Fake.Passes"},
			wantStdout: "PASS Fake.Passes (2ms)\n1 passed, 0 failed\n",
			wantArgs:   "--gtest_filter=Fake.Passes",
		},
		{
			name:       "runsc mode needs runsc",
			tests:      []fakeTest{{name: "a_test", report: report(passCase), end: "exit 0"}},
			flags:      []string{"--mode=runsc"},
			wantCode:   1,
			wantStderr: "runner: --mode=runsc needs --runsc=PATH (or --build, which builds runsc)\n",
		},
		{
			name:     "timeout",
			tests:    []fakeTest{{name: "a_test", output: "[ RUN      ] Fake.Passes\n[       OK ] Fake.Passes (3 ms)\n[ RUN      ] Fake.Hangs\n", end: "exec sleep 30"}},
			flags:    []string{"--timeout=300ms"},
			wantCode: 1,
			wantStdout: "[ RUN      ] Fake.Passes\n[       OK ] Fake.Passes (3 ms)\n[ RUN      ] Fake.Hangs\n" +
				"PASS Fake.Passes (3ms)\n" +
				"FAIL a_test: timed out after 300ms (it was running Fake.Hangs) (signal: killed) (D)\n" +
				"1 passed, 1 failed\n",
		},
		{
			name:       "unknown mode",
			tests:      []fakeTest{{name: "a_test", report: report(passCase), end: "exit 0"}},
			flags:      []string{"--mode=vm"},
			wantCode:   2,
			wantStderr: "runner: unknown --mode \"vm\": want native or runsc\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"TESTBRIDGE_TEST_ONLY", "TEST_TOTAL_SHARDS", "TEST_SHARD_INDEX", "TEST_SHARD_STATUS_FILE", "GTEST_TOTAL_SHARDS", "GTEST_SHARD_INDEX"} {
				t.Setenv(k, tc.env[k])
			}
			dir := t.TempDir()
			args := append([]string{}, tc.flags...)
			for _, f := range tc.tests {
				args = append(args, f.write(t, dir))
			}
			args = append(args, tc.trailing...)
			var stdout, stderr bytes.Buffer
			code := run(args, &stdout, &stderr)
			if code != tc.wantCode {
				t.Errorf("exit code = %d, want %d", code, tc.wantCode)
			}
			if diff := cmp.Diff(tc.wantStdout, elapsed.ReplaceAllString(stdout.String(), ") (D)\n")); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantStderr, stderr.String()); diff != "" {
				t.Errorf("stderr (-want +got):\n%s", diff)
			}

			gotArgs, err := os.ReadFile(filepath.Join(dir, tc.tests[0].name+".args"))
			if tc.wantCode != 0 && tc.wantStdout == "" {
				// The runner refused to run anything.
				if err == nil {
					t.Errorf("the test binary ran, with %q", gotArgs)
				}
				return
			}
			if err != nil {
				t.Fatalf("the test binary did not run: %v", err)
			}
			want := "--gtest_output=json:"
			if !strings.HasPrefix(string(gotArgs), want) {
				t.Errorf("arguments %q do not start with %q", gotArgs, want)
			}
			_, rest, _ := strings.Cut(strings.TrimSpace(string(gotArgs)), " ")
			if rest != tc.wantArgs {
				t.Errorf("arguments after --gtest_output = %q, want %q", rest, tc.wantArgs)
			}
		})
	}
}

func TestRunnerSetsGoogletestSharding(t *testing.T) {
	t.Setenv("TEST_TOTAL_SHARDS", "2")
	t.Setenv("TEST_SHARD_INDEX", "1")
	status := filepath.Join(t.TempDir(), "status")
	t.Setenv("TEST_SHARD_STATUS_FILE", status)
	dir := t.TempDir()
	bin := fakeTest{
		name:   "env_test",
		report: report(passCase),
		end:    `env | grep -E '^(GTEST|TEST)_(TOTAL|SHARD)' | sort > "$0.env"`,
	}.write(t, dir)

	var stdout, stderr bytes.Buffer
	if code := run([]string{bin}, &stdout, &stderr); code != 0 {
		t.Fatalf("run = %d, stdout:\n%s\nstderr:\n%s", code, &stdout, &stderr)
	}
	env, err := os.ReadFile(bin + ".env")
	if err != nil {
		t.Fatal(err)
	}
	// googletest's variables in, Bazel's out: the binary must not touch the
	// status file itself, which in the sandbox it could not reach.
	if diff := cmp.Diff("GTEST_SHARD_INDEX=1\nGTEST_TOTAL_SHARDS=2\n", string(env)); diff != "" {
		t.Errorf("test binary's sharding environment (-want +got):\n%s", diff)
	}
	if _, err := os.Stat(status); err != nil {
		t.Errorf("shard status file not touched: %v", err)
	}
}

func TestTestName(t *testing.T) {
	for _, arg := range []string{"pipe", "pipe_test", "pipe_test.cc", "test/syscalls/linux/pipe_test.cc"} {
		if got := testName(arg); got != "pipe_test" {
			t.Errorf("testName(%q) = %q, want pipe_test", arg, got)
		}
	}
}
