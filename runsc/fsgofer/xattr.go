package fsgofer

import (
	"bytes"
	"strings"

	"golang.org/x/sys/unix"

	"visor.dev/visor/pkg/abi/linux"
)

// Extended attributes are served in the user namespace only, and only on regular
// files and directories. trusted.* and security.* (file capabilities, SELinux labels)
// set by a root Gofer would take effect on the host, for whoever later uses the file
// there; and Linux itself allows user.* on nothing else.

// checkXattrName admits user.* names only.
func checkXattrName(name string) error {
	if !strings.HasPrefix(name, linux.XATTR_USER_PREFIX) || len(name) == len(linux.XATTR_USER_PREFIX) {
		return linux.EOPNOTSUPP
	}
	return nil
}

// xattrFD opens the node for an xattr call: the *xattr family has no *at form that
// takes an O_PATH descriptor.
func (n *node) xattrFD() (int, error) {
	switch n.ftype {
	case linux.S_IFREG:
		return n.g.reopen(n.fd, unix.O_RDONLY|unix.O_NONBLOCK)
	case linux.S_IFDIR:
		return n.g.reopen(n.fd, unix.O_RDONLY|unix.O_DIRECTORY)
	default:
		return -1, linux.EOPNOTSUPP
	}
}

// GetXattr implements lisafs.ControlFD.GetXattr.
func (n *node) GetXattr(name string) ([]byte, error) {
	if err := checkXattrName(name); err != nil {
		return nil, err
	}
	fd, err := n.xattrFD()
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	buf := make([]byte, linux.XATTR_SIZE_MAX)
	m, err := unix.Fgetxattr(fd, name, buf)
	if err != nil {
		return nil, err
	}
	return buf[:m], nil
}

// SetXattr implements lisafs.ControlFD.SetXattr.
func (n *node) SetXattr(name string, value []byte, flags uint32) error {
	if err := n.writable(); err != nil {
		return err
	}
	if flags&^(linux.XATTR_CREATE|linux.XATTR_REPLACE) != 0 {
		return linux.EINVAL
	}
	if err := checkXattrName(name); err != nil {
		return err
	}
	fd, err := n.xattrFD()
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Fsetxattr(fd, name, value, int(flags))
}

// ListXattr implements lisafs.ControlFD.ListXattr: the user.* names only.
func (n *node) ListXattr() ([]string, error) {
	fd, err := n.xattrFD()
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	buf := make([]byte, linux.XATTR_LIST_MAX)
	m, err := unix.Flistxattr(fd, buf)
	if err != nil {
		return nil, err
	}
	var names []string
	for name := range bytes.SplitSeq(buf[:m], []byte{0}) {
		if s := string(name); strings.HasPrefix(s, linux.XATTR_USER_PREFIX) {
			names = append(names, s)
		}
	}
	return names, nil
}

// RemoveXattr implements lisafs.ControlFD.RemoveXattr.
func (n *node) RemoveXattr(name string) error {
	if err := n.writable(); err != nil {
		return err
	}
	if err := checkXattrName(name); err != nil {
		return err
	}
	fd, err := n.xattrFD()
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Fremovexattr(fd, name)
}
