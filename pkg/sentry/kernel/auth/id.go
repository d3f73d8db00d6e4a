package auth

// UID is a user ID as a user namespace presents it to its tasks.
type UID uint32

// GID is a group ID as a user namespace presents it to its tasks.
type GID uint32

// KUID is a user ID in the root user namespace: the kernel's own view, the one files
// and credentials store. Until user namespaces map IDs, a KUID equals its UID.
type KUID uint32

// KGID is a group ID in the root user namespace.
type KGID uint32

const (
	// NoID is (uid_t)-1: "no ID", or "leave unchanged" in chown(2) and setresuid(2).
	NoID = 0xffffffff

	// OverflowUID and OverflowGID are what an ID that has no mapping in a
	// namespace reads as (/proc/sys/kernel/overflowuid).
	OverflowUID = UID(65534)
	OverflowGID = GID(65534)

	// RootKUID and RootKGID are the root user and group.
	RootKUID = KUID(0)
	RootKGID = KGID(0)

	// NoKUID and NoKGID are NoID as kernel IDs.
	NoKUID = KUID(NoID)
	NoKGID = KGID(NoID)
)

// Ok reports whether uid is a real ID rather than NoKUID.
func (uid KUID) Ok() bool { return uid != NoKUID }

// Ok reports whether gid is a real ID rather than NoKGID.
func (gid KGID) Ok() bool { return gid != NoKGID }

// UserNamespace is a user namespace. Visor has a single, identity-mapped one for now;
// the type exists so that credentials, files and capability checks already name the
// namespace they are relative to.
type UserNamespace struct{}

// NewRootUserNamespace returns a new root user namespace.
func NewRootUserNamespace() *UserNamespace { return &UserNamespace{} }

// MapToKUID returns the kernel ID of uid as ns sees it, or NoKUID if it has none.
func (ns *UserNamespace) MapToKUID(uid UID) KUID {
	if uint32(uid) == NoID {
		return NoKUID
	}
	return KUID(uid)
}

// MapToKGID returns the kernel ID of gid as ns sees it, or NoKGID if it has none.
func (ns *UserNamespace) MapToKGID(gid GID) KGID {
	if uint32(gid) == NoID {
		return NoKGID
	}
	return KGID(gid)
}

// MapFromKUID returns kuid as ns presents it, or OverflowUID if it is unmapped.
func (ns *UserNamespace) MapFromKUID(kuid KUID) UID {
	if !kuid.Ok() {
		return OverflowUID
	}
	return UID(kuid)
}

// MapFromKGID returns kgid as ns presents it, or OverflowGID if it is unmapped.
func (ns *UserNamespace) MapFromKGID(kgid KGID) GID {
	if !kgid.Ok() {
		return OverflowGID
	}
	return GID(kgid)
}
