package main

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseReport(t *testing.T) {
	for _, tc := range []struct {
		name    string
		json    string
		want    []caseResult
		wantErr bool
	}{
		{
			name: "outcomes",
			json: `{"testsuites": [
			  {"name": "PipeTest", "testsuite": [
			    {"name": "RoundTrip", "status": "RUN", "result": "COMPLETED", "time": "0.003s"},
			    {"name": "Broken", "status": "RUN", "result": "COMPLETED", "time": "1.5s",
			     "failures": [{"failure": "pipe_test.cc:10\nExpected: succeeds\n  Actual: -1, failed with EBADF", "type": ""},
			                  {"failure": "pipe_test.cc:11\nsecond", "type": ""}]},
			    {"name": "NeedsProc", "status": "RUN", "result": "SKIPPED", "time": "0s"},
			    {"name": "DISABLED_Later", "status": "NOTRUN", "result": "SUPPRESSED", "time": "0s"}
			  ]},
			  {"name": "Pipe2Test", "testsuite": [
			    {"name": "Flags", "status": "RUN", "result": "COMPLETED", "time": "0s"}
			  ]}
			]}`,
			want: []caseResult{
				{name: "PipeTest.RoundTrip", outcome: pass, duration: 3 * time.Millisecond},
				{name: "PipeTest.Broken", outcome: fail, duration: 1500 * time.Millisecond, failures: []string{
					"pipe_test.cc:10\nExpected: succeeds\n  Actual: -1, failed with EBADF",
					"pipe_test.cc:11\nsecond",
				}},
				{name: "PipeTest.NeedsProc", outcome: skipped},
				{name: "Pipe2Test.Flags", outcome: pass},
			},
		},
		{
			// A case that failed an EXPECT before GTEST_SKIP failed.
			name: "failure before skip",
			json: `{"testsuites": [{"name": "S", "testsuite": [
			  {"name": "C", "status": "RUN", "result": "SKIPPED", "time": "0s", "failures": [{"failure": "f"}]}]}]}`,
			want: []caseResult{{name: "S.C", outcome: fail, failures: []string{"f"}}},
		},
		{
			name: "no cases",
			json: `{"tests": 0, "testsuites": []}`,
		},
		{
			name:    "unknown result",
			json:    `{"testsuites": [{"name": "S", "testsuite": [{"name": "C", "status": "RUN", "result": "WEIRD", "time": "0s"}]}]}`,
			wantErr: true,
		},
		{
			name:    "bad time",
			json:    `{"testsuites": [{"name": "S", "testsuite": [{"name": "C", "status": "RUN", "result": "COMPLETED", "time": "soon"}]}]}`,
			wantErr: true,
		},
		{
			name:    "truncated",
			json:    `{"testsuites": [`,
			wantErr: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseReport([]byte(tc.json))
			if (err != nil) != tc.wantErr {
				t.Fatalf("parseReport: err = %v, want error: %v", err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(caseResult{})); diff != "" {
				t.Errorf("parseReport (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCaseLine(t *testing.T) {
	for _, tc := range []struct {
		c    caseResult
		want string
	}{
		{caseResult{name: "A.B", outcome: pass, duration: 3 * time.Millisecond}, "PASS A.B (3ms)"},
		{caseResult{name: "A.B", outcome: fail, duration: 1500 * time.Millisecond}, "FAIL A.B (1.5s)"},
		{caseResult{name: "A.B", outcome: skipped}, "SKIPPED A.B (0s)"},
	} {
		if got := tc.c.line(); got != tc.want {
			t.Errorf("line() = %q, want %q", got, tc.want)
		}
	}
}

func TestSummary(t *testing.T) {
	for _, tc := range []struct {
		tally tally
		want  string
	}{
		{tally{}, "0 passed, 0 failed"},
		{tally{passed: 57}, "57 passed, 0 failed"},
		{tally{passed: 3, failed: 2}, "3 passed, 2 failed"},
		{tally{passed: 3, failed: 1, skipped: 4}, "3 passed, 1 failed, 4 skipped"},
	} {
		if got := tc.tally.summary(); got != tc.want {
			t.Errorf("%+v.summary() = %q, want %q", tc.tally, got, tc.want)
		}
	}
}

func TestLastStartedCase(t *testing.T) {
	for _, tc := range []struct {
		name, output, want string
	}{
		{"none", "Running main()\n", ""},
		{"all finished", "[ RUN      ] A.B\n[       OK ] A.B (0 ms)\n[ RUN      ] A.C\n[  FAILED  ] A.C (1 ms)\n", ""},
		{"died", "[ RUN      ] A.B\n[       OK ] A.B (0 ms)\n[ RUN      ] A.C\nsome output\n", "A.C"},
		{"skipped then died", "[ RUN      ] A.B\n[  SKIPPED ] A.B (0 ms)\n[ RUN      ] A.D\n", "A.D"},
	} {
		if got := lastStartedCase(tc.output); got != tc.want {
			t.Errorf("%s: lastStartedCase = %q, want %q", tc.name, got, tc.want)
		}
	}
}
