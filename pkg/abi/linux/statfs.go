package linux

// Statfs is struct statfs as amd64 lays it out, from <asm-generic/statfs.h>.
type Statfs struct {
	// Type is the filesystem's magic number.
	Type uint64
	// BlockSize is the optimal transfer block size (f_bsize).
	BlockSize int64
	// Blocks is the total number of data blocks, in units of FragmentSize.
	Blocks uint64
	// BlocksFree is the number of free blocks.
	BlocksFree uint64
	// BlocksAvailable is the number of free blocks an unprivileged user may use.
	BlocksAvailable uint64
	// Files is the total number of inodes.
	Files uint64
	// FilesFree is the number of free inodes.
	FilesFree uint64
	// FSID is the filesystem ID.
	FSID [2]int32
	// NameLength is the longest file name the filesystem supports.
	NameLength uint64
	// FragmentSize is f_frsize.
	FragmentSize int64
	// Flags are the ST_* mount flags.
	Flags uint64
	// Spare is reserved.
	Spare [4]uint64
}

// Flags of Statfs.Flags, from <linux/statfs.h>.
const (
	ST_RDONLY      = 0x0001
	ST_NOSUID      = 0x0002
	ST_NODEV       = 0x0004
	ST_NOEXEC      = 0x0008
	ST_SYNCHRONOUS = 0x0010
	ST_NOATIME     = 0x0400
	ST_NODIRATIME  = 0x0800
	ST_RELATIME    = 0x1000
)
