package loader

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"visor.dev/visor/pkg/abi/linux"
)

// trueBytes returns the bytes of /bin/true, a dynamic PIE.
func trueBytes(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// progOffsets returns the file offsets of the program headers of data of type typ.
func progOffsets(data []byte, typ elf.ProgType) []int {
	phoff := int(binary.LittleEndian.Uint64(data[32:]))
	phnum := int(binary.LittleEndian.Uint16(data[56:]))
	var out []int
	for i := range phnum {
		off := phoff + i*phdrSize
		if elf.ProgType(binary.LittleEndian.Uint32(data[off:])) == typ {
			out = append(out, off)
		}
	}
	return out
}

// Offsets of fields in Elf64_Phdr.
const (
	phType   = 0
	phOffset = 8
	phVaddr  = 16
	phFilesz = 32
	phMemsz  = 40
)

func TestParseELFMalformed(t *testing.T) {
	good := trueBytes(t)
	put16 := func(off int, v uint16) func([]byte) []byte {
		return func(b []byte) []byte { binary.LittleEndian.PutUint16(b[off:], v); return b }
	}
	put64 := func(off int, v uint64) func([]byte) []byte {
		return func(b []byte) []byte { binary.LittleEndian.PutUint64(b[off:], v); return b }
	}
	// inLoad changes field of the idx-th PT_LOAD's header with f.
	inLoad := func(idx, field int, f func(old uint64) uint64) func([]byte) []byte {
		return func(b []byte) []byte {
			off := progOffsets(b, elf.PT_LOAD)[idx] + field
			binary.LittleEndian.PutUint64(b[off:], f(binary.LittleEndian.Uint64(b[off:])))
			return b
		}
	}
	interpHdr := progOffsets(good, elf.PT_INTERP)[0]
	interpOff := int(binary.LittleEndian.Uint64(good[interpHdr+phOffset:]))
	interpLen := int(binary.LittleEndian.Uint64(good[interpHdr+phFilesz:]))

	for _, tc := range []struct {
		name   string
		mutate func([]byte) []byte
	}{
		{"empty", func(b []byte) []byte { return nil }},
		{"truncated header", func(b []byte) []byte { return b[:40] }},
		{"truncated program headers", func(b []byte) []byte { return b[:64+phdrSize*2] }},
		{"bad magic", func(b []byte) []byte { b[1] = 'X'; return b }},
		{"32-bit", func(b []byte) []byte { b[elf.EI_CLASS] = byte(elf.ELFCLASS32); return b }},
		{"big-endian", func(b []byte) []byte { b[elf.EI_DATA] = byte(elf.ELFDATA2MSB); return b }},
		{"bad ident version", func(b []byte) []byte { b[elf.EI_VERSION] = 2; return b }},
		{"aarch64", put16(18, uint16(elf.EM_AARCH64))},
		{"ET_REL", put16(16, uint16(elf.ET_REL))},
		{"ET_CORE", put16(16, uint16(elf.ET_CORE))},
		{"phentsize", put16(54, 32)},
		{"no program headers", put16(56, 0)},
		{"too many program headers", put16(56, maxPhdrsSize/phdrSize+1)},
		{"program headers past EOF", put64(32, uint64(len(good))-phdrSize)},
		{"program header offset overflows", put64(32, ^uint64(0)-8)},
		{"entry out of range", put64(24, 1<<63)},
		{"segment past EOF", inLoad(1, phFilesz, func(uint64) uint64 { return uint64(len(good)) })},
		{"segment offset overflows", inLoad(1, phOffset, func(uint64) uint64 { return ^uint64(0) - 0xfff })},
		{"file size over memory size", inLoad(0, phMemsz, func(v uint64) uint64 { return 1 })},
		{"address and offset misaligned", inLoad(1, phVaddr, func(v uint64) uint64 { return v + 1 })},
		{"address out of range", inLoad(2, phVaddr, func(v uint64) uint64 { return v + 1<<50 })},
		{"memory size overflows", inLoad(2, phMemsz, func(v uint64) uint64 { return ^uint64(0) })},
		{"overlapping segments", inLoad(1, phVaddr, func(v uint64) uint64 { return v - pageSize })},
		{"segments out of order", func(b []byte) []byte {
			loads := progOffsets(b, elf.PT_LOAD)
			first := bytes.Clone(b[loads[0] : loads[0]+phdrSize])
			copy(b[loads[0]:], b[loads[1]:loads[1]+phdrSize])
			copy(b[loads[1]:], first)
			return b
		}},
		{"no PT_LOAD", func(b []byte) []byte {
			for _, off := range progOffsets(b, elf.PT_LOAD) {
				binary.LittleEndian.PutUint32(b[off+phType:], uint32(elf.PT_NULL))
			}
			return b
		}},
		{"interpreter not NUL-terminated", func(b []byte) []byte { b[interpOff+interpLen-1] = 'x'; return b }},
		{"interpreter path too long", put64(interpHdr+phFilesz, linux.PATH_MAX+1)},
		{"interpreter path too short", put64(interpHdr+phFilesz, 1)},
		{"empty interpreter path", func(b []byte) []byte { b[interpOff] = 0; return b }},
		{"interpreter past EOF", put64(interpHdr+phOffset, uint64(len(good)))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := tc.mutate(bytes.Clone(good))
			_, err := parseELF(&memFile{name: "bad", data: data}, "bad")
			if !errors.Is(err, linux.ENOEXEC) {
				t.Errorf("parseELF = %v, want ENOEXEC", err)
			}
		})
	}

	info, err := parseELF(&memFile{name: "true", data: good}, "true")
	if err != nil {
		t.Fatalf("parseELF(/bin/true) = %v", err)
	}
	ef, err := elf.NewFile(bytes.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	want := &elfInfo{typ: ef.Type, entry: ef.Entry, phoff: 64, phnum: len(ef.Progs), maxAlign: pageSize, interp: "/lib64/ld-linux-x86-64.so.2"}
	for _, p := range ef.Progs {
		switch p.Type {
		case elf.PT_LOAD:
			want.loads = append(want.loads, elf.Prog64{Type: uint32(p.Type), Flags: uint32(p.Flags), Off: p.Off, Vaddr: p.Vaddr, Paddr: p.Paddr, Filesz: p.Filesz, Memsz: p.Memsz, Align: p.Align})
			want.end = pageUp(p.Vaddr + p.Memsz)
		case elf.PT_PHDR:
			want.phdrAddr = p.Vaddr
		}
	}
	if diff := cmp.Diff(want, info, cmp.AllowUnexported(elfInfo{})); diff != "" {
		t.Errorf("parseELF(/bin/true) (-want +got):\n%s", diff)
	}
}

// TestLoadErrors checks the errors of Load for bad programs and arguments.
func TestLoadErrors(t *testing.T) {
	good := trueBytes(t)
	withInterp := func(path string) []byte {
		b := bytes.Clone(good)
		hdr := progOffsets(b, elf.PT_INTERP)[0]
		off := int(binary.LittleEndian.Uint64(b[hdr+phOffset:]))
		n := int(binary.LittleEndian.Uint64(b[hdr+phFilesz:]))
		copy(b[off:off+n], append([]byte(path), make([]byte, n)...))
		return b
	}
	asExec := bytes.Clone(good)
	binary.LittleEndian.PutUint16(asExec[16:], uint16(elf.ET_EXEC)) // its segments start at 0
	o := &fakeOpener{files: map[string]*memFile{
		"/script-interp":    {"/script-interp", withInterp("/interp.sh")},
		"/interp.sh":        {"/interp.sh", []byte("#!/bin/sh\n")},
		"/truncated-interp": {"/truncated-interp", withInterp("/truncated")},
		"/truncated":        {"/truncated", good[:100]},
		"/missing-interp":   {"/missing-interp", withInterp("/lib64/ld-linux-x86-64.so.X")},
		"/at-zero":          {"/at-zero", asExec},
		"/true":             {"/true", good},
	}}
	manyEnv := make([]string, 30)
	for i := range manyEnv {
		manyEnv[i] = string(bytes.Repeat([]byte("e"), 100<<10))
	}
	for _, tc := range []struct {
		name     string
		filename string
		argv     []string
		envv     []string
		limit    uint64
		want     linux.Errno
	}{
		{"interpreter is a script", "/script-interp", nil, nil, 0, linux.ELIBBAD},
		{"interpreter truncated", "/truncated-interp", nil, nil, 0, linux.ELIBBAD},
		{"interpreter missing", "/missing-interp", nil, nil, 0, linux.ENOENT},
		{"segment below MinAddr", "/at-zero", nil, nil, 0, linux.EINVAL},
		{"argument over MAX_ARG_STRLEN", "/true", []string{"true", string(bytes.Repeat([]byte("a"), linux.MAX_ARG_STRLEN))}, nil, 0, linux.E2BIG},
		{"environment over a quarter of the stack limit", "/true", nil, manyEnv, 0, linux.E2BIG},
		{"environment over 128 KiB with a small stack limit", "/true", nil, manyEnv[:2], 64 << 10, linux.E2BIG},
		{"NUL in an argument", "/true", []string{"a\x00b"}, nil, 0, linux.EINVAL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := testLayout
			l.StackLimit = tc.limit
			_, err := Load(Args{MM: newFakeMM(l), Opener: o, Filename: tc.filename, Argv: tc.argv, Envv: tc.envv, Layout: l})
			var errno linux.Errno
			if !errors.As(err, &errno) || errno != tc.want {
				t.Errorf("Load = %v, want %v", err, tc.want)
			}
		})
	}

	// A large environment within the limits loads.
	if _, err := Load(Args{MM: newFakeMM(testLayout), Opener: o, Filename: "/true", Envv: manyEnv[:19], Layout: testLayout}); err != nil {
		t.Errorf("Load with 1.9 MiB of environment: %v", err)
	}
}

