package linux

import (
	"encoding/binary"
	"sync"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/arch"
	"visor.dev/visor/pkg/sentry/fsimpl/pipefs"
	"visor.dev/visor/pkg/sentry/kernel"
	"visor.dev/visor/pkg/sentry/vfs"
)

// pipeMounts maps each VirtualFilesystem to its pipefs mount, made on first use.
var (
	pipeMountsMu sync.Mutex
	pipeMounts   = map[*vfs.VirtualFilesystem]*vfs.Mount{}
)

// pipeMount returns the pipefs mount of t's VFS.
func pipeMount(t *kernel.Task) *vfs.Mount {
	vfsObj := t.Kernel().VFS()
	pipeMountsMu.Lock()
	defer pipeMountsMu.Unlock()
	mnt, ok := pipeMounts[vfsObj]
	if !ok {
		mnt = pipefs.NewMount(vfsObj)
		pipeMounts[vfsObj] = mnt
	}
	return mnt
}

// newFDPair installs files a and b at the lowest free descriptors, in that order,
// and writes their numbers as two ints to addr. On any failure neither stays
// installed. The caller keeps its own references.
func newFDPair(t *kernel.Task, a, b *vfs.FileDescription, cloexec bool, addr uintptr) error {
	fdTable := t.FDTable()
	limit := nofileLimit(t)
	flags := kernel.FDFlags{CloseOnExec: cloexec}
	fa, err := fdTable.NewFD(0, a, flags, limit)
	if err != nil {
		return err
	}
	fb, err := fdTable.NewFD(0, b, flags, limit)
	if err != nil {
		if f := fdTable.Remove(fa); f != nil {
			f.DecRef()
		}
		return err
	}
	var buf [8]byte
	binary.LittleEndian.PutUint32(buf[0:], uint32(fa))
	binary.LittleEndian.PutUint32(buf[4:], uint32(fb))
	if _, err := t.CopyOutBytes(addr, buf[:]); err != nil {
		for _, fd := range []int32{fa, fb} {
			if f := fdTable.Remove(fd); f != nil {
				f.DecRef()
			}
		}
		return err
	}
	return nil
}

// pipe2 is pipe(2) and pipe2(2).
func pipe2(t *kernel.Task, addr uintptr, flags uint32) error {
	// O_DIRECT asks for packet mode, which Visor's pipes lack: refuse it rather
	// than pretend.
	if flags&^(linux.O_NONBLOCK|linux.O_CLOEXEC) != 0 {
		return linux.EINVAL
	}
	r, w, err := pipefs.NewConnectedPipeFDs(t, pipeMount(t), flags)
	if err != nil {
		return err
	}
	defer r.DecRef()
	defer w.DecRef()
	return newFDPair(t, r, w, flags&linux.O_CLOEXEC != 0, addr)
}

// Pipe implements pipe(2).
func Pipe(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	return 0, pipe2(t, args[0].Pointer(), 0)
}

// Pipe2 implements pipe2(2): O_CLOEXEC and O_NONBLOCK. O_DIRECT (packet mode)
// fails with EINVAL.
func Pipe2(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	return 0, pipe2(t, args[0].Pointer(), args[1].Uint())
}
