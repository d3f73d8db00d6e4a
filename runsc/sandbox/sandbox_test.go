package sandbox

import (
	"flag"
	"testing"

	"github.com/google/go-cmp/cmp"
	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/runsc/config"
)

func TestExitCode(t *testing.T) {
	for _, tc := range []struct {
		ws   linux.WaitStatus
		want int
	}{
		{linux.WaitStatusExit(0), 0},
		{linux.WaitStatusExit(3), 3},
		{linux.WaitStatusExit(255), 255},
		{linux.WaitStatusSignal(9, false), 137},
		{linux.WaitStatusSignal(11, true), 139},
		{linux.WaitStatusSignal(15, false), 143},
	} {
		if got := ExitCode(tc.ws); got != tc.want {
			t.Errorf("ExitCode(%#x) = %d, want %d", tc.ws, got, tc.want)
		}
	}
}

// TestGlobalFlags checks that a child runsc parses the flags it is given back
// into the caller's configuration, whatever it is.
func TestGlobalFlags(t *testing.T) {
	for _, want := range []config.Config{
		{RootDir: "/run/x y", Platform: config.PlatformPtrace, Network: config.NetworkNone, LogFormat: config.LogFormatText},
		{RootDir: "/r", Debug: true, DebugLog: "/tmp/logs/", LogFilename: "/l=x", LogFormat: config.LogFormatJSON,
			Platform: config.PlatformKVM, Network: config.NetworkHost, Strace: true, Rootless: true},
	} {
		fs := flag.NewFlagSet("runsc", flag.ContinueOnError)
		var got config.Config
		got.RegisterFlags(fs)
		if err := fs.Parse(GlobalFlags(&want)); err != nil {
			t.Fatalf("parsing %q: %v", GlobalFlags(&want), err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("round trip of %q (-want +got):\n%s", GlobalFlags(&want), diff)
		}
	}
}

func TestFDList(t *testing.T) {
	for n, want := range []string{"", "3", "3,4", "3,4,5"} {
		if got := fdList(n); got != want {
			t.Errorf("fdList(%d) = %q, want %q", n, got, want)
		}
	}
}
