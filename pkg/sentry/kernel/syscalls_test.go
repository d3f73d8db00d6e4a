package kernel

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/arch"
)

type recordingReporter struct{ events []UnsupportedSyscall }

func (r *recordingReporter) ReportUnsupportedSyscall(_ *Task, ev UnsupportedSyscall) {
	r.events = append(r.events, ev)
}

func TestExecuteSyscall(t *testing.T) {
	const answer = 42
	table := &SyscallTable{Arch: "test", Table: []Syscall{
		1: {Name: "answer", Fn: func(*Task, uintptr, arch.SyscallArguments) (uintptr, error) { return answer, nil }},
	}}
	r := &recordingReporter{}
	k, err := New(Config{Syscalls: table, Unsupported: r})
	if err != nil {
		t.Fatal(err)
	}
	task := NewTestTask(k)
	args := arch.SyscallArguments{{Value: 7}}

	for _, tc := range []struct {
		sysno   uintptr
		want    uintptr
		wantErr error
	}{
		{sysno: 1, want: answer},
		{sysno: 0, wantErr: linux.ENOSYS},    // a hole in the table
		{sysno: 1000, wantErr: linux.ENOSYS}, // past its end
	} {
		got, err := task.ExecuteSyscall(tc.sysno, args)
		if got != tc.want || !errors.Is(err, tc.wantErr) {
			t.Errorf("ExecuteSyscall(%d) = %d, %v; want %d, %v", tc.sysno, got, err, tc.want, tc.wantErr)
		}
	}
	want := []UnsupportedSyscall{{Sysno: 0, Args: args}, {Sysno: 1000, Args: args}}
	if diff := cmp.Diff(want, r.events); diff != "" {
		t.Errorf("reported events (-want +got):\n%s", diff)
	}
}

func TestNewNeedsTable(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Error("New without a syscall table succeeded")
	}
}
