package loader

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/memmap"
	"visor.dev/visor/pkg/sentry/platform"
)

// testLayout is an x86-64 address space as the kernel would lay it out.
var testLayout = Layout{
	MinAddr:  0x10000,
	MaxAddr:  0x7ffffffff000,
	MmapBase: 0x7ff000000000,
	StackTop: 0x7ffffffde000,
}

// seededRand returns a deterministic source of "random" bytes.
func seededRand(seed byte) *rand.ChaCha8 {
	return rand.NewChaCha8([32]byte{seed})
}

// load runs Load with the fakes and checks what holds for every image.
func load(t *testing.T, o Opener, filename string, argv, envv []string) (*Image, *fakeMM) {
	t.Helper()
	mm := newFakeMM(testLayout)
	img, err := Load(Args{
		MM:       mm,
		Opener:   o,
		Filename: filename,
		Argv:     argv,
		Envv:     envv,
		Layout:   testLayout,
		Creds:    Credentials{UID: 1, EUID: 2, GID: 3, EGID: 4},
		Rand:     seededRand(1),
	})
	if err != nil {
		t.Fatalf("Load(%q): %v", filename, err)
	}
	if mm.brk != img.BrkStart || img.BrkStart%pageSize != 0 {
		t.Errorf("brk set to %#x, image says %#x", mm.brk, img.BrkStart)
	}
	checkStack(t, mm, img, filename, envv)
	checkVDSO(t, mm, img)
	return img, mm
}

// auxv returns the value of key in img's auxiliary vector.
func auxv(t *testing.T, img *Image, key uint64) uint64 {
	t.Helper()
	for _, e := range img.Auxv {
		if e.Key == key {
			return e.Value
		}
	}
	t.Fatalf("auxv has no key %d", key)
	return 0
}

// mapping returns the MMap call that covers addr last.
func mapping(t *testing.T, mm *fakeMM, addr uintptr) memmap.MMapOpts {
	t.Helper()
	v := mm.find(addr)
	if v == nil {
		t.Fatalf("%#x is not mapped", addr)
	}
	return v.opts
}

func permsOf(flags elf.ProgFlag) platform.AccessType {
	return platform.AccessType{Read: flags&elf.PF_R != 0, Write: flags&elf.PF_W != 0, Execute: flags&elf.PF_X != 0}
}

// checkSegments checks that every PT_LOAD of the ELF file at path is mapped at
// bias with its permissions, that memory holds the file's bytes, and that the bss
// (including the rest of the last file page) reads as zero.
func checkSegments(t *testing.T, mm *fakeMM, path string, bias uintptr) *elf.File {
	t.Helper()
	ef, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ef.Close() })
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ef.Progs {
		if p.Type != elf.PT_LOAD || p.Memsz == 0 {
			continue
		}
		addr := uintptr(p.Vaddr) + bias
		m := mapping(t, mm, addr)
		if m.Perms != permsOf(p.Flags) || !m.Private {
			t.Errorf("%s: segment at %#x mapped %+v private %v, want %+v private", path, addr, m.Perms, m.Private, permsOf(p.Flags))
		}
		if m.Mappable != nil && m.Name != path {
			t.Errorf("%s: segment at %#x named %q", path, addr, m.Name)
		}
		got := mm.mustRead(addr, int(p.Filesz))
		if !bytes.Equal(got, data[p.Off:p.Off+p.Filesz]) {
			t.Errorf("%s: segment at %#x does not hold the file's bytes", path, addr)
		}
		zeroEnd := uintptr(pageUp(p.Vaddr+p.Memsz)) + bias
		if p.Memsz > p.Filesz {
			if z := mm.mustRead(addr+uintptr(p.Filesz), int(zeroEnd-addr-uintptr(p.Filesz))); bytes.ContainsFunc(z, func(r rune) bool { return r != 0 }) {
				t.Errorf("%s: bss of segment at %#x is not zero", path, addr)
			}
		}
	}
	return ef
}

