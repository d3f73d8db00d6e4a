package boot

import (
	"fmt"
	"path"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/fsimpl/devfs"
	"visor.dev/visor/pkg/sentry/fsimpl/tmpfs"
	"visor.dev/visor/pkg/sentry/kernel"
	"visor.dev/visor/pkg/sentry/kernel/auth"
	"visor.dev/visor/pkg/sentry/vfs"
	"visor.dev/visor/pkg/waiter"
	"visor.dev/visor/runsc/specutils"
)

// mounts is the sandbox's filesystem: a VFS whose root is the container's rootfs
// (served by the Gofer, under a tmpfs overlay unless the spec asks for a read-only
// root) with the spec's mounts on it.
type mounts struct {
	vfs   *vfs.VirtualFilesystem
	k     *kernel.Kernel
	creds *auth.Credentials
	ctx   vfs.Context
	// root is the root of the mount namespace; it holds a reference.
	root vfs.VirtualDentry
	// goferFDs are the lisafs sockets not yet handed to a filesystem.
	goferFDs []int
}

// newMounts builds the sandbox's mount tree in v from the spec.
func newMounts(args Args, v *vfs.VirtualFilesystem, k *kernel.Kernel) (*mounts, error) {
	creds := auth.NewRootCredentials(auth.NewRootUserNamespace())
	m := &mounts{
		vfs:      v,
		k:        k,
		creds:    creds,
		ctx:      vfs.NewContext(creds, waiter.UninterruptibleBlocker{}),
		goferFDs: args.GoferFDs,
	}
	if err := m.registerFilesystems(); err != nil {
		return nil, err
	}
	if len(m.goferFDs) == 0 {
		return nil, fmt.Errorf("no Gofer connection for the root filesystem")
	}
	root, err := m.mountRoot(args.Spec)
	if err != nil {
		return nil, fmt.Errorf("mounting the root filesystem: %w", err)
	}
	m.root = root

	// Every container gets /dev, /proc and /sys, whatever the spec says about them;
	// the spec's own entries for them pick the same filesystems.
	dests := map[string]bool{}
	for _, sm := range args.Spec.Mounts {
		dests[path.Clean(sm.Destination)] = true
	}
	for _, std := range []specs.Mount{
		{Destination: "/proc", Type: "proc"},
		{Destination: "/dev", Type: "tmpfs"},
		{Destination: "/sys", Type: "sysfs"},
	} {
		if !dests[std.Destination] {
			if err := m.mountSpec(std, args.BundleDir); err != nil {
				m.release()
				return nil, err
			}
		}
	}
	for _, sm := range args.Spec.Mounts {
		if err := m.mountSpec(sm, args.BundleDir); err != nil {
			m.release()
			return nil, fmt.Errorf("config.json: mount at %q: %w", sm.Destination, err)
		}
	}
	return m, nil
}

// release drops the mount tree's root.
func (m *mounts) release() {
	if m.root.Ok() {
		m.root.DecRef()
		m.root = vfs.VirtualDentry{}
	}
}

func (m *mounts) registerFilesystems() error {
	if err := m.vfs.RegisterFilesystemType(tmpfs.Name, tmpfs.FilesystemType{}, &vfs.RegisterFilesystemTypeOptions{AllowUserMount: true, AllowUserList: true}); err != nil {
		return err
	}
	if err := devfs.Register(m.vfs); err != nil {
		return err
	}
	return m.registerSyntheticFilesystems()
}

// nextGoferFD takes the next Gofer connection, in GoferMounts' order.
func (m *mounts) nextGoferFD() (int, error) {
	if len(m.goferFDs) == 0 {
		return -1, fmt.Errorf("no Gofer connection left for this mount")
	}
	fd := m.goferFDs[0]
	m.goferFDs = m.goferFDs[1:]
	return fd, nil
}

// mountSpec mounts one of the spec's mounts. The Sentry implements every
// filesystem itself: only bind mounts reach the host, through the Gofer.
func (m *mounts) mountSpec(sm specs.Mount, bundleDir string) error {
	dest := path.Clean(sm.Destination)
	typ := sm.Type
	switch {
	case specutils.IsBindMount(sm):
		return m.mountBind(dest, specutils.IsReadOnly(sm.Options))
	case typ == "proc":
		return m.mountAt(dest, procName, "")
	case typ == "sysfs":
		return m.mountAt(dest, sysName, "")
	case typ == "tmpfs" && dest == "/dev":
		// /dev is always Visor's devtmpfs, with the devices it implements.
		return m.mountAt(dest, devfs.Name, "")
	case typ == "tmpfs":
		return m.mountAt(dest, tmpfs.Name, tmpfsData(sm.Options))
	case typ == "devpts", typ == "mqueue", typ == "cgroup", typ == "cgroup2":
		// Not implemented yet: the directory stays as the image has it.
		return nil
	}
	return fmt.Errorf("filesystem type %q is not supported", typ)
}

