package auth

import (
	"slices"

	"visor.dev/visor/pkg/abi/linux"
)

// Credentials is the identity a task acts with (struct cred in Linux).
//
// A Credentials is immutable once a task uses it; see the package comment.
type Credentials struct {
	// Real, effective, saved-set and filesystem user and group IDs. Permission
	// checks on files use the filesystem IDs, which follow the effective IDs unless
	// setfsuid(2)/setfsgid(2) changed them.
	RealKUID      KUID
	EffectiveKUID KUID
	SavedKUID     KUID
	FSKUID        KUID
	RealKGID      KGID
	EffectiveKGID KGID
	SavedKGID     KGID
	FSKGID        KGID

	// ExtraKGIDs are the supplementary groups.
	ExtraKGIDs []KGID

	// Capability sets.
	PermittedCaps   CapabilitySet
	InheritableCaps CapabilitySet
	EffectiveCaps   CapabilitySet
	BoundingCaps    CapabilitySet
	AmbientCaps     CapabilitySet

	// KeepCaps is PR_SET_KEEPCAPS: keep permitted capabilities across a change
	// of every UID away from 0.
	KeepCaps bool

	// UserNamespace is the namespace the credentials' IDs and capabilities are
	// relative to.
	UserNamespace *UserNamespace
}

// NewRootCredentials returns credentials of root with every capability, in ns.
func NewRootCredentials(ns *UserNamespace) *Credentials {
	return &Credentials{
		RealKUID:      RootKUID,
		EffectiveKUID: RootKUID,
		SavedKUID:     RootKUID,
		FSKUID:        RootKUID,
		RealKGID:      RootKGID,
		EffectiveKGID: RootKGID,
		SavedKGID:     RootKGID,
		FSKGID:        RootKGID,
		PermittedCaps: AllCapabilities,
		EffectiveCaps: AllCapabilities,
		BoundingCaps:  AllCapabilities,
		UserNamespace: ns,
	}
}

// NewUserCredentials returns credentials of the user kuid with primary group kgid and
// supplementary groups extraKGIDs, in ns. caps nil means the capabilities execve(2)
// would give: every capability for root, none for anyone else.
func NewUserCredentials(kuid KUID, kgid KGID, extraKGIDs []KGID, caps *TaskCapabilities, ns *UserNamespace) *Credentials {
	c := NewRootCredentials(ns)
	c.RealKUID, c.EffectiveKUID, c.SavedKUID, c.FSKUID = kuid, kuid, kuid, kuid
	c.RealKGID, c.EffectiveKGID, c.SavedKGID, c.FSKGID = kgid, kgid, kgid, kgid
	c.ExtraKGIDs = slices.Clone(extraKGIDs)
	switch {
	case caps != nil:
		c.PermittedCaps = caps.Permitted
		c.InheritableCaps = caps.Inheritable
		c.EffectiveCaps = caps.Effective
		c.BoundingCaps = caps.Bounding
		c.AmbientCaps = caps.Ambient
	case kuid != RootKUID:
		c.PermittedCaps, c.EffectiveCaps = 0, 0
	}
	return c
}

// Fork returns a copy of c that the caller may change before publishing it.
func (c *Credentials) Fork() *Credentials {
	nc := *c
	nc.ExtraKGIDs = slices.Clone(c.ExtraKGIDs)
	return &nc
}

// InGroup reports whether c is a member of kgid: its filesystem group or one of its
// supplementary groups (in_group_p).
func (c *Credentials) InGroup(kgid KGID) bool {
	return c.FSKGID == kgid || slices.Contains(c.ExtraKGIDs, kgid)
}

// HasCapability reports whether c holds cp in its effective set. With a single user
// namespace, that is the only question; nested namespaces will add the rule that a
// namespace's owner holds every capability in it.
func (c *Credentials) HasCapability(cp int) bool {
	return c.EffectiveCaps.Has(cp)
}

// UseUID returns the kernel ID of uid as chown(2)-style callers name it, failing
// with EINVAL if it has no mapping in c's namespace.
func (c *Credentials) UseUID(uid UID) (KUID, error) {
	kuid := c.UserNamespace.MapToKUID(uid)
	if !kuid.Ok() {
		return NoKUID, linux.EINVAL
	}
	return kuid, nil
}

// UseGID is UseUID for groups.
func (c *Credentials) UseGID(gid GID) (KGID, error) {
	kgid := c.UserNamespace.MapToKGID(gid)
	if !kgid.Ok() {
		return NoKGID, linux.EINVAL
	}
	return kgid, nil
}
