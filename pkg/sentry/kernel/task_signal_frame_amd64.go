package kernel

import (
	"bytes"
	"encoding/binary"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/platform"
)

// The amd64 signal frame, as Linux's rt_sigframe lays it out on the user stack:
// the return address (sa_restorer), a ucontext, then the siginfo.
const (
	redZoneSize     = 128
	ucontextSize    = 304
	siginfoSize     = 128
	signalFrameSize = 8 + ucontextSize + siginfoSize
)

// eflags bits a signal handler starts with cleared: trap (single step) and direction.
const (
	eflagsTF = 1 << 8
	eflagsDF = 1 << 10
	// eflagsUser are the bits sigreturn may restore (Linux's FIX_EFLAGS).
	eflagsUser = 0x00000001 | 0x00000004 | 0x00000010 | 0x00000040 | 0x00000080 |
		0x00000100 | 0x00000400 | 0x00000800 | 0x00040000 | 0x00200000 | 0x00010000
)

// setupSignalFrameLocked pushes a signal frame for info and points the registers at
// act's handler. oldMask is the mask sigreturn will restore.
//
// Preconditions: called by the task goroutine; ts.mu is locked for reading and
// signalHandlers.mu is locked.
func (t *Task) setupSignalFrameLocked(info *linux.SignalInfo, act *linux.SigAction, oldMask linux.SignalSet) error {
	if act.Flags&linux.SA_RESTORER == 0 {
		// x86-64 has no kernel-provided trampoline: without a restorer the handler
		// could never return.
		return linux.EFAULT
	}
	r := &t.arch.Regs
	sp := r.Rsp - redZoneSize
	stack := t.signalStack
	onStack := t.onSignalStackLocked()
	if act.Flags&linux.SA_ONSTACK != 0 && stack.Flags&linux.SS_DISABLE == 0 && stack.Size != 0 && !onStack {
		sp = stack.Addr + stack.Size
	}
	// The floating-point and vector registers go below the frame, 64-byte
	// aligned as XSAVE wants, so the handler may use them freely.
	var fpAddr uint64
	xstate := t.saveXState()
	if xstate != nil {
		sp = (sp - uint64(len(xstate))) &^ 63
		fpAddr = sp
		if _, err := t.image.mm.CopyOut(uintptr(fpAddr), xstate); err != nil {
			return err
		}
	}
	sp = (sp-signalFrameSize)&^15 - 8

	uc := linux.UContext64{
		Stack: stack,
		MContext: linux.SignalContext64{
			R8: r.R8, R9: r.R9, R10: r.R10, R11: r.R11, R12: r.R12, R13: r.R13, R14: r.R14, R15: r.R15,
			Rdi: r.Rdi, Rsi: r.Rsi, Rbp: r.Rbp, Rbx: r.Rbx, Rdx: r.Rdx, Rax: r.Rax, Rcx: r.Rcx,
			Rsp: r.Rsp, Rip: r.Rip, Eflags: r.Eflags,
			Cs: uint16(r.Cs), Ss: uint16(r.Ss),
			Oldmask: oldMask,
			Cr2:     info.Addr(),
			Fpstate: fpAddr,
		},
		Sigset: oldMask,
	}
	if onStack {
		uc.Stack.Flags |= linux.SS_ONSTACK
	}
	if info.Signo == linux.SIGSEGV || info.Signo == linux.SIGBUS {
		uc.MContext.Trapno = 14 // page fault
	}

	var frame bytes.Buffer
	frame.Grow(signalFrameSize)
	binary.Write(&frame, binary.LittleEndian, act.Restorer)
	binary.Write(&frame, binary.LittleEndian, &uc)
	binary.Write(&frame, binary.LittleEndian, info)
	if _, err := t.image.mm.CopyOut(uintptr(sp), frame.Bytes()); err != nil {
		return err
	}

	r.Rsp = sp
	r.Rip = act.Handler
	r.Rdi = uint64(info.Signo)
	r.Rsi = sp + 8 + ucontextSize
	r.Rdx = sp + 8
	r.Rax = 0
	r.Eflags &^= eflagsTF | eflagsDF
	r.Orig_rax = ^uint64(0)
	if act.Flags&linux.SA_ONSTACK != 0 && uint32(stack.Flags)&linux.SS_AUTODISARM != 0 {
		t.signalStack = linux.SignalStack{Flags: linux.SS_DISABLE}
	}
	return nil
}

