package linux

// Limits from <linux/limits.h>.
const (
	NAME_MAX       = 255
	PATH_MAX       = 4096
	XATTR_NAME_MAX = 255
	XATTR_SIZE_MAX = 65536
	XATTR_LIST_MAX = 65536
)
