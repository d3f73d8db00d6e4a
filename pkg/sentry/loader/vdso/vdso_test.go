package vdso

import (
	"bytes"
	"debug/elf"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// symbols are the dynamic symbols the vDSO must define, all of version LINUX_2.6.
var symbols = []string{
	"__vdso_clock_gettime", "clock_gettime",
	"__vdso_gettimeofday", "gettimeofday",
	"__vdso_time", "time",
	"__vdso_getcpu", "getcpu",
	"__vdso_clock_getres", "clock_getres",
}

// dtRELR is DT_RELR, which debug/elf does not name.
const dtRELR = elf.DynTag(36)

func TestImage(t *testing.T) {
	f, err := elf.NewFile(Reader())
	if err != nil {
		t.Fatalf("the vDSO is not ELF: %v", err)
	}
	if f.Class != elf.ELFCLASS64 || f.Data != elf.ELFDATA2LSB || f.Machine != elf.EM_X86_64 || f.Type != elf.ET_DYN {
		t.Errorf("header: class %v data %v machine %v type %v, want an x86-64 little-endian ET_DYN", f.Class, f.Data, f.Machine, f.Type)
	}

	// One read+execute PT_LOAD from offset 0 at address 0: the loader maps the image
	// as is.
	var loads []*elf.Prog
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD {
			loads = append(loads, p)
		}
	}
	if len(loads) != 1 {
		t.Fatalf("%d PT_LOAD segments, want 1", len(loads))
	}
	if l := loads[0]; l.Off != 0 || l.Vaddr != 0 || l.Flags != elf.PF_R|elf.PF_X || l.Filesz != l.Memsz || l.Filesz > uint64(Size()) {
		t.Errorf("PT_LOAD %+v, want R+X at offset 0 and address 0, all in the file", l.ProgHeader)
	}

	if names, err := f.DynString(elf.DT_SONAME); err != nil || len(names) != 1 || names[0] != "linux-vdso.so.1" {
		t.Errorf("DT_SONAME = %q, %v; want linux-vdso.so.1", names, err)
	}
	// No relocations: nothing runs a dynamic linker over the vDSO before use.
	for _, tag := range []elf.DynTag{elf.DT_REL, elf.DT_RELA, elf.DT_JMPREL, elf.DT_TEXTREL, dtRELR, elf.DT_NEEDED} {
		if v, err := f.DynValue(tag); err != nil || len(v) != 0 {
			t.Errorf("dynamic tag %v = %v, %v; want absent", tag, v, err)
		}
	}
	for _, tag := range []elf.DynTag{elf.DT_HASH, elf.DT_GNU_HASH, elf.DT_VERSYM, elf.DT_VERDEF} {
		if v, err := f.DynValue(tag); err != nil || len(v) != 1 {
			t.Errorf("dynamic tag %v = %v, %v; want present", tag, v, err)
		}
	}

	syms, err := f.DynamicSymbols()
	if err != nil {
		t.Fatalf("DynamicSymbols: %v", err)
	}
	got := map[string]elf.Symbol{}
	for _, s := range syms {
		got[s.Name] = s
	}
	for _, name := range symbols {
		s, ok := got[name]
		switch {
		case !ok:
			t.Errorf("symbol %s missing", name)
		case elf.ST_TYPE(s.Info) != elf.STT_FUNC || s.Section == elf.SHN_UNDEF || s.Size == 0:
			t.Errorf("symbol %s: %+v, want a defined function", name, s)
		case !s.HasVersion || s.Version != "LINUX_2.6":
			t.Errorf("symbol %s has version %q, want LINUX_2.6", name, s.Version)
		}
		if strings.HasPrefix(name, "__vdso_") {
			alias := got[strings.TrimPrefix(name, "__vdso_")]
			if alias.Value != s.Value || elf.ST_BIND(alias.Info) != elf.STB_WEAK {
				t.Errorf("%s is not a weak alias of %s", alias.Name, name)
			}
		}
	}
}

// needGCC fails the test when gcc is missing. Visor's setup installs it; without it, neither
// regenerating the vDSO nor these checks can run, which is a failure, not a skip.
func needGCC(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Fatalf("gcc is needed to check the vDSO against its sources (tools/setup.sh installs it): %v", err)
	}
}