// SignalReturn restores the state a signal frame saved (rt_sigreturn) and returns
// the restored rax, which the syscall must return so it is not clobbered.
//
// Preconditions: called by the task goroutine.
func (t *Task) SignalReturn() (uintptr, error) {
	r := &t.arch.Regs
	// The handler's return popped the restorer address: rsp is at the ucontext.
	buf := make([]byte, ucontextSize)
	if _, err := t.image.mm.CopyIn(uintptr(r.Rsp), buf); err != nil {
		return 0, err
	}
	var uc linux.UContext64
	if err := binary.Read(bytes.NewReader(buf), binary.LittleEndian, &uc); err != nil {
		return 0, linux.EFAULT
	}
	m := &uc.MContext
	r.R8, r.R9, r.R10, r.R11 = m.R8, m.R9, m.R10, m.R11
	r.R12, r.R13, r.R14, r.R15 = m.R12, m.R13, m.R14, m.R15
	r.Rdi, r.Rsi, r.Rbp, r.Rbx = m.Rdi, m.Rsi, m.Rbp, m.Rbx
	r.Rdx, r.Rax, r.Rcx, r.Rsp, r.Rip = m.Rdx, m.Rax, m.Rcx, m.Rsp, m.Rip
	r.Eflags = r.Eflags&^eflagsUser | m.Eflags&eflagsUser
	// Segment registers stay as they are: a frame cannot switch to another
	// code or stack segment.
	r.Orig_rax = ^uint64(0)

	if m.Fpstate != 0 {
		if err := t.restoreXState(uintptr(m.Fpstate)); err != nil {
			return 0, err
		}
	}

	sh := t.tg.signalHandlers
	sh.mu.Lock()
	t.setSignalMaskLocked(uc.Sigset)
	if !t.onSignalStackLocked() {
		// Like restore_altstack: errors (e.g. EPERM) are ignored.
		s := uc.Stack
		s.Flags &^= linux.SS_ONSTACK
		t.signalStack = s
	}
	sh.mu.Unlock()
	return uintptr(r.Rax), nil
}

// xstateContext is a platform context that can read and write a thread's
// floating-point and vector registers in the XSAVE layout (the ptrace platform's).
type xstateContext interface {
	GetXState(as platform.AddressSpace, buf []byte) ([]byte, error)
	SetXState(as platform.AddressSpace, state []byte) error
}

// maxXStateSize bounds the XSAVE area (AVX-512 needs about 2.7 KiB).
const maxXStateSize = 4096

// saveXState returns t's floating-point and vector registers in the XSAVE layout,
// or nil if the platform cannot read them (the frame then has no fpstate, and the
// handler's use of them is not undone).
func (t *Task) saveXState() []byte {
	xc, ok := t.pctx.(xstateContext)
	if !ok {
		return nil
	}
	as, err := t.image.mm.AddressSpace()
	if err != nil {
		return nil
	}
	xs, err := xc.GetXState(as, make([]byte, maxXStateSize))
	if err != nil {
		// The caller holds ts.mu: ThreadID would lock it again, and wait
		// behind a writer that waits for the caller.
		t.k.logf("task %d: saving FP state for a signal frame: %v", t.k.tasks.root.tids[t], err)
		return nil
	}
	t.k.xstateSize.CompareAndSwap(0, int32(len(xs)))
	return xs
}

// restoreXState loads the XSAVE area a signal frame saved at addr back into t's
// registers; the host checks it, so a corrupt area fails like a bad frame.
func (t *Task) restoreXState(addr uintptr) error {
	xc, ok := t.pctx.(xstateContext)
	size := t.k.xstateSize.Load()
	if !ok || size == 0 {
		return nil
	}
	buf := make([]byte, size)
	if _, err := t.image.mm.CopyIn(addr, buf); err != nil {
		return err
	}
	as, err := t.image.mm.AddressSpace()
	if err != nil {
		return err
	}
	if err := xc.SetXState(as, buf); err != nil {
		return linux.EFAULT
	}
	return nil
}
