package loader

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"io"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/memmap"
	"visor.dev/visor/pkg/sentry/platform"
)

const (
	pageSize = 4096

	ehdrSize = 64 // sizeof(Elf64_Ehdr)
	phdrSize = 56 // sizeof(Elf64_Phdr)

	// maxPhdrsSize bounds the program header table as Linux's elf_read_phdrs does
	// (ELF_MIN_ALIGN): at most 73 headers.
	maxPhdrsSize = pageSize

	// maxELFAddr bounds every address and size in an ELF before it is placed: the
	// x86-64 user half is 47 bits, so nothing sane is larger, and sums of two such
	// values cannot overflow.
	maxELFAddr = 1 << 47
)

// elfInfo is what the loader needs of a parsed, validated ELF64 file.
type elfInfo struct {
	typ   elf.Type // ET_EXEC or ET_DYN
	entry uint64
	phoff uint64
	phnum int
	// loads are the PT_LOAD segments with a non-zero memory size, in ascending,
	// non-overlapping address order.
	loads []elf.Prog64
	// start and end are the page-aligned span of loads, as ELF addresses.
	start, end uint64
	// maxAlign is the largest power-of-two p_align of loads, at least a page.
	maxAlign uint64
	// phdrAddr is the ELF address of the program header table: where the PT_LOAD
	// that holds it in the file puts it, or 0 (as Linux) when none does.
	phdrAddr uint64
	// interp is the PT_INTERP path, or "".
	interp string
	// execStack is set by a PT_GNU_STACK with PF_X.
	execStack bool
}

// isELF says whether hdr, the first bytes of a file, start with the ELF magic.
func isELF(hdr []byte) bool {
	return bytes.HasPrefix(hdr, []byte(elf.ELFMAG))
}

// errNoExec returns an ENOEXEC error saying why name is not a loadable ELF.
func errNoExec(name, format string, args ...any) error {
	return fmt.Errorf("%s: %s: %w", name, fmt.Sprintf(format, args...), linux.ENOEXEC)
}

