package ptrace

import (
	"unsafe"

	"golang.org/x/sys/unix"

	"visor.dev/visor/pkg/abi/linux"
)

// The ptrace requests here are non-blocking, so they use RawSyscall: entering the Go
// scheduler (Syscall) would cost more than the request itself on the Switch hot path.
//
// Precondition for all of them: the calling goroutine is locked to the OS thread that
// traces tid, and tid is in a ptrace-stop.

func ptraceRaw(req int, tid int32, addr, data uintptr) error {
	_, _, errno := unix.RawSyscall6(unix.SYS_PTRACE, uintptr(req), uintptr(tid), addr, data, 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// getRegs reads tid's general registers into regs.
func getRegs(tid int32, regs *linux.PtraceRegs) error {
	return ptraceRaw(unix.PTRACE_GETREGS, tid, 0, uintptr(unsafe.Pointer(regs)))
}

// setRegs writes regs to tid's general registers.
func setRegs(tid int32, regs *linux.PtraceRegs) error {
	return ptraceRaw(unix.PTRACE_SETREGS, tid, 0, uintptr(unsafe.Pointer(regs)))
}

// getSigInfo reads the siginfo of the signal tid is stopped for.
func getSigInfo(tid int32, si *linux.SignalInfo) error {
	return ptraceRaw(unix.PTRACE_GETSIGINFO, tid, 0, uintptr(unsafe.Pointer(si)))
}

// ntX86XState is the NT_X86_XSTATE regset: the XSAVE area (x87, SSE, AVX, ...).
const ntX86XState = 0x202

// getRegSet reads regset note of tid into buf and returns the length the kernel
// filled in.
func getRegSet(tid int32, note uintptr, buf []byte) (int, error) {
	if len(buf) == 0 {
		return 0, unix.EINVAL
	}
	iov := unix.Iovec{Base: &buf[0]}
	iov.SetLen(len(buf))
	if err := ptraceRaw(unix.PTRACE_GETREGSET, tid, note, uintptr(unsafe.Pointer(&iov))); err != nil {
		return 0, err
	}
	return int(iov.Len), nil
}

// setRegSet writes buf to regset note of tid.
func setRegSet(tid int32, note uintptr, buf []byte) error {
	if len(buf) == 0 {
		return unix.EINVAL
	}
	iov := unix.Iovec{Base: &buf[0]}
	iov.SetLen(len(buf))
	return ptraceRaw(unix.PTRACE_SETREGSET, tid, note, uintptr(unsafe.Pointer(&iov)))
}

// getCPU returns the CPU the calling thread is running on.
func getCPU() (int, error) {
	var cpu uint32
	_, _, errno := unix.RawSyscall(unix.SYS_GETCPU, uintptr(unsafe.Pointer(&cpu)), 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(cpu), nil
}
