package linux

// Flags of setxattr(2) and the user namespace's prefix, from <linux/xattr.h>.
const (
	XATTR_CREATE  = 0x1
	XATTR_REPLACE = 0x2

	XATTR_USER_PREFIX = "user."
)
