package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// outcome is the result of one test case.
type outcome string

const (
	pass    outcome = "PASS"
	fail    outcome = "FAIL"
	skipped outcome = "SKIPPED"
)

// caseResult is one test case as the runner reports it.
type caseResult struct {
	name     string // "Suite.Case", as --gtest_filter spells it.
	outcome  outcome
	duration time.Duration
	failures []string // googletest's failure messages, "file:line\nmessage".
}

// line is the report line for the case: "PASS Suite.Case (3ms)".
func (c caseResult) line() string {
	return fmt.Sprintf("%s %s (%s)", c.outcome, c.name, c.duration)
}

// gtestReport is the part of googletest's --gtest_output=json report the
// runner reads.
type gtestReport struct {
	TestSuites []struct {
		Name      string `json:"name"`
		TestSuite []struct {
			Name     string `json:"name"`
			Status   string `json:"status"` // "RUN", or "NOTRUN" for a DISABLED_ test.
			Result   string `json:"result"` // "COMPLETED", "SKIPPED" or "SUPPRESSED".
			Time     string `json:"time"`   // "0.125s".
			Failures []struct {
				Failure string `json:"failure"`
			} `json:"failures"`
		} `json:"testsuite"`
	} `json:"testsuites"`
}

// parseReport turns a googletest JSON report into per-case results, in the
// order the cases ran. DISABLED_ tests are left out: they were never run, so
// they are neither passes nor skips.
func parseReport(data []byte) ([]caseResult, error) {
	var r gtestReport
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("parsing googletest report: %w", err)
	}
	var results []caseResult
	for _, suite := range r.TestSuites {
		for _, tc := range suite.TestSuite {
			if tc.Status == "NOTRUN" {
				continue
			}
			c := caseResult{name: suite.Name + "." + tc.Name, outcome: pass}
			if tc.Time != "" {
				d, err := time.ParseDuration(tc.Time)
				if err != nil {
					return nil, fmt.Errorf("case %s: bad time %q: %w", c.name, tc.Time, err)
				}
				c.duration = d
			}
			for _, f := range tc.Failures {
				c.failures = append(c.failures, f.Failure)
			}
			switch {
			case len(c.failures) > 0:
				// Failures win over SKIPPED: a case that failed an EXPECT and
				// then skipped still failed.
				c.outcome = fail
			case tc.Result == "SKIPPED":
				c.outcome = skipped
			case tc.Result != "COMPLETED":
				return nil, fmt.Errorf("case %s: unknown result %q", c.name, tc.Result)
			}
			results = append(results, c)
		}
	}
	return results, nil
}

// tally counts case outcomes over a whole run.
type tally struct {
	passed, failed, skipped int
}

func (t *tally) add(u tally) {
	t.passed += u.passed
	t.failed += u.failed
	t.skipped += u.skipped
}

func (t *tally) count(o outcome) {
	switch o {
	case pass:
		t.passed++
	case fail:
		t.failed++
	case skipped:
		t.skipped++
	}
}

// summary is the closing line of a run: "N passed, N failed", followed by
// ", N skipped" if any case was skipped.
func (t tally) summary() string {
	s := fmt.Sprintf("%d passed, %d failed", t.passed, t.failed)
	if t.skipped > 0 {
		s += fmt.Sprintf(", %d skipped", t.skipped)
	}
	return s
}

// lastStartedCase returns the case googletest's console output says was
// running last ("[ RUN      ] Suite.Case" without a result line after it),
// which names the culprit when a binary dies without writing its report.
func lastStartedCase(output string) string {
	const run = "[ RUN      ] "
	started := ""
	for _, l := range strings.Split(output, "\n") {
		switch {
		case strings.HasPrefix(l, run):
			started = strings.TrimSpace(strings.TrimPrefix(l, run))
		case strings.HasPrefix(l, "[       OK ] "), strings.HasPrefix(l, "[  FAILED  ] "),
			strings.HasPrefix(l, "[  SKIPPED ] "):
			started = ""
		}
	}
	return started
}

// consoleResults returns the cases googletest's console output says ended,
// for a binary that wrote no JSON report (it crashed, or hung and was
// killed). Failure messages are not recovered: the output shows them.
func consoleResults(output string) []caseResult {
	seen := make(map[string]bool)
	var results []caseResult
	for _, l := range strings.Split(output, "\n") {
		var o outcome
		switch {
		case strings.HasPrefix(l, "[       OK ] "):
			o = pass
		case strings.HasPrefix(l, "[  FAILED  ] "):
			o = fail
		case strings.HasPrefix(l, "[  SKIPPED ] "):
			o = skipped
		default:
			continue
		}
		// "Suite.Case (12 ms)"; the closing summary's lines have no time, and
		// "[  FAILED  ] 2 tests, listed below:" no case.
		rest := strings.TrimSpace(l[len("[       OK ] "):])
		name, ms, ok := strings.Cut(rest, " (")
		if !ok || !strings.HasSuffix(ms, " ms)") || strings.Contains(name, " ") || seen[name] {
			continue
		}
		seen[name] = true
		c := caseResult{name: name, outcome: o}
		if n, err := strconv.Atoi(strings.TrimSuffix(ms, " ms)")); err == nil {
			c.duration = time.Duration(n) * time.Millisecond
		}
		results = append(results, c)
	}
	return results
}
