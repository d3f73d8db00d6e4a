package vfs

import (
	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/kernel/auth"
)

// MayReadFileWithOpenFlags reports whether a file opened with flags is readable.
func MayReadFileWithOpenFlags(flags uint32) bool {
	if flags&linux.O_PATH != 0 {
		return false
	}
	switch flags & linux.O_ACCMODE {
	case linux.O_RDONLY, linux.O_RDWR:
		return true
	}
	return false
}

// MayWriteFileWithOpenFlags reports whether a file opened with flags is writable.
func MayWriteFileWithOpenFlags(flags uint32) bool {
	if flags&linux.O_PATH != 0 {
		return false
	}
	switch flags & linux.O_ACCMODE {
	case linux.O_WRONLY, linux.O_RDWR:
		return true
	}
	return false
}

// AccessTypesForOpenFlags returns the access open(2) with opts checks for: read
// and write as the access mode says (both for the odd mode 3, which Linux allows for
// ioctl-only opens), and write for O_TRUNC.
func AccessTypesForOpenFlags(opts *OpenOptions) auth.AccessTypes {
	var ats auth.AccessTypes
	switch opts.Flags & linux.O_ACCMODE {
	case linux.O_RDONLY:
		ats = auth.MayRead
	case linux.O_WRONLY:
		ats = auth.MayWrite
	default:
		ats = auth.MayRead | auth.MayWrite
	}
	if opts.Flags&linux.O_TRUNC != 0 {
		ats |= auth.MayWrite
	}
	return ats
}

// CheckSetStat checks whether creds may make the changes opts asks for to a file of
// the given mode, owner and group (notify_change's and setattr_prepare's rules):
//
//   - size needs write permission when opts.NeedWritePerm is set, and a regular
//     file (EISDIR for directories, EINVAL otherwise);
//   - mode needs ownership or CAP_FOWNER;
//   - the owner can only be changed with CAP_CHOWN (or "changed" to itself);
//   - the group can be changed by the owner to one of its groups, or with
//     CAP_CHOWN;
//   - explicit times need ownership or CAP_FOWNER; setting both to now needs that
//     or write permission.
func CheckSetStat(creds *auth.Credentials, opts *SetStatOptions, mode uint16, kuid auth.KUID, kgid auth.KGID) error {
	stat := &opts.Stat
	if stat.Mask&^(linux.STATX_MODE|linux.STATX_UID|linux.STATX_GID|linux.STATX_SIZE|linux.STATX_ATIME|linux.STATX_MTIME) != 0 {
		return linux.EPERM
	}
	if stat.Mask&linux.STATX_SIZE != 0 {
		switch mode & linux.S_IFMT {
		case linux.S_IFREG:
		case linux.S_IFDIR:
			return linux.EISDIR
		default:
			return linux.EINVAL
		}
		if opts.NeedWritePerm {
			if err := auth.CheckPermission(creds, mode, kuid, kgid, auth.MayWrite); err != nil {
				return err
			}
		}
	}
	if stat.Mask&linux.STATX_MODE != 0 && !auth.CanActAsOwner(creds, kuid) {
		return linux.EPERM
	}
	if stat.Mask&linux.STATX_UID != 0 && !(creds.FSKUID == kuid && auth.KUID(stat.UID) == kuid) && !creds.HasCapability(linux.CAP_CHOWN) {
		return linux.EPERM
	}
	if stat.Mask&linux.STATX_GID != 0 {
		newGID := auth.KGID(stat.GID)
		isOwner := creds.FSKUID == kuid
		if !(isOwner && (newGID == kgid || creds.InGroup(newGID))) && !creds.HasCapability(linux.CAP_CHOWN) {
			return linux.EPERM
		}
	}
	if stat.Mask&(linux.STATX_ATIME|linux.STATX_MTIME) != 0 && !auth.CanActAsOwner(creds, kuid) {
		bothNow := stat.Mask&(linux.STATX_ATIME|linux.STATX_MTIME) == linux.STATX_ATIME|linux.STATX_MTIME &&
			stat.Atime.Nsec == linux.UTIME_NOW && stat.Mtime.Nsec == linux.UTIME_NOW
		if !bothNow {
			return linux.EPERM
		}
		if err := auth.CheckPermission(creds, mode, kuid, kgid, auth.MayWrite); err != nil {
			return err
		}
	}
	return nil
}

// CheckDeleteSticky checks whether creds may remove or replace a file owned by kuid
// from a directory of the given mode owned by dirKUID: in a sticky directory only the
// file's owner, the directory's owner or a holder of CAP_FOWNER may (EPERM).
func CheckDeleteSticky(creds *auth.Credentials, dirMode uint16, dirKUID, kuid auth.KUID) error {
	if dirMode&linux.S_ISVTX == 0 || creds.FSKUID == kuid || creds.FSKUID == dirKUID || creds.HasCapability(linux.CAP_FOWNER) {
		return nil
	}
	return linux.EPERM
}

// KillSetIDOnChange returns the mode a file keeps after its owner or group changes
// or an unprivileged write: set-user-ID goes, and set-group-ID too if the group may
// execute (otherwise it marks mandatory locking). Directories keep theirs.
func KillSetIDOnChange(mode uint16) uint16 {
	if mode&linux.S_IFMT == linux.S_IFDIR {
		return mode
	}
	mode &^= linux.S_ISUID
	if mode&(linux.S_ISGID|0o010) == linux.S_ISGID|0o010 {
		mode &^= linux.S_ISGID
	}
	return mode
}

// ModeForNewFile returns the mode and group of a file a creator with creds makes, of
// the given type and permissions, in a directory of mode dirMode and group dirKGID
// (inode_init_owner): in a set-group-ID directory the file takes the directory's
// group, and a new directory keeps set-group-ID; a non-directory loses set-group-ID
// if the creator is not in its group and lacks CAP_FSETID.
func ModeForNewFile(creds *auth.Credentials, mode uint16, dirMode uint16, dirKGID auth.KGID) (uint16, auth.KGID) {
	kgid := creds.FSKGID
	if dirMode&linux.S_ISGID != 0 {
		kgid = dirKGID
		if mode&linux.S_IFMT == linux.S_IFDIR {
			mode |= linux.S_ISGID
		}
	}
	if mode&linux.S_IFMT != linux.S_IFDIR && mode&(linux.S_ISGID|0o010) == linux.S_ISGID|0o010 &&
		!creds.InGroup(kgid) && !creds.HasCapability(linux.CAP_FSETID) {
		mode &^= linux.S_ISGID
	}
	return mode, kgid
}
