package loader

import (
	"fmt"

	"visor.dev/visor/pkg/sentry/loader/vdso"
	"visor.dev/visor/pkg/sentry/memmap"
	"visor.dev/visor/pkg/sentry/platform"
)

// mapVDSO maps Visor's vDSO, read and execute, where the memory manager chooses,
// and returns its address for AT_SYSINFO_EHDR. The mapping is private: its pages
// are copies of the embedded image, so a debugger writing breakpoints into it (the
// most mprotect may grant) changes only this address space.
func mapVDSO(mm MemoryManager) (uintptr, error) {
	addr, err := mm.MMap(memmap.MMapOpts{
		Length:   pageUp(uint64(vdso.Size())),
		Perms:    platform.AccessType{Read: true, Execute: true},
		MaxPerms: platform.AnyAccess,
		Private:  true,
		Mappable: vdso.Reader(),
		Name:     "[vdso]",
	})
	if err != nil {
		return 0, fmt.Errorf("mapping the vDSO: %w", err)
	}
	return addr, nil
}