// parseELF reads and validates the ELF header and program headers of f. Anything
// malformed, foreign (class, byte order, machine, type) or hostile (sizes that
// overflow, segments past the end of the file or out of order) is ENOEXEC. Section
// headers are ignored, as Linux ignores them.
func parseELF(f File, name string) (*elfInfo, error) {
	size, err := f.Size()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var hb [ehdrSize]byte
	if err := readFull(f, hb[:], 0); err != nil {
		return nil, errNoExec(name, "reading the ELF header: %v", err)
	}
	var hdr elf.Header64
	if _, err := binary.Decode(hb[:], binary.LittleEndian, &hdr); err != nil {
		return nil, errNoExec(name, "decoding the ELF header: %v", err)
	}
	switch {
	case !isELF(hdr.Ident[:]):
		return nil, errNoExec(name, "no ELF magic")
	case elf.Class(hdr.Ident[elf.EI_CLASS]) != elf.ELFCLASS64:
		return nil, errNoExec(name, "class %v, want ELFCLASS64", elf.Class(hdr.Ident[elf.EI_CLASS]))
	case elf.Data(hdr.Ident[elf.EI_DATA]) != elf.ELFDATA2LSB:
		return nil, errNoExec(name, "byte order %v, want ELFDATA2LSB", elf.Data(hdr.Ident[elf.EI_DATA]))
	case elf.Version(hdr.Ident[elf.EI_VERSION]) != elf.EV_CURRENT || elf.Version(hdr.Version) != elf.EV_CURRENT:
		return nil, errNoExec(name, "ELF version %d/%d, want 1", hdr.Ident[elf.EI_VERSION], hdr.Version)
	case elf.Machine(hdr.Machine) != elf.EM_X86_64:
		return nil, errNoExec(name, "machine %v, want EM_X86_64", elf.Machine(hdr.Machine))
	case elf.Type(hdr.Type) != elf.ET_EXEC && elf.Type(hdr.Type) != elf.ET_DYN:
		return nil, errNoExec(name, "type %v, want ET_EXEC or ET_DYN", elf.Type(hdr.Type))
	case hdr.Phentsize != phdrSize:
		return nil, errNoExec(name, "program header size %d, want %d", hdr.Phentsize, phdrSize)
	case hdr.Phnum == 0 || int(hdr.Phnum)*phdrSize > maxPhdrsSize:
		return nil, errNoExec(name, "%d program headers, want 1 to %d", hdr.Phnum, maxPhdrsSize/phdrSize)
	case hdr.Phoff > uint64(size) || uint64(hdr.Phnum)*phdrSize > uint64(size)-hdr.Phoff:
		return nil, errNoExec(name, "program headers at %#x past the end of the file (%d bytes)", hdr.Phoff, size)
	case hdr.Entry >= maxELFAddr:
		return nil, errNoExec(name, "entry point %#x out of range", hdr.Entry)
	}

	phdrs := make([]elf.Prog64, hdr.Phnum)
	pb := make([]byte, len(phdrs)*phdrSize)
	if err := readFull(f, pb, int64(hdr.Phoff)); err != nil {
		return nil, errNoExec(name, "reading the program headers: %v", err)
	}
	if _, err := binary.Decode(pb, binary.LittleEndian, phdrs); err != nil {
		return nil, errNoExec(name, "decoding the program headers: %v", err)
	}

	info := &elfInfo{
		typ:      elf.Type(hdr.Type),
		entry:    hdr.Entry,
		phoff:    hdr.Phoff,
		phnum:    len(phdrs),
		maxAlign: pageSize,
	}
	var prevEnd uint64
	interpSeen := false
	for i, p := range phdrs {
		switch elf.ProgType(p.Type) {
		case elf.PT_LOAD:
			switch {
			case p.Memsz == 0:
				continue
			case p.Filesz > p.Memsz:
				return nil, errNoExec(name, "segment %d: file size %#x exceeds memory size %#x", i, p.Filesz, p.Memsz)
			case p.Off > uint64(size) || p.Filesz > uint64(size)-p.Off:
				return nil, errNoExec(name, "segment %d: [%#x, +%#x) past the end of the file (%d bytes)", i, p.Off, p.Filesz, size)
			case p.Vaddr >= maxELFAddr || p.Memsz >= maxELFAddr || p.Vaddr+p.Memsz > maxELFAddr:
				return nil, errNoExec(name, "segment %d: address %#x size %#x out of range", i, p.Vaddr, p.Memsz)
			case p.Vaddr%pageSize != p.Off%pageSize:
				return nil, errNoExec(name, "segment %d: address %#x and offset %#x differ within a page", i, p.Vaddr, p.Off)
			case p.Vaddr < prevEnd:
				return nil, errNoExec(name, "segment %d at %#x overlaps or precedes the segment ending at %#x", i, p.Vaddr, prevEnd)
			}
			prevEnd = p.Vaddr + p.Memsz
			if p.Align > info.maxAlign && p.Align&(p.Align-1) == 0 {
				info.maxAlign = p.Align
			}
			// The table must lie whole in the segment: ld.so reads all of it.
			if p.Off <= hdr.Phoff && hdr.Phoff+uint64(hdr.Phnum)*phdrSize <= p.Off+p.Filesz {
				info.phdrAddr = p.Vaddr + (hdr.Phoff - p.Off)
			}
			info.loads = append(info.loads, p)
		case elf.PT_INTERP:
			// Linux uses the first PT_INTERP.
			if interpSeen {
				continue
			}
			interpSeen = true
			if info.interp, err = readInterp(f, name, p, size); err != nil {
				return nil, err
			}
		case elf.PT_GNU_STACK:
			info.execStack = elf.ProgFlag(p.Flags)&elf.PF_X != 0
		}
	}
	if len(info.loads) == 0 {
		return nil, errNoExec(name, "no loadable segment")
	}
	info.start = pageDown(info.loads[0].Vaddr)
	info.end = pageUp(prevEnd)
	return info, nil
}

// readInterp reads the PT_INTERP path of p: NUL-terminated, at most PATH_MAX bytes.
func readInterp(f File, name string, p elf.Prog64, size int64) (string, error) {
	if p.Filesz < 2 || p.Filesz > linux.PATH_MAX {
		return "", errNoExec(name, "PT_INTERP of %d bytes, want 2 to %d", p.Filesz, linux.PATH_MAX)
	}
	if p.Off > uint64(size) || p.Filesz > uint64(size)-p.Off {
		return "", errNoExec(name, "PT_INTERP past the end of the file")
	}
	b := make([]byte, p.Filesz)
	if err := readFull(f, b, int64(p.Off)); err != nil {
		return "", errNoExec(name, "reading PT_INTERP: %v", err)
	}
	if b[len(b)-1] != 0 {
		return "", errNoExec(name, "PT_INTERP is not NUL-terminated")
	}
	path := string(b[:bytes.IndexByte(b, 0)])
	if path == "" {
		return "", errNoExec(name, "empty PT_INTERP")
	}
	return path, nil
}

