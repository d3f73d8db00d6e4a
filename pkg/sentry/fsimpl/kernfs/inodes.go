package kernfs

import (
	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/vfs"
)

// StaticDirectory is a directory with a fixed set of children.
type StaticDirectory struct {
	InodeAttrs
	entries []DirEntry
	byName  map[string]Inode
}

// NewStaticDirectory returns a directory of fs with the given permissions and
// children, listed in the order given.
func NewStaticDirectory(fs *Filesystem, perms uint16, children []DirEntry) *StaticDirectory {
	dir := &StaticDirectory{entries: children, byName: make(map[string]Inode, len(children))}
	dir.Init(fs, linux.S_IFDIR|perms)
	for _, e := range children {
		dir.byName[e.Name] = e.Inode
	}
	return dir
}

// Lookup implements Directory.Lookup.
func (dir *StaticDirectory) Lookup(_ vfs.Context, name string) (Inode, error) {
	if inode, ok := dir.byName[name]; ok {
		return inode, nil
	}
	return nil, linux.ENOENT
}

// Entries implements Directory.Entries.
func (dir *StaticDirectory) Entries(vfs.Context) ([]DirEntry, error) { return dir.entries, nil }

// FuncFile is a read-only DynamicFile whose contents a function generates.
type FuncFile struct {
	InodeAttrs
	generate func(ctx vfs.Context) ([]byte, error)
}

// NewFuncFile returns a regular file of fs with the given permissions whose
// contents generate returns.
func NewFuncFile(fs *Filesystem, perms uint16, generate func(ctx vfs.Context) ([]byte, error)) *FuncFile {
	f := &FuncFile{generate: generate}
	f.Init(fs, linux.S_IFREG|perms)
	return f
}

// NewStaticFile returns a read-only regular file of fs whose contents are data.
func NewStaticFile(fs *Filesystem, perms uint16, data string) *FuncFile {
	return NewFuncFile(fs, perms, func(vfs.Context) ([]byte, error) { return []byte(data), nil })
}

// Generate implements DynamicFile.Generate.
func (f *FuncFile) Generate(ctx vfs.Context) ([]byte, error) { return f.generate(ctx) }

// StaticSymlink is a symlink to a fixed path.
type StaticSymlink struct {
	InodeAttrs
	target string
}

// NewStaticSymlink returns a symlink of fs to target.
func NewStaticSymlink(fs *Filesystem, target string) *StaticSymlink {
	sl := &StaticSymlink{target: target}
	sl.Init(fs, linux.S_IFLNK|0o777)
	return sl
}

// Readlink implements Symlink.Readlink.
func (sl *StaticSymlink) Readlink(vfs.Context) (string, error) { return sl.target, nil }

// Getlink implements Symlink.Getlink.
func (sl *StaticSymlink) Getlink(vfs.Context) (vfs.VirtualDentry, string, error) {
	return vfs.VirtualDentry{}, sl.target, nil
}