// checkStack decodes the initial stack from memory and checks it against img and
// the arguments.
func checkStack(t *testing.T, mm *fakeMM, img *Image, filename string, envv []string) {
	t.Helper()
	if img.StackPointer%16 != 0 {
		t.Errorf("stack pointer %#x not 16-byte aligned", img.StackPointer)
	}
	st := mapping(t, mm, img.StackPointer)
	if st.Name != "[stack]" || !st.GrowsDown || st.Perms != platform.ReadWrite || st.Addr+uintptr(st.Length) != testLayout.StackTop {
		t.Errorf("stack mapping %+v", st)
	}
	sp := img.StackPointer
	word := func() uint64 {
		w := binary.LittleEndian.Uint64(mm.mustRead(sp, 8))
		sp += 8
		return w
	}
	str := func(addr uint64) string {
		b := mm.mustRead(uintptr(addr), int(testLayout.StackTop-uintptr(addr)))
		return string(b[:bytes.IndexByte(b, 0)])
	}
	strs := func() (ptrs []uint64, ss []string) {
		for p := word(); p != 0; p = word() {
			ptrs = append(ptrs, p)
			ss = append(ss, str(p))
		}
		return
	}
	argc := word()
	argvPtrs, argv := strs()
	envvPtrs, gotEnvv := strs()
	if uint64(len(argv)) != argc {
		t.Errorf("argc %d, %d argv pointers", argc, len(argv))
	}
	var aux []AuxEntry
	for {
		k, v := word(), word()
		if k == linux.AT_NULL {
			break
		}
		aux = append(aux, AuxEntry{k, v})
	}
	if diff := cmp.Diff(img.Auxv, aux); diff != "" {
		t.Errorf("auxv on the stack differs from the image's (-image +stack):\n%s", diff)
	}
	if diff := cmp.Diff(envv, gotEnvv); diff != "" && len(envv)+len(gotEnvv) > 0 {
		t.Errorf("envp (-want +got):\n%s", diff)
	}
	// The strings are contiguous, argv then envp, bounded by the image's ranges.
	joined := func(ss []string) string { return strings.Join(ss, "\x00") + "\x00" }
	if len(argv) > 0 {
		if uintptr(argvPtrs[0]) != img.ArgvStart || string(mm.mustRead(img.ArgvStart, int(img.ArgvEnd-img.ArgvStart))) != joined(argv) {
			t.Errorf("argv strings not at [%#x, %#x)", img.ArgvStart, img.ArgvEnd)
		}
	}
	if len(envv) > 0 {
		if uintptr(envvPtrs[0]) != img.EnvvStart || string(mm.mustRead(img.EnvvStart, int(img.EnvvEnd-img.EnvvStart))) != joined(envv) {
			t.Errorf("envp strings not at [%#x, %#x)", img.EnvvStart, img.EnvvEnd)
		}
	}
	if img.ArgvEnd != img.EnvvStart {
		t.Errorf("argv ends at %#x, envp starts at %#x", img.ArgvEnd, img.EnvvStart)
	}
	if got := str(auxv(t, img, linux.AT_EXECFN)); got != filename {
		t.Errorf("AT_EXECFN %q, want %q", got, filename)
	}
	if got := str(auxv(t, img, linux.AT_PLATFORM)); got != "x86_64" {
		t.Errorf("AT_PLATFORM %q", got)
	}
	var want [16]byte
	r := seededRand(1)
	// The same seed: the stack gap, then the PIE base (for ET_DYN), then AT_RANDOM.
	_, _ = r.Read(make([]byte, 8))
	if elfType(img) == elf.ET_DYN {
		_, _ = r.Read(make([]byte, 8))
	}
	_, _ = r.Read(want[:])
	if got := mm.mustRead(uintptr(auxv(t, img, linux.AT_RANDOM)), 16); !bytes.Equal(got, want[:]) {
		t.Errorf("AT_RANDOM bytes %x, want %x", got, want)
	}
	for key, want := range map[uint64]uint64{
		linux.AT_PAGESZ: pageSize, linux.AT_PHENT: 56, linux.AT_CLKTCK: 100, linux.AT_FLAGS: 0,
		linux.AT_UID: 1, linux.AT_EUID: 2, linux.AT_GID: 3, linux.AT_EGID: 4, linux.AT_SECURE: 0,
		linux.AT_HWCAP: hwcap, linux.AT_HWCAP2: 0, linux.AT_MINSIGSTKSZ: minSigStackSize,
		linux.AT_SYSINFO_EHDR: uint64(img.VDSOAddr),
	} {
		if got := auxv(t, img, key); got != want {
			t.Errorf("auxv key %d = %#x, want %#x", key, got, want)
		}
	}
}

func elfType(img *Image) elf.Type {
	ef, err := elf.NewFile(img.Executable)
	if err != nil {
		return elf.ET_NONE
	}
	return ef.Type
}

