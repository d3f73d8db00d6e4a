package linux

// Flags of mount(2), from <linux/mount.h>.
const (
	MS_RDONLY      = 1 << 0
	MS_NOSUID      = 1 << 1
	MS_NODEV       = 1 << 2
	MS_NOEXEC      = 1 << 3
	MS_SYNCHRONOUS = 1 << 4
	MS_REMOUNT     = 1 << 5
	MS_MANDLOCK    = 1 << 6
	MS_DIRSYNC     = 1 << 7
	MS_NOSYMFOLLOW = 1 << 8
	MS_NOATIME     = 1 << 10
	MS_NODIRATIME  = 1 << 11
	MS_BIND        = 1 << 12
	MS_MOVE        = 1 << 13
	MS_REC         = 1 << 14
	MS_SILENT      = 1 << 15
	MS_POSIXACL    = 1 << 16
	MS_UNBINDABLE  = 1 << 17
	MS_PRIVATE     = 1 << 18
	MS_SLAVE       = 1 << 19
	MS_SHARED      = 1 << 20
	MS_RELATIME    = 1 << 21
	MS_KERNMOUNT   = 1 << 22
	MS_I_VERSION   = 1 << 23
	MS_STRICTATIME = 1 << 24
	MS_LAZYTIME    = 1 << 25
)

// Flags of umount2(2), from <linux/fs.h> (the kernel keeps them beside MS_*).
const (
	MNT_FORCE       = 1
	MNT_DETACH      = 2
	MNT_EXPIRE      = 4
	UMOUNT_NOFOLLOW = 8
)
