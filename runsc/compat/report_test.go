package compat

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
	"visor.dev/visor/pkg/syscallinfo"
)

// testTable is a small table with one system call of each status.
var testTable = syscallinfo.Table{
	{Nr: 0, Name: "read", Status: syscallinfo.Supported},
	{Nr: 1, Name: "write", Status: syscallinfo.Partial, Note: "no O_DIRECT"},
	{Nr: 39, Name: "getpid", Status: syscallinfo.Unimplemented, Note: "later"},
}

// exited returns the wait status of a process that exited with code.
func exited(code int) unix.WaitStatus { return unix.WaitStatus(code << 8) }

func TestNewReport(t *testing.T) {
	res := &Result{
		Counts: map[Sysno]uint64{
			{AMD64, 0}:                5,
			{AMD64, 1}:                2,
			{AMD64, 39}:               1,
			{AMD64, 999}:              3,
			{X32, x32SyscallBit | 39}: 1,
			{I386, 39}:                4,
			{AMD64, ^uint64(0)}:       1, // syscall(-1), a common probe
		},
		Status: exited(3),
	}
	got := NewReport(res, testTable)
	const other = "Visor implements only the amd64 ABI"
	want := &Report{
		Syscalls: []Entry{
			{Nr: 0, Name: "read", Status: "supported", Count: 5},
			{Nr: 1, Name: "write", Status: "partial", Note: "no O_DIRECT", Count: 2},
			{Nr: 39, Status: "unknown", Note: "i386 system call 39; " + other, Count: 4},
			{Nr: 999, Status: "unknown", Note: "not an amd64 system call number; Linux fails it with ENOSYS", Count: 3},
			{Nr: 39, Name: "getpid", Status: "unimplemented", Note: "later", Count: 1},
			{Nr: 39 | x32SyscallBit, Status: "unknown", Note: "x32 system call 39; " + other, Count: 1},
			{Nr: ^uint64(0), Status: "unknown", Note: "not an amd64 system call number; Linux fails it with ENOSYS", Count: 1},
		},
		Totals:     Totals{Syscalls: 7, Calls: 17, Supported: 1, Partial: 1, Unimplemented: 1, Unknown: 4},
		ExitStatus: 3,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("NewReport (-want +got):\n%s", diff)
	}
	if got.AllSupported() {
		t.Errorf("AllSupported() = true with unsupported calls")
	}
}

func TestAllSupported(t *testing.T) {
	for _, tc := range []struct {
		name   string
		counts map[Sysno]uint64
		want   bool
	}{
		{"supported only", map[Sysno]uint64{{AMD64, 0}: 1}, true},
		{"none at all", map[Sysno]uint64{}, true},
		{"partial", map[Sysno]uint64{{AMD64, 0}: 1, {AMD64, 1}: 1}, false},
		{"unimplemented", map[Sysno]uint64{{AMD64, 39}: 1}, false},
		{"unknown number", map[Sysno]uint64{{AMD64, 0}: 1, {AMD64, 999}: 1}, false},
		{"supported number, other ABI", map[Sysno]uint64{{I386, 0}: 1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReport(&Result{Counts: tc.counts}, testTable)
			if got := r.AllSupported(); got != tc.want {
				t.Errorf("AllSupported() = %t, want %t; report %+v", got, tc.want, r)
			}
		})
	}
}

func TestExitStatus(t *testing.T) {
	for _, tc := range []struct {
		ws   unix.WaitStatus
		want int
	}{
		{exited(0), 0},
		{exited(42), 42},
		{unix.WaitStatus(unix.SIGKILL), 128 + 9},
		{unix.WaitStatus(unix.SIGSEGV) | 0x80, 128 + 11}, // core dumped
	} {
		if got := NewReport(&Result{Status: tc.ws}, testTable).ExitStatus; got != tc.want {
			t.Errorf("exit status of wait status %#x = %d, want %d", uint32(tc.ws), got, tc.want)
		}
	}
}

func TestWriteJSON(t *testing.T) {
	r := NewReport(&Result{Counts: map[Sysno]uint64{{AMD64, 0}: 2, {AMD64, 999}: 1}, Status: exited(1)}, testTable)
	var buf bytes.Buffer
	if err := r.WriteJSON(&buf); err != nil {
		t.Fatalf("WriteJSON: %v", err)
	}
	// Decode generically so that the test pins the exact keys, not just the fields.
	var got any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("WriteJSON wrote invalid JSON %q: %v", buf.String(), err)
	}
	want := map[string]any{
		"syscalls": []any{
			map[string]any{"nr": 0.0, "name": "read", "status": "supported", "note": "", "count": 2.0},
			map[string]any{"nr": 999.0, "name": "", "status": "unknown",
				"note": "not an amd64 system call number; Linux fails it with ENOSYS", "count": 1.0},
		},
		"totals": map[string]any{"syscalls": 2.0, "calls": 3.0, "supported": 1.0, "partial": 0.0,
			"unimplemented": 0.0, "unknown": 1.0},
		"exit_status": 1.0,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("WriteJSON (-want +got):\n%s", diff)
	}
}

func TestWriteTable(t *testing.T) {
	r := NewReport(&Result{
		Counts: map[Sysno]uint64{{AMD64, 0}: 12, {AMD64, 39}: 1, {AMD64, 999}: 3},
		Status: exited(0),
	}, testTable)
	var buf bytes.Buffer
	if err := r.WriteTable(&buf); err != nil {
		t.Fatalf("WriteTable: %v", err)
	}
	want := strings.Join([]string{
		"SUPPORTED:",
		"  NR  NAME  COUNT",
		"  0   read  12",
		"",
		"PARTIAL: none",
		"",
		"UNSUPPORTED:",
		"  NR   NAME    COUNT  STATUS         NOTE",
		"  999  ?       3      unknown        not an amd64 system call number; Linux fails it with ENOSYS",
		"  39   getpid  1      unimplemented  later",
		"",
		"3 system calls, 16 calls: 1 supported, 0 partial, 1 unimplemented, 1 unknown",
		"command exit status: 0",
		"",
	}, "\n")
	if diff := cmp.Diff(want, buf.String()); diff != "" {
		t.Errorf("WriteTable (-want +got):\n%s", diff)
	}
}
