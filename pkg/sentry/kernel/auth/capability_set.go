package auth

import "visor.dev/visor/pkg/abi/linux"

// A CapabilitySet is a set of capabilities, one bit per CAP_* number.
type CapabilitySet uint64

// AllCapabilities holds every capability the kernel knows.
const AllCapabilities CapabilitySet = 1<<(linux.CAP_LAST_CAP+1) - 1

// CapabilitySetOf returns the set holding only cp.
func CapabilitySetOf(cp int) CapabilitySet { return CapabilitySet(1) << uint(cp) }

// CapabilitySetOfMany returns the set holding each of cps.
func CapabilitySetOfMany(cps ...int) CapabilitySet {
	var cs CapabilitySet
	for _, cp := range cps {
		cs |= CapabilitySetOf(cp)
	}
	return cs
}

// Has reports whether cs holds cp.
func (cs CapabilitySet) Has(cp int) bool { return cs&CapabilitySetOf(cp) != 0 }

// TaskCapabilities are the five capability sets of a task.
type TaskCapabilities struct {
	Permitted   CapabilitySet
	Inheritable CapabilitySet
	Effective   CapabilitySet
	Bounding    CapabilitySet
	Ambient     CapabilitySet
}