func TestRegenerate(t *testing.T) {
	needGCC(t)
	out := filepath.Join(t.TempDir(), "vdso.so")
	cmd := exec.Command("sh", "gen.sh", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gen.sh: %v\n%s", err, b)
	}
	built, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(built, []byte(image)) {
		t.Errorf("vdso.so is stale: the sources build a different object (%d bytes, checked in %d); run go generate in pkg/sentry/loader/vdso", len(built), len(image))
	}
}

// TestCallThroughDynamicLinker loads vdso.so with the host's dynamic linker, as
// glibc finds its vDSO functions (dlvsym by name and version LINUX_2.6), and calls
// each one: run natively, their system calls go to the host kernel.
func TestCallThroughDynamicLinker(t *testing.T) {
	needGCC(t)
	dir := t.TempDir()
	so := filepath.Join(dir, "vdso.so")
	if err := os.WriteFile(so, []byte(image), 0o644); err != nil {
		t.Fatal(err)
	}
	const prog = `
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <sys/time.h>
#include <time.h>

static void *sym(void *h, const char *name) {
	void *p = dlvsym(h, name, "LINUX_2.6");
	if (!p) { printf("missing %s: %s\n", name, dlerror()); }
	return p;
}

int main(int argc, char **argv) {
	void *h = dlopen(argv[1], RTLD_NOW);
	if (!h) { printf("dlopen: %s\n", dlerror()); return 1; }
	int (*cgt)(clockid_t, struct timespec *) = sym(h, "__vdso_clock_gettime");
	int (*cgr)(clockid_t, struct timespec *) = sym(h, "__vdso_clock_getres");
	int (*gtod)(struct timeval *, void *) = sym(h, "__vdso_gettimeofday");
	time_t (*tm)(time_t *) = sym(h, "__vdso_time");
	int (*gc)(unsigned *, unsigned *, void *) = sym(h, "__vdso_getcpu");
	if (!cgt || !cgr || !gtod || !tm || !gc) return 1;

	struct timespec ts, ref;
	clock_gettime(CLOCK_REALTIME, &ref);
	if (cgt(CLOCK_REALTIME, &ts) != 0 || ts.tv_sec < ref.tv_sec || ts.tv_sec > ref.tv_sec + 5) { printf("clock_gettime\n"); return 1; }
	if (cgt(12345, &ts) != -22) { printf("clock_gettime(bad clock) did not return -EINVAL\n"); return 1; }
	if (cgr(CLOCK_MONOTONIC, &ts) != 0 || ts.tv_sec != 0 || ts.tv_nsec <= 0) { printf("clock_getres\n"); return 1; }
	struct timeval tv;
	if (gtod(&tv, NULL) != 0 || tv.tv_sec < ref.tv_sec || tv.tv_sec > ref.tv_sec + 5) { printf("gettimeofday\n"); return 1; }
	time_t t1, t2 = tm(&t1);
	if (t1 != t2 || t1 < ref.tv_sec || t1 > ref.tv_sec + 5) { printf("time\n"); return 1; }
	unsigned cpu = ~0u, node = ~0u;
	if (gc(&cpu, &node, NULL) != 0 || cpu == ~0u || node == ~0u) { printf("getcpu\n"); return 1; }
	printf("ok\n");
	return 0;
}
`
	src := filepath.Join(dir, "call.c")
	if err := os.WriteFile(src, []byte(prog), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "call")
	if b, err := exec.Command("gcc", "-o", bin, src, "-ldl").CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, b)
	}
	b, err := exec.Command(bin, so).CombinedOutput()
	if err != nil || string(b) != "ok\n" {
		t.Errorf("calling the vDSO: %v\n%s", err, b)
	}
}

// The image must be readable in full through Reader, which the loader maps.
func TestReader(t *testing.T) {
	b, err := io.ReadAll(Reader())
	if err != nil || len(b) != Size() || !bytes.HasPrefix(b, []byte(elf.ELFMAG)) {
		t.Errorf("Reader: %d bytes, %v", len(b), err)
	}
}