// tmpfsData keeps the tmpfs options the Sentry's tmpfs understands.
func tmpfsData(options []string) string {
	var keep []string
	for _, o := range options {
		if strings.HasPrefix(o, "mode=") || strings.HasPrefix(o, "size=") || strings.HasPrefix(o, "uid=") || strings.HasPrefix(o, "gid=") {
			keep = append(keep, o)
		}
	}
	return strings.Join(keep, ",")
}

// mountAt mounts a new filesystem of fsType at dest, creating the directory first
// if the image lacks it.
func (m *mounts) mountAt(dest, fsType, data string) error {
	dest, err := m.mountPoint(dest)
	if err != nil {
		return err
	}
	if err := m.mkdirAll(dest); err != nil {
		return err
	}
	_, err = m.vfs.MountAt(m.ctx, m.creds, "none", m.pop(dest), fsType, &vfs.MountOptions{
		GetFilesystemOptions: vfs.GetFilesystemOptions{Data: data},
		InternalMount:        true,
	})
	return err
}

func (m *mounts) pop(p string) *vfs.PathOperation {
	return &vfs.PathOperation{Root: m.root, Start: m.root, Path: p, FollowFinalSymlink: true}
}

// mountPoint returns the path in the container that a mount at dest covers: dest
// with every symlink on the way resolved within the container's root, including a
// final one and dangling ones, as runc resolves mount destinations (securejoin).
// So a mount over an image's /etc/resolv.conf that is a symlink to a file not
// there yet creates and covers the symlink's target, not the parent directory's
// entry. Components that do not exist are kept as they are, to be created.
func (m *mounts) mountPoint(dest string) (string, error) {
	resolved := "/"
	rest := splitPath(dest)
	for links := 0; len(rest) > 0; {
		c := rest[0]
		rest = rest[1:]
		switch c {
		case ".":
			continue
		case "..":
			// resolved has no symlink in it: its parent is its lexical one.
			resolved = path.Dir(resolved)
			continue
		}
		next := path.Join(resolved, c)
		target, err := m.vfs.ReadlinkAt(m.ctx, m.creds, m.pop(next))
		switch {
		case err == linux.EINVAL || err == linux.ENOENT:
			// Not a symlink, or not there yet: the name itself.
			resolved = next
			continue
		case err != nil:
			return "", fmt.Errorf("resolving mount point %s at %s: %w", dest, next, err)
		case target == "":
			return "", fmt.Errorf("resolving mount point %s: %s is an empty symlink: %w", dest, next, linux.ENOENT)
		}
		if links++; links > vfs.MaxSymlinkTraversals {
			return "", fmt.Errorf("resolving mount point %s: %w", dest, linux.ELOOP)
		}
		if path.IsAbs(target) {
			resolved = "/"
		}
		rest = append(splitPath(target), rest...)
	}
	return resolved, nil
}

// splitPath returns the non-empty components of p.
func splitPath(p string) []string {
	var comps []string
	for _, c := range strings.Split(p, "/") {
		if c != "" {
			comps = append(comps, c)
		}
	}
	return comps
}

// mkdirAll makes dest and its parents in the root, as runc does for mount points.
func (m *mounts) mkdirAll(dest string) error {
	cur := "/"
	for _, c := range strings.Split(strings.Trim(dest, "/"), "/") {
		if c == "" {
			continue
		}
		cur = path.Join(cur, c)
		err := m.vfs.MkdirAt(m.ctx, m.creds, m.pop(cur), &vfs.MkdirOptions{Mode: 0o755})
		if err != nil && err != linux.EEXIST {
			return fmt.Errorf("creating mount point %s: %w", cur, err)
		}
	}
	return nil
}

// stdioTable returns a file table whose 0, 1 and 2 are the container's stdio,
// followed by its preserved fds: app[i] becomes fd 3+i.
func (m *mounts) stdioTable(stdio [3]int, app []int) (*kernel.FDTable, error) {
	fdt := kernel.NewFDTable()
	for i, hostFD := range append(stdio[:], app...) {
		fd, err := m.hostFile(hostFD)
		if err != nil {
			fdt.DecRef()
			return nil, fmt.Errorf("the container's fd %d (host fd %d): %w", i, hostFD, err)
		}
		_, err = fdt.SetFD(int32(i), fd, kernel.FDFlags{}, uint64(3+len(app)))
		fd.DecRef()
		if err != nil {
			fdt.DecRef()
			return nil, err
		}
	}
	return fdt, nil
}
