package loader

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/memmap"
)

// vma is one mapping of a fakeMM.
type vma struct {
	start, end uintptr
	opts       memmap.MMapOpts
}

// fakeMM is a MemoryManager that records mappings, keeps the bytes written to
// them, and reads mapped memory back: written bytes, else the Mappable's, else
// zeros.
type fakeMM struct {
	layout Layout
	// calls are the MMap calls, with Addr set to where the mapping went.
	calls []memmap.MMapOpts
	vmas  []vma // sorted by start, disjoint
	pages map[uintptr]*[pageSize]byte
	brk   uintptr
}

func newFakeMM(l Layout) *fakeMM {
	return &fakeMM{layout: l, pages: map[uintptr]*[pageSize]byte{}}
}

func (m *fakeMM) MMap(opts memmap.MMapOpts) (uintptr, error) {
	length := uintptr(pageUp(opts.Length))
	if length == 0 || opts.Addr%pageSize != 0 || opts.Offset%pageSize != 0 {
		return 0, linux.EINVAL
	}
	addr := opts.Addr
	if opts.Fixed {
		if !m.layout.contains(addr, uint64(length)) {
			return 0, linux.ENOMEM
		}
		if m.overlaps(addr, addr+length) {
			if !opts.Unmap {
				return 0, linux.EEXIST
			}
			m.unmap(addr, addr+length)
		}
	} else {
		// Top-down below MmapBase, ignoring the hint, as mm does for a hint that
		// is taken or 0.
		addr = m.layout.MmapBase - length
		for i := len(m.vmas) - 1; i >= 0; i-- {
			if v := m.vmas[i]; v.start < addr+length && addr < v.end {
				addr = v.start - length
			}
		}
	}
	opts.Addr = addr
	m.calls = append(m.calls, opts)
	m.vmas = append(m.vmas, vma{addr, addr + length, opts})
	sort.Slice(m.vmas, func(i, j int) bool { return m.vmas[i].start < m.vmas[j].start })
	return addr, nil
}

func (m *fakeMM) overlaps(start, end uintptr) bool {
	for _, v := range m.vmas {
		if v.start < end && start < v.end {
			return true
		}
	}
	return false
}

// unmap removes [start, end), splitting mappings and dropping written pages.
func (m *fakeMM) unmap(start, end uintptr) {
	var out []vma
	for _, v := range m.vmas {
		if v.end <= start || end <= v.start {
			out = append(out, v)
			continue
		}
		if v.start < start {
			l := v
			l.end = start
			out = append(out, l)
		}
		if end < v.end {
			r := v
			r.opts.Offset += uint64(end - v.start)
			r.start = end
			out = append(out, r)
		}
	}
	m.vmas = out
	for a := start; a < end; a += pageSize {
		delete(m.pages, a)
	}
}

func (m *fakeMM) find(addr uintptr) *vma {
	for i := range m.vmas {
		if v := &m.vmas[i]; v.start <= addr && addr < v.end {
			return v
		}
	}
	return nil
}

func (m *fakeMM) CopyOut(addr uintptr, src []byte) (int, error) {
	for i := range src {
		a := addr + uintptr(i)
		v := m.find(a)
		if v == nil || !v.opts.Perms.Write {
			return i, linux.EFAULT
		}
		p := m.page(a)
		p[a%pageSize] = src[i]
	}
	return len(src), nil
}

// page returns the written page holding addr, filling it from the mapping first.
func (m *fakeMM) page(addr uintptr) *[pageSize]byte {
	base := addr &^ (pageSize - 1)
	if p, ok := m.pages[base]; ok {
		return p
	}
	p := new([pageSize]byte)
	copy(p[:], m.mustRead(base, pageSize))
	m.pages[base] = p
	return p
}

func (m *fakeMM) BrkSetup(addr uintptr) { m.brk = addr }

// read reads n bytes of memory at addr, as the application would see them.
func (m *fakeMM) read(addr uintptr, n int) ([]byte, error) {
	out := make([]byte, n)
	for i := 0; i < n; {
		a := addr + uintptr(i)
		v := m.find(a)
		if v == nil {
			return nil, fmt.Errorf("%#x not mapped", a)
		}
		chunk := min(n-i, int(pageSize-a%pageSize))
		if p, ok := m.pages[a&^(pageSize-1)]; ok {
			copy(out[i:i+chunk], p[a%pageSize:])
		} else if v.opts.Mappable != nil {
			// Past the end of the file reads zero, as memmap.Mappable says.
			v.opts.Mappable.ReadAt(out[i:i+chunk], int64(v.opts.Offset)+int64(a-v.start))
		}
		i += chunk
	}
	return out, nil
}

func (m *fakeMM) mustRead(addr uintptr, n int) []byte {
	b, err := m.read(addr, n)
	if err != nil {
		panic(err)
	}
	return b
}

// memFile is a File of bytes in memory.
type memFile struct {
	name string
	data []byte
}

func (f *memFile) ReadAt(b []byte, off int64) (int, error) {
	if off >= int64(len(f.data)) {
		return 0, io.EOF
	}
	n := copy(b, f.data[off:])
	if n < len(b) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) Size() (int64, error) { return int64(len(f.data)), nil }
func (f *memFile) Name() string         { return f.name }

// hostFile is a File over a host file.
type hostFile struct {
	*os.File
	path string
}

func (f *hostFile) Size() (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

func (f *hostFile) Name() string { return f.path }

// fakeOpener opens files from files (by path) first, then from the host, relative
// to the test's working directory. Like the kernel's, it checks what Linux's
// open_exec checks: a regular file with an execute bit, else EACCES.
type fakeOpener struct {
	files map[string]*memFile
}

func (o *fakeOpener) OpenExecutable(path string) (File, error) {
	if f, ok := o.files[path]; ok {
		return f, nil
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, linux.ENOENT
		}
		return nil, err
	}
	if real, err = filepath.Abs(real); err != nil {
		return nil, err
	}
	fi, err := os.Stat(real)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return nil, linux.EACCES
	}
	f, err := os.Open(real)
	if err != nil {
		return nil, err
	}
	return &hostFile{File: f, path: real}, nil
}
