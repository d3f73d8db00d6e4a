package linux

import (
	"time"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/arch"
	"visor.dev/visor/pkg/sentry/kernel"
)

// Sysinfo implements sysinfo(2) with the sandbox's own uptime and process count;
// memory is the sandbox's total and what its memory file holds.
func Sysinfo(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	k := t.Kernel()
	total, used := k.TotalMemory(), k.MemoryFile().Committed()
	si := linux.Sysinfo{
		Uptime:   int64(time.Since(k.BootTime()) / time.Second),
		TotalRAM: total,
		FreeRAM:  total - min(used, total),
		Procs:    uint16(len(k.RootPIDNamespace().ThreadGroups())),
		Unit:     1,
	}
	return 0, t.CopyOutStruct(args[0].Pointer(), &si)
}
