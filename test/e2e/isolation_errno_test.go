package e2e

// Isolation cases whose errno once differed from Linux's and now matches it
// (they were in isolation_failing_test.go, behind the e2e_sentry tag). The host
// side of each is checked in isolation2_test.go.

import "testing"

// TestClockEPERM checks that setting the clock fails with EPERM, as it does in a
// container without CAP_SYS_TIME (the Sentry said ENOSYS before bae746b).
func TestClockEPERM(t *testing.T) {
	got := privilegedResults(t)
	for _, name := range []string{"clock_settime", "settimeofday"} {
		if got[name] != "EPERM" {
			t.Errorf("%s in the container: %q, want EPERM", name, got[name])
		}
	}
}