// readFull reads len(b) bytes of f at off; a short file is an error.
func readFull(f io.ReaderAt, b []byte, off int64) error {
	n, err := f.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// loadedELF is an ELF file placed in an address space.
type loadedELF struct {
	info *elfInfo
	// bias is what was added to the file's addresses: 0 for ET_EXEC.
	bias uintptr
}

// entry returns the entry point in the address space.
func (l *loadedELF) entry() uintptr { return uintptr(l.info.entry) + l.bias }

// end returns the page-aligned end of the highest segment in the address space.
func (l *loadedELF) end() uintptr { return uintptr(l.info.end) + l.bias }

// mapELF maps the segments of info, read from f, into mm. load is where the lowest
// segment page goes, or 0 to let mm choose (an ET_DYN interpreter, as Linux places
// it by mmap); an ET_EXEC file always goes at its own addresses.
//
// The whole span of the segments is first reserved with an inaccessible anonymous
// mapping, which fails (EEXIST) if anything is mapped there already; each segment
// then replaces its part. Holes between segments stay reserved and inaccessible, as
// glibc's ld.so leaves them for libraries (Linux unmaps them).
func mapELF(mm MemoryManager, f File, info *elfInfo, load uintptr, layout *Layout) (*loadedELF, error) {
	span := info.end - info.start
	opts := memmap.MMapOpts{
		Length:   span,
		Private:  true,
		MaxPerms: platform.AnyAccess,
	}
	switch {
	case info.typ == elf.ET_EXEC:
		opts.Addr, opts.Fixed = uintptr(info.start), true
	case load != 0:
		opts.Addr, opts.Fixed = load, true
	default:
		opts.Addr = uintptr(info.start) // a hint, as Linux gives mmap
	}
	if opts.Fixed && !layout.contains(opts.Addr, span) {
		return nil, fmt.Errorf("%s: segments [%#x, +%#x) outside the user address space: %w", f.Name(), opts.Addr, span, linux.EINVAL)
	}
	addr, err := mm.MMap(opts)
	if err != nil {
		return nil, fmt.Errorf("%s: reserving [%#x, +%#x): %w", f.Name(), opts.Addr, span, err)
	}
	l := &loadedELF{info: info, bias: addr - uintptr(info.start)}
	if !layout.contains(l.entry(), 1) {
		return nil, fmt.Errorf("%s: entry point %#x outside the user address space: %w", f.Name(), l.entry(), linux.EINVAL)
	}
	for _, p := range info.loads {
		if err := mapSegment(mm, f, p, l.bias); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// mapSegment maps one PT_LOAD segment: its file part privately from f, and the rest
// of its memory size (bss) as anonymous memory.
func mapSegment(mm MemoryManager, f File, p elf.Prog64, bias uintptr) error {
	perms := platform.AccessType{
		Read:    elf.ProgFlag(p.Flags)&elf.PF_R != 0,
		Write:   elf.ProgFlag(p.Flags)&elf.PF_W != 0,
		Execute: elf.ProgFlag(p.Flags)&elf.PF_X != 0,
	}
	start := uintptr(pageDown(p.Vaddr)) + bias
	fileEnd := start
	if p.Filesz > 0 {
		fileEnd = uintptr(pageUp(p.Vaddr+p.Filesz)) + bias
		var m memmap.Mappable = f
		if p.Memsz > p.Filesz {
			// The rest of the last file page is the start of the bss: it must read
			// as zero, not as whatever follows the segment in the file. Linux
			// clears it by writing to the page (which fails silently on a
			// read-only segment); reading it as zero is the same without a write.
			m = zeroTail{r: f, end: int64(p.Off + p.Filesz)}
		}
		if _, err := mm.MMap(memmap.MMapOpts{
			Length:   uint64(fileEnd - start),
			Addr:     start,
			Fixed:    true,
			Unmap:    true,
			Perms:    perms,
			MaxPerms: platform.AnyAccess,
			Private:  true,
			Mappable: m,
			Offset:   pageDown(p.Off),
			Name:     f.Name(),
		}); err != nil {
			return fmt.Errorf("%s: mapping segment at %#x: %w", f.Name(), start, err)
		}
	}
	if memEnd := uintptr(pageUp(p.Vaddr+p.Memsz)) + bias; memEnd > fileEnd {
		if _, err := mm.MMap(memmap.MMapOpts{
			Length:   uint64(memEnd - fileEnd),
			Addr:     fileEnd,
			Fixed:    true,
			Unmap:    true,
			Perms:    perms,
			MaxPerms: platform.AnyAccess,
			Private:  true,
		}); err != nil {
			return fmt.Errorf("%s: mapping bss at %#x: %w", f.Name(), fileEnd, err)
		}
	}
	return nil
}

// zeroTail reads r up to end, and zeros from there: a segment's file contents
// followed by the start of its bss.
type zeroTail struct {
	r   io.ReaderAt
	end int64
}

// ReadAt implements io.ReaderAt.
func (z zeroTail) ReadAt(b []byte, off int64) (int, error) {
	n := 0
	if off < z.end {
		want := b
		if int64(len(want)) > z.end-off {
			want = want[:z.end-off]
		}
		var err error
		if n, err = z.r.ReadAt(want, off); n < len(want) {
			return n, err
		}
	}
	clear(b[n:])
	return len(b), nil
}

func pageDown(x uint64) uint64 { return x &^ (pageSize - 1) }
func pageUp(x uint64) uint64   { return pageDown(x + pageSize - 1) }