func checkVDSO(t *testing.T, mm *fakeMM, img *Image) {
	t.Helper()
	m := mapping(t, mm, img.VDSOAddr)
	if m.Name != "[vdso]" || m.Perms != (platform.AccessType{Read: true, Execute: true}) || m.Addr != img.VDSOAddr {
		t.Errorf("vDSO mapping %+v", m)
	}
	if !isELF(mm.mustRead(img.VDSOAddr, 4)) {
		t.Errorf("no ELF header at the vDSO address %#x", img.VDSOAddr)
	}
}

// interpOf returns the PT_INTERP path of the ELF file at path.
func interpOf(t *testing.T, path string) string {
	ef, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP {
			b := make([]byte, p.Filesz)
			p.ReadAt(b, 0)
			return string(bytes.TrimRight(b, "\x00"))
		}
	}
	return ""
}

func TestLoadDynamicPIE(t *testing.T) {
	const path = "/bin/true"
	interp := interpOf(t, path)
	if interp == "" {
		t.Fatalf("%s has no PT_INTERP", path)
	}
	argv := []string{"true", "--version"}
	envv := []string{"HOME=/root", "PATH=/bin"}
	img, mm := load(t, &fakeOpener{}, path, argv, envv)

	// The program is a PIE: placed at two thirds of the address space plus a
	// random offset, below the mmap area.
	exePath, err := filepath.EvalSymlinks(path)
	if err != nil {
		t.Fatal(err)
	}
	ef, err := elf.Open(exePath)
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	var phdrVaddr uint64
	for _, p := range ef.Progs {
		if p.Type == elf.PT_PHDR {
			phdrVaddr = p.Vaddr
		}
	}
	phdr := uintptr(auxv(t, img, linux.AT_PHDR))
	bias := phdr - uintptr(phdrVaddr)
	if bias%pageSize != 0 || bias < testLayout.MaxAddr/3*2 || bias >= testLayout.MmapBase {
		t.Errorf("PIE bias %#x, want page-aligned in [%#x, %#x)", bias, testLayout.MaxAddr/3*2, testLayout.MmapBase)
	}
	if got, want := auxv(t, img, linux.AT_ENTRY), ef.Entry+uint64(bias); got != want {
		t.Errorf("AT_ENTRY %#x, want %#x", got, want)
	}
	if got := auxv(t, img, linux.AT_PHNUM); got != uint64(len(ef.Progs)) {
		t.Errorf("AT_PHNUM %d, want %d", got, len(ef.Progs))
	}
	raw, err := os.ReadFile(exePath)
	if err != nil {
		t.Fatal(err)
	}
	if got := mm.mustRead(phdr, len(ef.Progs)*phdrSize); !bytes.Equal(got, raw[64:64+len(got)]) {
		t.Errorf("AT_PHDR %#x does not point at the program headers", phdr)
	}
	checkSegments(t, mm, exePath, bias)

	// The interpreter is loaded where mm chose, and runs first.
	ldPath, err := filepath.EvalSymlinks(interp)
	if err != nil {
		t.Fatal(err)
	}
	base := uintptr(auxv(t, img, linux.AT_BASE))
	if base == 0 || base%pageSize != 0 {
		t.Fatalf("AT_BASE %#x", base)
	}
	ld := checkSegments(t, mm, ldPath, base)
	if img.Entry != uintptr(ld.Entry)+base {
		t.Errorf("entry %#x, want the interpreter's %#x", img.Entry, uintptr(ld.Entry)+base)
	}
	if m := mapping(t, mm, base); m.Name != ldPath {
		t.Errorf("interpreter mapped as %q, want %q", m.Name, ldPath)
	}

	// The heap starts after the program's last segment.
	var end uint64
	for _, p := range ef.Progs {
		if p.Type == elf.PT_LOAD {
			end = max(end, p.Vaddr+p.Memsz)
		}
	}
	if want := uintptr(pageUp(end)) + bias; img.BrkStart != want {
		t.Errorf("brk %#x, want %#x", img.BrkStart, want)
	}
	if img.Executable.Name() != exePath {
		t.Errorf("executable %q", img.Executable.Name())
	}
}

