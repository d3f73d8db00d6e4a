package linux

// Filesystem magic numbers reported in statfs's f_type, from <linux/magic.h>.
const (
	TMPFS_MAGIC         = 0x01021994
	PIPEFS_MAGIC        = 0x50495045
	SOCKFS_MAGIC        = 0x534f434b
	ANON_INODE_FS_MAGIC = 0x09041934
	PROC_SUPER_MAGIC    = 0x9fa0
	SYSFS_MAGIC         = 0x62656572
	DEVPTS_SUPER_MAGIC  = 0x1cd1
)
