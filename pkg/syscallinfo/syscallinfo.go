// Package syscallinfo describes every system call of the amd64 Linux ABI as Visor sees
// it: number, name, arguments, and how far Visor supports it. Its tables are generated
// from syscalls.yaml by tools/gen; runsc reads them for `runsc help syscalls`,
// `runsc compat` and --strace, so they hold no Sentry code.
package syscallinfo

import (
	"fmt"
	"sort"
)

// Status is how far Visor implements a system call.
type Status int

// The support statuses, as written in syscalls.yaml.
const (
	Unimplemented Status = iota
	Partial
	Supported
)

var statusNames = [...]string{
	Unimplemented: "unimplemented",
	Partial:       "partial",
	Supported:     "supported",
}

// String returns the status as syscalls.yaml spells it.
func (s Status) String() string {
	if s < 0 || int(s) >= len(statusNames) {
		return fmt.Sprintf("Status(%d)", int(s))
	}
	return statusNames[s]
}

// ParseStatus parses a status as syscalls.yaml spells it.
func ParseStatus(name string) (Status, error) {
	for s, n := range statusNames {
		if n == name {
			return Status(s), nil
		}
	}
	return 0, fmt.Errorf("unknown status %q (want one of supported, partial, unimplemented)", name)
}

// Arg is one argument of a system call, as the kernel declares it.
type Arg struct {
	Name string
	Type string // C type, e.g. "const char *"
}

// Syscall describes one system call.
type Syscall struct {
	Nr     uintptr
	Name   string
	Area   string // group in the docs, e.g. "file", "process", "memory"
	Args   []Arg
	Status Status
	// Errno is the name of the errno an unimplemented call fails with, e.g. "ENOSYS".
	Errno string
	// Note tells users what is missing; set for partial and unimplemented calls.
	Note string
}

// Table is one architecture's system calls, sorted by number.
type Table []Syscall

// Lookup returns the system call numbered nr.
func (t Table) Lookup(nr uintptr) (Syscall, bool) {
	i := sort.Search(len(t), func(i int) bool { return t[i].Nr >= nr })
	if i < len(t) && t[i].Nr == nr {
		return t[i], true
	}
	return Syscall{}, false
}

// LookupName returns the system call called name.
func (t Table) LookupName(name string) (Syscall, bool) {
	for _, s := range t {
		if s.Name == name {
			return s, true
		}
	}
	return Syscall{}, false
}

// Count returns how many system calls have each status.
func (t Table) Count() map[Status]int {
	c := make(map[Status]int)
	for _, s := range t {
		c[s.Status]++
	}
	return c
}

//go:generate go run visor.dev/visor/tools/gen