// TestEmptyArgv checks that an empty argv becomes {""}, as Linux 5.18+ makes it.
func TestEmptyArgv(t *testing.T) {
	img, mm := load(t, &fakeOpener{}, "/bin/true", nil, nil)
	if diff := cmp.Diff([]string{""}, stackArgv(t, mm, img)); diff != "" {
		t.Errorf("argv (-want +got):\n%s", diff)
	}
}

// tinyELF returns a small valid ELF executable: a PT_LOAD of the whole file plus a
// bss, a PT_INTERP and a PT_GNU_STACK. Small, so that the fuzzer mutates headers
// rather than contents.
func tinyELF() []byte {
	const phnum = 3
	interp := "/lib/ld.so\x00"
	size := 64 + phnum*phdrSize + len(interp)
	b := make([]byte, 64, size)
	copy(b, elf.ELFMAG)
	b[elf.EI_CLASS], b[elf.EI_DATA], b[elf.EI_VERSION] = byte(elf.ELFCLASS64), byte(elf.ELFDATA2LSB), byte(elf.EV_CURRENT)
	le := binary.LittleEndian
	le.PutUint16(b[16:], uint16(elf.ET_DYN))
	le.PutUint16(b[18:], uint16(elf.EM_X86_64))
	le.PutUint32(b[20:], uint32(elf.EV_CURRENT))
	le.PutUint64(b[24:], 0x100) // entry
	le.PutUint64(b[32:], 64)    // phoff
	le.PutUint16(b[52:], 64)    // ehsize
	le.PutUint16(b[54:], phdrSize)
	le.PutUint16(b[56:], phnum)
	for _, p := range []elf.Prog64{
		{Type: uint32(elf.PT_LOAD), Flags: uint32(elf.PF_R | elf.PF_X), Filesz: uint64(size), Memsz: 0x3000, Align: pageSize},
		{Type: uint32(elf.PT_INTERP), Flags: uint32(elf.PF_R), Off: uint64(size - len(interp)), Filesz: uint64(len(interp))},
		{Type: uint32(elf.PT_GNU_STACK), Flags: uint32(elf.PF_R | elf.PF_W)},
	} {
		b, _ = binary.Append(b, le, p)
	}
	return append(b, interp...)
}

