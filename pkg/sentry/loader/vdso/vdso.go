// Package vdso holds Visor's vDSO: the small shared object the loader maps into every
// new address space ("[vdso]", announced by AT_SYSINFO_EHDR) so that C libraries find
// clock_gettime, gettimeofday, time, getcpu and clock_getres there, under the names
// and version (LINUX_2.6) Linux's x86-64 vDSO uses.
//
// The object is built from vdso.S and vdso.lds by gen.sh (go generate) and checked
// in as vdso.so, so building Visor does not need gcc; the test checks that the
// checked-in file is what the sources build.
package vdso

import (
	_ "embed"
	"strings"
)

//go:generate sh gen.sh

// image is a string, not a []byte, so that nothing can modify the vDSO every
// address space maps.
//
//go:embed vdso.so
var image string

// Reader returns a reader of the vDSO image: an ELF shared object linked at address
// 0 whose single PT_LOAD segment starts at file offset 0, so it works mapped as is at
// any page-aligned address, with no relocation.
func Reader() *strings.Reader {
	return strings.NewReader(image)
}

// Size is the size of the image in bytes.
func Size() int {
	return len(image)
}
