package mm

// IncUsers adds a task that uses mm (clone with CLONE_VM).
func (mm *MemoryManager) IncUsers() { mm.users.Add(1) }

// DecUsers drops a task that used mm; the last one releases the address space.
func (mm *MemoryManager) DecUsers() {
	if mm.users.Add(-1) == 0 {
		mm.Release()
	}
}