// buildC compiles a C program with gcc and flags into dir, failing the test if gcc
// is missing (Visor's setup installs it).
func buildC(t *testing.T, name, src string, flags ...string) string {
	t.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Fatalf("gcc is needed to build test binaries (tools/setup.sh installs it): %v", err)
	}
	dir := t.TempDir()
	c := filepath.Join(dir, name+".c")
	if err := os.WriteFile(c, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, name)
	args := append(append([]string{}, flags...), "-o", bin, c)
	if out, err := exec.Command("gcc", args...).CombinedOutput(); err != nil {
		t.Fatalf("gcc %v: %v\n%s", args, err, out)
	}
	return bin
}

// helloC has initialised data and a bss, so that its data segment's memory size
// exceeds its file size.
const helloC = `
#include <stdio.h>
int data[1000] = {1, 2, 3};
char bss[100000];
int main(int argc, char **argv) { printf("%d %d\n", data[1], bss[argc]); return 0; }
`

func TestLoadStatic(t *testing.T) {
	for _, tc := range []struct {
		name  string
		flags []string
		typ   elf.Type
	}{
		{"static", []string{"-static", "-no-pie"}, elf.ET_EXEC},
		{"static-pie", []string{"-static-pie"}, elf.ET_DYN},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bin := buildC(t, "hello", helloC, tc.flags...)
			ef, err := elf.Open(bin)
			if err != nil {
				t.Fatal(err)
			}
			defer ef.Close()
			if ef.Type != tc.typ || interpOf(t, bin) != "" {
				t.Fatalf("gcc %v built type %v, interpreter %q", tc.flags, ef.Type, interpOf(t, bin))
			}
			img, mm := load(t, &fakeOpener{}, bin, []string{"hello"}, nil)

			var bias uintptr
			if tc.typ == elf.ET_DYN {
				bias = uintptr(auxv(t, img, linux.AT_ENTRY) - ef.Entry)
				if bias%pageSize != 0 || bias < testLayout.MaxAddr/3*2 || bias >= testLayout.MmapBase {
					t.Errorf("static-pie bias %#x", bias)
				}
			}
			checkSegments(t, mm, bin, bias)
			if want := uintptr(ef.Entry) + bias; img.Entry != want || auxv(t, img, linux.AT_ENTRY) != uint64(want) {
				t.Errorf("entry %#x, AT_ENTRY %#x, want %#x", img.Entry, auxv(t, img, linux.AT_ENTRY), want)
			}
			if got := auxv(t, img, linux.AT_BASE); got != 0 {
				t.Errorf("AT_BASE %#x without an interpreter", got)
			}
			var end uint64
			for _, p := range ef.Progs {
				if p.Type == elf.PT_LOAD {
					end = max(end, p.Vaddr+p.Memsz)
				}
			}
			if want := uintptr(pageUp(end)) + bias; img.BrkStart != want {
				t.Errorf("brk %#x, want %#x", img.BrkStart, want)
			}
		})
	}
}

func TestLoadBusybox(t *testing.T) {
	path, err := filepath.EvalSymlinks("/bin/busybox")
	if err != nil {
		t.Skipf("no busybox: %v", err)
	}
	ef, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	if interpOf(t, path) != "" {
		t.Skipf("%s is not static", path)
	}
	img, mm := load(t, &fakeOpener{}, path, []string{"sh", "-c", "true"}, []string{"A=1"})
	bias := uintptr(auxv(t, img, linux.AT_ENTRY) - ef.Entry)
	checkSegments(t, mm, path, bias)
}

// TestNoRandomize checks that ADDR_NO_RANDOMIZE puts a PIE exactly at two thirds
// of the address space and the strings at the very top of the stack.
func TestNoRandomize(t *testing.T) {
	mm := newFakeMM(testLayout)
	img, err := Load(Args{MM: mm, Opener: &fakeOpener{}, Filename: "/bin/true", Layout: testLayout, NoRandomize: true, Rand: seededRand(2)})
	if err != nil {
		t.Fatal(err)
	}
	ef, err := elf.Open("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	if got, want := auxv(t, img, linux.AT_ENTRY), ef.Entry+uint64(pageDown(uint64(testLayout.MaxAddr/3*2))); got != want {
		t.Errorf("AT_ENTRY %#x, want %#x", got, want)
	}
	if want := testLayout.StackTop - 8 - uintptr(len("/bin/true")+1); auxv(t, img, linux.AT_EXECFN) != uint64(want) {
		t.Errorf("AT_EXECFN %#x, want %#x", auxv(t, img, linux.AT_EXECFN), want)
	}
}
