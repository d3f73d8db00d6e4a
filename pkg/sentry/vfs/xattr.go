package vfs

import (
	"strings"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/kernel/auth"
)

// Extended attribute namespaces, from <linux/xattr.h>.
const (
	XattrSecurityPrefix = "security."
	XattrSystemPrefix   = "system."
	XattrTrustedPrefix  = "trusted."
	XattrUserPrefix     = linux.XATTR_USER_PREFIX
)

// checkXattrName checks an attribute name's length: ERANGE if empty or longer than
// XATTR_NAME_MAX.
func checkXattrName(name string) error {
	if name == "" || len(name) > linux.XATTR_NAME_MAX {
		return linux.ERANGE
	}
	return nil
}

// checkSetXattr checks setxattr(2)'s arguments.
func checkSetXattr(opts *SetXattrOptions) error {
	if err := checkXattrName(opts.Name); err != nil {
		return err
	}
	if len(opts.Value) > linux.XATTR_SIZE_MAX {
		return linux.E2BIG
	}
	// Both flags together are valid (fs/xattr.c rejects only unknown bits): the
	// filesystem then fails with EEXIST if the attribute exists, ENODATA if not.
	if opts.Flags&^(linux.XATTR_CREATE|linux.XATTR_REPLACE) != 0 {
		return linux.EINVAL
	}
	return nil
}

// CheckXattrPermissions checks whether creds may access (ats: MayRead to get or
// list, MayWrite to set or remove) the attribute name of a file of the given mode and
// owner (xattr_permission):
//
//   - trusted.* needs CAP_SYS_ADMIN (EPERM);
//   - user.* exists only on regular files and directories (EPERM to write
//     elsewhere, ENODATA to read), may be written in a sticky directory only by its
//     owner or with CAP_FOWNER, and otherwise needs the file's read or write
//     permission;
//   - other namespaces are not supported (EOPNOTSUPP).
func CheckXattrPermissions(creds *auth.Credentials, ats auth.AccessTypes, mode uint16, kuid auth.KUID, kgid auth.KGID, name string) error {
	switch {
	case strings.HasPrefix(name, XattrTrustedPrefix):
		if !creds.HasCapability(linux.CAP_SYS_ADMIN) {
			return linux.EPERM
		}
		return nil
	case strings.HasPrefix(name, XattrUserPrefix):
		switch mode & linux.S_IFMT {
		case linux.S_IFREG:
		case linux.S_IFDIR:
			if ats.MayWrite() && mode&linux.S_ISVTX != 0 && !auth.CanActAsOwner(creds, kuid) {
				return linux.EPERM
			}
		default:
			if ats.MayWrite() {
				return linux.EPERM
			}
			return linux.ENODATA
		}
		return auth.CheckPermission(creds, mode, kuid, kgid, ats)
	}
	return linux.EOPNOTSUPP
}

// XattrVisible reports whether listxattr(2) by creds shows the attribute name:
// trusted.* only to CAP_SYS_ADMIN.
func XattrVisible(creds *auth.Credentials, name string) bool {
	return !strings.HasPrefix(name, XattrTrustedPrefix) || creds.HasCapability(linux.CAP_SYS_ADMIN)
}
