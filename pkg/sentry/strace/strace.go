// Package strace logs application system calls as they return, with their
// arguments decoded from syscallinfo's table: runsc --strace.
package strace

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/kernel"
	"visor.dev/visor/pkg/syscallinfo"
)

// maxStringLen is how much of a string argument is shown.
const maxStringLen = 64

// Tracer writes one line per system call to its writer.
type Tracer struct {
	table syscallinfo.Table
	// mu serializes lines from concurrent tasks.
	mu sync.Mutex
	w  io.Writer
}

// New returns a Tracer that writes to w, decoding calls with table.
func New(w io.Writer, table syscallinfo.Table) *Tracer {
	return &Tracer{table: table, w: w}
}

// SyscallExit implements kernel.SyscallTracer.
//
// Preconditions: called by t's task goroutine (it reads t's memory).
func (s *Tracer) SyscallExit(t *kernel.Task, sysno uintptr, args [6]uintptr, rval uintptr, err error) {
	var b strings.Builder
	fmt.Fprintf(&b, "[%d] ", t.ThreadID())
	info, ok := s.table.Lookup(sysno)
	if !ok {
		fmt.Fprintf(&b, "syscall_%d(%#x, %#x, %#x, %#x, %#x, %#x)", sysno, args[0], args[1], args[2], args[3], args[4], args[5])
	} else {
		b.WriteString(info.Name)
		b.WriteByte('(')
		for i, a := range info.Args {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(formatArg(t, a, args[i]))
		}
		b.WriteByte(')')
	}
	b.WriteString(" = ")
	if err != nil {
		errno := kernel.ErrnoOf(err)
		if errno == 0 {
			errno = linux.EIO
		}
		name := errno.Name()
		if name == "" {
			name = "errno " + strconv.Itoa(int(errno))
		}
		fmt.Fprintf(&b, "-1 %s (%s)", name, err)
	} else {
		fmt.Fprintf(&b, "%d", int64(rval))
		if rval > 0xffff {
			fmt.Fprintf(&b, " (%#x)", rval)
		}
	}
	b.WriteByte('\n')
	s.mu.Lock()
	defer s.mu.Unlock()
	io.WriteString(s.w, b.String())
}

// formatArg shows one argument as its C type suggests: strings read from the
// application's memory, pointers in hex, integers in decimal.
func formatArg(t *kernel.Task, a syscallinfo.Arg, v uintptr) string {
	typ := a.Type
	switch {
	case v != 0 && (typ == "const char *" || typ == "char *") && isPathLike(a.Name):
		str, err := t.CopyInString(v, maxStringLen)
		if err != nil {
			if err == linux.ENAMETOOLONG {
				buf := make([]byte, maxStringLen)
				if n, _ := t.CopyInBytes(v, buf); n > 0 {
					return strconv.Quote(string(buf[:n])) + "..."
				}
			}
			return fmt.Sprintf("%#x", v)
		}
		return strconv.Quote(str)
	case strings.HasSuffix(typ, "*"):
		if v == 0 {
			return "NULL"
		}
		return fmt.Sprintf("%#x", v)
	case typ == "int" || typ == "pid_t" || typ == "clockid_t":
		return strconv.Itoa(int(int32(v)))
	case strings.HasPrefix(typ, "unsigned") || typ == "size_t" || typ == "u32" || typ == "u64" || typ == "umode_t":
		if strings.Contains(a.Name, "flag") || strings.Contains(a.Name, "prot") || typ == "umode_t" {
			return fmt.Sprintf("%#x", v)
		}
		return strconv.FormatUint(uint64(v), 10)
	}
	return strconv.FormatInt(int64(v), 10)
}

// isPathLike reports whether a char* argument named name is a NUL-terminated
// string (a path or name) rather than a buffer.
func isPathLike(name string) bool {
	switch name {
	case "buf", "ubuf":
		return false
	}
	return true
}