func FuzzParseELF(f *testing.F) {
	f.Add(tinyELF())
	if b, err := os.ReadFile(filepath.Join("vdso", "vdso.so")); err == nil {
		f.Add(b)
	}
	f.Add([]byte(elf.ELFMAG))
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := parseELF(&memFile{name: "fuzz", data: data}, "fuzz")
		if err != nil {
			if !errors.Is(err, linux.ENOEXEC) {
				t.Fatalf("parseELF error %v is not ENOEXEC", err)
			}
			return
		}
		if len(info.loads) == 0 || info.start >= info.end || info.end > maxELFAddr || info.phnum*phdrSize > maxPhdrsSize {
			t.Fatalf("parseELF accepted %+v", info)
		}
		if info.maxAlign&(info.maxAlign-1) != 0 {
			t.Fatalf("maxAlign %#x not a power of two", info.maxAlign)
		}
		var prevEnd uint64
		for _, p := range info.loads {
			if p.Vaddr < prevEnd || p.Filesz > p.Memsz || p.Off+p.Filesz > uint64(len(data)) || p.Vaddr%pageSize != p.Off%pageSize {
				t.Fatalf("parseELF accepted segment %+v", p)
			}
			prevEnd = p.Vaddr + p.Memsz
		}
	})
}

func FuzzParseScript(f *testing.F) {
	f.Add([]byte("#!/bin/sh -e\n"))
	f.Add([]byte("#! /usr/bin/env python3\n"))
	f.Add(append([]byte("#!/bin/sh "), bytes.Repeat([]byte("x"), 300)...))
	f.Fuzz(func(t *testing.T, data []byte) {
		argv, err := parseScript(data)
		if err != nil {
			if !errors.Is(err, linux.ENOEXEC) {
				t.Fatalf("parseScript error %v is not ENOEXEC", err)
			}
			return
		}
		if len(argv) < 1 || len(argv) > 2 || argv[0] == "" || bytes.ContainsAny([]byte(argv[0]), " \t\x00\n") {
			t.Fatalf("parseScript(%q) = %q", data, argv)
		}
	})
}

