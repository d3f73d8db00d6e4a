package linux

// Commands and flags of fcntl(2), from <asm-generic/fcntl.h> and <linux/fcntl.h>.
const (
	F_DUPFD         = 0
	F_GETFD         = 1
	F_SETFD         = 2
	F_GETFL         = 3
	F_SETFL         = 4
	F_GETLK         = 5
	F_SETLK         = 6
	F_SETLKW        = 7
	F_SETOWN        = 8
	F_GETOWN        = 9
	F_SETSIG        = 10
	F_GETSIG        = 11
	F_SETOWN_EX     = 15
	F_GETOWN_EX     = 16
	F_OFD_GETLK     = 36
	F_OFD_SETLK     = 37
	F_OFD_SETLKW    = 38
	F_SETLEASE      = 1024
	F_GETLEASE      = 1025
	F_NOTIFY        = 1026
	F_DUPFD_QUERY   = 1027
	F_DUPFD_CLOEXEC = 1030
	F_SETPIPE_SZ    = 1031
	F_GETPIPE_SZ    = 1032
	F_ADD_SEALS     = 1033
	F_GET_SEALS     = 1034

	FD_CLOEXEC = 1

	F_RDLCK = 0
	F_WRLCK = 1
	F_UNLCK = 2

	// O_ASYNC is FASYNC: signal-driven I/O.
	O_ASYNC = 0o20000
)

// Flock is struct flock as amd64 lays it out.
type Flock struct {
	Type   int16
	Whence int16
	_      int32
	Start  int64
	Len    int64
	PID    int32
	_      int32
}

// Operations of flock(2), from <asm-generic/fcntl.h>.
const (
	LOCK_SH = 1
	LOCK_EX = 2
	LOCK_NB = 4
	LOCK_UN = 8
)

// More flags of the *at(2) system calls, from <linux/fcntl.h>.
const (
	// AT_EACCESS makes faccessat check with the effective IDs.
	AT_EACCESS            = 0x200
	AT_NO_AUTOMOUNT       = 0x800
	AT_STATX_SYNC_TYPE    = 0x6000
	AT_STATX_SYNC_AS_STAT = 0x0000
	AT_STATX_FORCE_SYNC   = 0x2000
	AT_STATX_DONT_SYNC    = 0x4000
)

// STATX__RESERVED is the statx mask bit reserved for extending struct statx.
const STATX__RESERVED = 0x80000000

// SizeOfStatxBuffer is the size of struct statx user space passes to statx(2):
// the fields of Statx and room for later ones, which statx(2) zeroes.
const SizeOfStatxBuffer = 256

// Flags of close_range(2), from <linux/close_range.h>.
const (
	CLOSE_RANGE_UNSHARE = 1 << 1
	CLOSE_RANGE_CLOEXEC = 1 << 2
)

// OpenHow is struct open_how, openat2(2)'s argument.
type OpenHow struct {
	Flags   uint64
	Mode    uint64
	Resolve uint64
}

// SizeOfOpenHow is the size of the first version of struct open_how.
const SizeOfOpenHow = 24

// Flags of OpenHow.Resolve, from <linux/openat2.h>.
const (
	RESOLVE_NO_XDEV       = 0x01
	RESOLVE_NO_MAGICLINKS = 0x02
	RESOLVE_NO_SYMLINKS   = 0x04
	RESOLVE_BENEATH       = 0x08
	RESOLVE_IN_ROOT       = 0x10
	RESOLVE_CACHED        = 0x20
)

// Flags of preadv2(2) and pwritev2(2), from <linux/fs.h>.
const (
	RWF_HIPRI     = 0x01
	RWF_DSYNC     = 0x02
	RWF_SYNC      = 0x04
	RWF_NOWAIT    = 0x08
	RWF_APPEND    = 0x10
	RWF_NOAPPEND  = 0x20
	RWF_ATOMIC    = 0x40
	RWF_DONTCACHE = 0x80
)

// MAX_RW_COUNT is the most one read or write transfers (INT_MAX rounded down to a
// page), from <linux/fs.h>.
const MAX_RW_COUNT = 0x7ffff000

// UIO_MAXIOV is the most iovecs readv(2) and friends take, from <linux/uio.h>.
const UIO_MAXIOV = 1024

// Flags of sync_file_range(2), from <linux/fs.h>.
const (
	SYNC_FILE_RANGE_WAIT_BEFORE = 1
	SYNC_FILE_RANGE_WRITE       = 2
	SYNC_FILE_RANGE_WAIT_AFTER  = 4
)

// MLOCK_ONFAULT is mlock2(2)'s flag, from <asm-generic/mman-common.h>.
const MLOCK_ONFAULT = 0x01

// File ioctls, from <linux/fs.h> and <asm-generic/ioctls.h>.
const (
	FIBMAP   = 1
	FIGETBSZ = 2
	FIOQSIZE = 0x5460
)

// Stat is struct stat as amd64 lays it out (stat(2), fstat(2)).
type Stat struct {
	Dev     uint64
	Ino     uint64
	Nlink   uint64
	Mode    uint32
	UID     uint32
	GID     uint32
	_       int32
	Rdev    uint64
	Size    int64
	Blksize int64
	Blocks  int64
	ATime   Timespec
	MTime   Timespec
	CTime   Timespec
	_       [3]int64
}

// MakeDeviceID encodes a device number as stat(2)'s st_dev and st_rdev do
// (new_encode_dev).
func MakeDeviceID(major, minor uint32) uint64 {
	return uint64(minor&0xff) | uint64(major&0xfff)<<8 | uint64(minor&^0xff)<<12 | uint64(major&^0xfff)<<32
}

// DecodeDeviceID splits a device number as mknod(2) takes it (new_decode_dev).
func DecodeDeviceID(dev uint32) (major, minor uint32) {
	return (dev & 0xfff00) >> 8, (dev & 0xff) | ((dev >> 12) & 0xfff00)
}
