package auth

import "visor.dev/visor/pkg/abi/linux"

// AccessTypes is a set of the access kinds a permission check asks for, with the
// values of MAY_EXEC, MAY_WRITE and MAY_READ (and of access(2)'s X_OK, W_OK, R_OK).
type AccessTypes uint16

// Access kinds.
const (
	MayExec  AccessTypes = 1
	MayWrite AccessTypes = 2
	MayRead  AccessTypes = 4
)

// MayReadWrite is read and write access.
const MayReadWrite = MayRead | MayWrite

// OnlyRead reports whether ats is read access alone.
func (ats AccessTypes) OnlyRead() bool { return ats == MayRead }

// MayRead reports whether ats includes read access.
func (ats AccessTypes) MayRead() bool { return ats&MayRead != 0 }

// MayWrite reports whether ats includes write access.
func (ats AccessTypes) MayWrite() bool { return ats&MayWrite != 0 }

// MayExec reports whether ats includes execute (or, for a directory, search) access.
func (ats AccessTypes) MayExec() bool { return ats&MayExec != 0 }

// CheckPermission reports whether creds may access a file of the given mode (type
// and permission bits, as in st_mode), owner and group in the ways ats asks for,
// following Linux's generic_permission: the owner, group or other bits apply, then
// CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH may override them. It fails with EACCES.
//
// Capabilities only count when the file's owner and group are mapped in creds's
// user namespace; with a single namespace they always are.
func CheckPermission(creds *Credentials, mode uint16, kuid KUID, kgid KGID, ats AccessTypes) error {
	perms := AccessTypes(mode & 0o7)
	if creds.FSKUID == kuid {
		perms = AccessTypes(mode>>6) & 0o7
	} else if creds.InGroup(kgid) {
		perms = AccessTypes(mode>>3) & 0o7
	}
	if ats&perms == ats {
		return nil
	}

	isDir := mode&linux.S_IFMT == linux.S_IFDIR
	if creds.HasCapability(linux.CAP_DAC_OVERRIDE) {
		// Directories may always be read, written and searched. Other files may
		// be read and written, and executed only if someone may execute them.
		if isDir || !ats.MayExec() || mode&0o111 != 0 {
			return nil
		}
	}
	if creds.HasCapability(linux.CAP_DAC_READ_SEARCH) {
		if ats.OnlyRead() || (isDir && ats&MayWrite == 0) {
			return nil
		}
	}
	return linux.EACCES
}

// CanActAsOwner reports whether creds may do what only a file's owner may (chmod,
// utimes with explicit times, setting most xattrs): it is the owner, or holds
// CAP_FOWNER (inode_owner_or_capable).
func CanActAsOwner(creds *Credentials, kuid KUID) bool {
	return creds.FSKUID == kuid || creds.HasCapability(linux.CAP_FOWNER)
}