func TestTinyELF(t *testing.T) {
	info, err := parseELF(&memFile{name: "tiny", data: tinyELF()}, "tiny")
	if err != nil || info.interp != "/lib/ld.so" || info.end != 0x3000 || info.phdrAddr != 64 || info.execStack {
		t.Errorf("parseELF(tinyELF()) = %+v, %v", info, err)
	}
}

// FuzzLoad runs the whole of Load over fuzzed programs (with tinyELF as their
// interpreter): whatever the file, Load returns an image or an errno, and never
// maps outside the address space.
func FuzzLoad(f *testing.F) {
	f.Add(tinyELF())
	f.Add([]byte("#!/lib/ld.so -x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		mm := newFakeMM(testLayout)
		o := &fakeOpener{files: map[string]*memFile{
			"/prog":      {"/prog", data},
			"/lib/ld.so": {"/lib/ld.so", tinyELF()},
		}}
		_, err := Load(Args{MM: mm, Opener: o, Filename: "/prog", Argv: []string{"prog"}, Layout: testLayout, Rand: seededRand(3)})
		var errno linux.Errno
		if err != nil && !errors.As(err, &errno) {
			t.Fatalf("Load error %v is not an errno", err)
		}
		for _, c := range mm.calls {
			if !testLayout.contains(c.Addr, pageUp(c.Length)) {
				t.Fatalf("mapping %+v outside the address space", c)
			}
		}
	})
}
