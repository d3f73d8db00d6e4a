package linux

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/arch"
	"visor.dev/visor/pkg/sentry/kernel"
	"visor.dev/visor/pkg/syscallinfo"
)

type recorder struct{ events []kernel.UnsupportedSyscall }

func (r *recorder) ReportUnsupportedSyscall(_ *kernel.Task, ev kernel.UnsupportedSyscall) {
	r.events = append(r.events, ev)
}

// TestTableMatchesInfo checks the dispatch table against the metadata runsc shows:
// both come from syscalls.yaml and must agree row for row.
func TestTableMatchesInfo(t *testing.T) {
	info := syscallinfo.AMD64()
	n := 0
	for nr, s := range AMD64().Table {
		if s.Fn == nil {
			if _, ok := info.Lookup(uintptr(nr)); ok {
				t.Errorf("%d has metadata but no handler", nr)
			}
			continue
		}
		n++
		want, ok := info.Lookup(uintptr(nr))
		if !ok || want.Name != s.Name || want.Status != s.Status {
			t.Errorf("table row %d = %s (%v); metadata says %s (%v)", nr, s.Name, s.Status, want.Name, want.Status)
		}
	}
	if n != len(info) {
		t.Errorf("table has %d system calls, metadata %d", n, len(info))
	}
}

// TestStubsReportAndFail calls every unimplemented system call and checks that it
// fails with the row's errno and reports itself with its arguments.
func TestStubsReportAndFail(t *testing.T) {
	r := &recorder{}
	k, err := kernel.New(kernel.Config{Syscalls: AMD64(), Unsupported: r})
	if err != nil {
		t.Fatal(err)
	}
	task := kernel.NewTestTask(k)
	args := arch.SyscallArguments{{Value: 1}, {Value: 2}, {Value: 3}, {Value: 4}, {Value: 5}, {Value: 6}}
	var want []kernel.UnsupportedSyscall
	for _, s := range syscallinfo.AMD64() {
		if s.Status != syscallinfo.Unimplemented {
			continue
		}
		errno, ok := linux.ErrnoFromName(s.Errno)
		if !ok {
			t.Fatalf("%s: unknown errno %q", s.Name, s.Errno)
		}
		ret, err := task.ExecuteSyscall(s.Nr, args)
		if ret != 0 || !errors.Is(err, errno) {
			t.Errorf("%s = %d, %v; want 0, %v", s.Name, ret, err, errno)
		}
		want = append(want, kernel.UnsupportedSyscall{Sysno: s.Nr, Name: s.Name, Args: args})
	}
	if len(want) == 0 {
		t.Fatal("no unimplemented system calls to check")
	}
	if diff := cmp.Diff(want, r.events); diff != "" {
		t.Errorf("reported events (-want +got):\n%s", diff)
	}
}

func TestPrivilegedCallsFailWithEPERM(t *testing.T) {
	k, err := kernel.New(kernel.Config{Syscalls: AMD64()})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"ioperm", "iopl", "reboot", "init_module", "kexec_load"} {
		s, ok := syscallinfo.AMD64().LookupName(name)
		if !ok {
			t.Fatalf("no %s", name)
		}
		if _, err := kernel.NewTestTask(k).ExecuteSyscall(s.Nr, arch.SyscallArguments{}); !errors.Is(err, linux.EPERM) {
			t.Errorf("%s: err = %v, want EPERM", name, err)
		}
	}
}
